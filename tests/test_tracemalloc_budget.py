"""``check()`` and tracemalloc's leak at ``stop()`` (CPython gh-121390, before 3.12.5).

Where stopping leaks, leakwatch lets its stops cost a bounded amount, then keeps
tracemalloc running; growth is still judged exactly, against a sample taken at
each check's start.  Where it does not leak (or until the budget is spent),
tracemalloc is left as leakwatch found it."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest
from support import created_at, marker_line, of_kind

import leakwatch

GROWING: list[bytearray] = []


def grow() -> None:
    GROWING.append(bytearray(300))  # <- grows: kept tracing


def clean() -> None:
    data = [bytearray(64) for _ in range(20)]
    del data


@pytest.fixture
def leaky_stop(kept_tracing: None) -> Iterator[None]:
    """This Python as one whose tracemalloc.stop() leaks, with no budget left."""
    try:
        yield
    finally:
        GROWING.clear()


def test_check_leaves_tracemalloc_off_while_stops_are_within_budget() -> None:
    assert not tracemalloc.is_tracing()
    report = leakwatch.check(clean, repeat=3, kinds=("heap",), on_leak="report")
    assert report.clean, str(report)
    assert not tracemalloc.is_tracing()
    assert not any("kept running" in note for note in report.notes)


def test_past_the_budget_tracemalloc_is_kept_and_growth_is_still_found(leaky_stop: None) -> None:
    first = leakwatch.check(clean, repeat=3, kinds=("heap",), on_leak="report")
    assert first.clean, str(first)
    assert tracemalloc.is_tracing()  # the stop that would have leaked did not happen
    assert any("gh-121390" in note for note in first.notes), first.notes

    # Later checks run on the kept tracing: a clean one stays clean...
    again = leakwatch.check(clean, repeat=3, kinds=("heap",), on_leak="report")
    assert again.clean, str(again)
    # ...and a growing one is found at its line, as with a fresh start.
    grown = leakwatch.check(grow, repeat=4, kinds=("heap",), on_leak="report")
    here = (__file__, marker_line(__file__, "# <- grows: kept tracing"))
    assert here in [created_at(leak) for leak in of_kind(grown, "heap")], str(grown)
    assert tracemalloc.is_tracing()


def test_someone_stopping_the_kept_tracing_starts_it_afresh(leaky_stop: None) -> None:
    leakwatch.check(clean, repeat=2, kinds=("heap",), on_leak="report")
    assert tracemalloc.is_tracing()
    tracemalloc.stop()  # the program's own choice
    grown = leakwatch.check(grow, repeat=4, kinds=("heap",), on_leak="report")
    here = (__file__, marker_line(__file__, "# <- grows: kept tracing"))
    assert here in [created_at(leak) for leak in of_kind(grown, "heap")], str(grown)
