"""Settling: patient where waiting can help, within the budget the user gave."""

from __future__ import annotations

import os
import threading
import time

import leakwatch


def test_a_long_settle_budget_is_used_whole_not_cut_by_the_attempts() -> None:
    # A worker that releases its pipe 3 s after the block: within a 5 s budget.
    def release(r: int, w: int) -> None:
        time.sleep(3.0)
        os.close(r)
        os.close(w)

    with leakwatch.watch(on_leak="report", settle_budget=5.0) as patient:
        r, w = os.pipe()
        threading.Thread(target=release, args=(r, w), name="releaser").start()
    assert patient.report is not None
    assert patient.report.leaks == []


def test_what_waiting_cannot_release_is_still_reported_with_a_long_budget() -> None:
    keep: list[int] = []
    with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
        keep.extend(os.pipe())  # nobody will close these
    try:
        assert w.report is not None
        assert [leak.kind for leak in w.report.leaks] == ["fd"]
        assert w.report.leaks[0].count == 2
    finally:
        for fd in keep:
            os.close(fd)


def test_a_descriptor_a_helper_thread_closes_soon_after_is_not_a_leak() -> None:
    # The same look-alike with the default budget: the thread keeps settling patient.
    def release(fd: int) -> None:
        time.sleep(0.1)
        os.close(fd)

    with leakwatch.watch(on_leak="report") as w:
        fd = os.open(os.devnull, os.O_RDONLY)
        threading.Thread(target=release, args=(fd,)).start()
    assert w.report is not None
    assert w.report.leaks == []


def test_what_the_known_list_takes_out_is_not_waited_for_and_still_listed() -> None:
    # An idle pool worker that lives 10 s (anyio's, asyncio's executor): no
    # wait changes its verdict, so settling does not spend its budget on it.
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, name="asyncio_0", daemon=True)
    with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
        worker.start()
    try:
        assert w.report is not None
        assert w.report.leaks == []
        assert [leak.kind for leak in w.report.known] == ["thread"]
        assert w.report.stats["settle_attempts"] <= 2  # set aside after the first wait
    finally:
        stop.set()
        worker.join(5)
