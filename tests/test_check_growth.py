"""``leakwatch.check``: growth on every judged call is a leak; caches, lazy
imports and one-time set-up that fill once are not.  And a single ``watch()``
never fails on heap alone."""

from __future__ import annotations

import asyncio
import functools
import importlib
import itertools
import logging
import mimetypes
import re
import struct
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import created_at, marker_line, of_kind

import leakwatch

GROWING: list[bytearray] = []
ONCE: dict[int, str] = {}
_counter = itertools.count()


@pytest.fixture
def growing_list() -> Iterator[list[bytearray]]:
    try:
        yield GROWING
    finally:
        GROWING.clear()


def grow() -> None:
    GROWING.append(bytearray(100))  # <- grows: heap


def _heap(report: leakwatch.Report | None) -> list[leakwatch.Leak]:
    return of_kind(report, "heap")


# -- leaks -------------------------------------------------------------------------


def test_list_growing_every_call_is_a_heap_leak_at_the_append_line(
    growing_list: list[bytearray],
) -> None:
    report = leakwatch.check(grow, repeat=5, on_leak="report")
    heap = _heap(report)
    assert heap, str(report)
    here = (__file__, marker_line(__file__, "# <- grows: heap"))
    assert here in [created_at(leak) for leak in heap], str(report)
    leak = next(leak for leak in heap if created_at(leak) == here)
    assert leak.size is not None and leak.size >= 5 * 100
    assert leak.details["growth_per_call"] >= 100
    assert len(growing_list) == 6  # one warm-up and five judged calls


def test_growth_raises_by_default(growing_list: list[bytearray]) -> None:
    with pytest.raises(leakwatch.LeakError) as info:
        leakwatch.check(grow)
    assert _heap(info.value.report)


def test_sys_path_append_per_call_is_a_state_leak() -> None:
    added: list[str] = []

    def extend_path() -> None:
        entry = f"/nonexistent/lw-growth-{next(_counter)}"
        added.append(entry)
        sys.path.append(entry)

    try:
        report = leakwatch.check(extend_path, repeat=4, on_leak="report")
    finally:
        for entry in added:
            sys.path.remove(entry)
    state = of_kind(report, "state")
    assert [leak for leak in state if "sys.path" in leak.title], str(report)


def test_logging_handler_added_per_call_is_a_state_leak() -> None:
    logger = logging.getLogger("lw-tests.growth.handlers")

    def add_handler() -> None:
        logger.addHandler(logging.NullHandler())

    try:
        report = leakwatch.check(add_handler, repeat=4, on_leak="report")
    finally:
        for h in list(logger.handlers):
            logger.removeHandler(h)
        logging.Logger.manager.loggerDict.pop(logger.name, None)
    state = of_kind(report, "state")
    assert [leak for leak in state if "logging.handlers" in leak.title], str(report)


def test_check_async_finds_growth_in_a_coroutine_function(growing_list: list[bytearray]) -> None:
    async def agrow() -> None:
        await asyncio.sleep(0)
        GROWING.append(bytearray(100))  # <- grows: async heap

    report = asyncio.run(leakwatch.check_async(agrow, repeat=5, on_leak="report"))
    here = (__file__, marker_line(__file__, "# <- grows: async heap"))
    assert here in [created_at(leak) for leak in _heap(report)], str(report)


# -- one-time fills that must stay silent ------------------------------------------


@functools.lru_cache(maxsize=16)
def _cached(key: int) -> str:
    return f"value-{key}" * 4


def fill_bounded_lru_cache() -> None:
    base = next(_counter) * 32
    for key in range(base, base + 32):
        _cached(key)


def compile_new_pattern() -> None:
    assert re.compile(rf"lw-{next(_counter)}-\d+[a-z]*").match("nope") is None


def new_struct_format() -> None:
    n = next(_counter) % 90 + 1
    assert struct.calcsize(f"<{n}B") == n
    assert struct.Struct("<IH").size == 6


def guess_types() -> None:
    assert mimetypes.guess_type("report.json")[0] == "application/json"
    mimetypes.guess_type(f"file-{next(_counter)}.html")


def fetch_logger() -> None:
    logging.getLogger("lw-tests.fetched").debug("nothing")


def cyclic_garbage() -> None:
    a: dict[str, Any] = {"payload": bytearray(1000)}
    b: dict[str, Any] = {"a": a}
    a["b"] = b


def fill_once() -> None:
    if not ONCE:
        ONCE.update({i: str(i) * 10 for i in range(200)})


@pytest.mark.parametrize(
    "fn",
    [
        fill_bounded_lru_cache,
        compile_new_pattern,
        new_struct_format,
        guess_types,
        cyclic_garbage,
        fill_once,
    ],
)
def test_one_time_fills_are_silent(fn: Any) -> None:
    try:
        report = leakwatch.check(fn, repeat=5, on_leak="report")
        assert report.clean, str(report)
    finally:
        ONCE.clear()


def test_logger_fetched_every_call_is_silent() -> None:
    try:
        report = leakwatch.check(fetch_logger, repeat=5, on_leak="report")
        assert report.clean, str(report)
    finally:
        logging.Logger.manager.loggerDict.pop("lw-tests.fetched", None)


@pytest.mark.parametrize("warmup", [0, 1])
def test_lazy_import_on_first_call_is_silent(tmp_path: Path, warmup: int) -> None:
    name = f"lw_lazy_mod_{warmup}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            TABLE = [bytearray(64) for _ in range(100)]

            def lookup(i):
                return TABLE[i % len(TABLE)]
            """
        )
    )
    sys.path.insert(0, str(tmp_path))

    def use_lazily() -> None:
        mod = importlib.import_module(name)
        assert len(mod.lookup(3)) == 64

    try:
        report = leakwatch.check(use_lazily, repeat=5, warmup=warmup, on_leak="report")
        assert report.clean, str(report)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


def test_check_async_clean_coroutine_function_is_silent() -> None:
    async def clean() -> int:
        data = [bytearray(100) for _ in range(10)]
        await asyncio.sleep(0)
        return len(data)

    report = asyncio.run(leakwatch.check_async(clean, repeat=5, on_leak="report"))
    assert report.clean, str(report)


# -- a single watch() cannot tell a cache from a leak -------------------------------


def test_single_watch_around_heap_growth_does_not_fail(growing_list: list[bytearray]) -> None:
    with leakwatch.watch() as w:  # on_leak defaults to "raise"
        for _ in range(100):
            grow()
    assert w.report is not None and w.report.clean, str(w.report)
    assert _heap(w.report) == []


def test_single_watch_with_heap_kind_reports_retained_memory_as_information(
    growing_list: list[bytearray],
) -> None:
    with leakwatch.watch(kinds=("fd", "heap")) as w:
        for _ in range(100):
            grow()
    report = w.report
    assert report is not None and report.clean, str(report)
    info = of_kind(report, "heap", report.info)
    assert info, str(report)
    here = (__file__, marker_line(__file__, "# <- grows: heap"))
    assert here in [created_at(leak) for leak in info]
