"""``check_async`` and the tasks a call leaves running: the documented "keep a set
of background tasks" pattern is clean; a set that only ever grows is a leak; a
task that never ends is a task leak.  And leakwatch's own sampling between calls
adds nothing to the log in asyncio debug mode."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest
from support import created_at, marker_line, of_kind

import leakwatch

BACKGROUND: set[asyncio.Task[bytes]] = set()
KEPT: set[asyncio.Task[bytes]] = set()


@pytest.fixture(autouse=True)
def empty_sets() -> Iterator[None]:
    try:
        yield
    finally:
        BACKGROUND.clear()
        KEPT.clear()


async def work() -> bytes:
    await asyncio.sleep(0.02)  # longer than a call: tasks pile up unless waited for
    return bytes(200)


async def fire_and_forget() -> None:
    # asyncio's documented pattern: keep a strong reference until the task is done.
    task = asyncio.create_task(work())
    BACKGROUND.add(task)
    task.add_done_callback(BACKGROUND.discard)


async def fire_and_keep() -> None:
    task = asyncio.create_task(work())  # <- grows: kept when done
    KEPT.add(task)  # never discarded


def test_background_tasks_kept_in_a_set_until_done_are_clean() -> None:
    report = asyncio.run(leakwatch.check_async(fire_and_forget, repeat=5, on_leak="report"))
    assert report.clean, str(report)
    assert not BACKGROUND  # every task the calls started has finished


def test_a_set_of_finished_tasks_that_only_grows_is_a_heap_leak() -> None:
    report = asyncio.run(leakwatch.check_async(fire_and_keep, repeat=5, on_leak="report"))
    heap = of_kind(report, "heap")
    assert heap, str(report)
    here = (__file__, marker_line(__file__, "# <- grows: kept when done"))
    # In debug mode (PYTHONDEVMODE) each task also keeps the stack it was made
    # at: more sites at the same line.  One of them is the tasks, held by KEPT.
    held = [leak.details.get("held_by") for leak in heap if created_at(leak) == here]
    assert any(str(chain).startswith(f"{__name__}.KEPT{{...}}") for chain in held), str(report)
    assert not of_kind(report, "task"), str(report)  # every task itself finished


async def never_ends() -> None:
    await asyncio.Event().wait()


async def start_forever() -> None:
    task = asyncio.create_task(never_ends())  # <- a task that never ends
    BACKGROUND.add(task)


def test_a_task_that_never_ends_is_still_a_task_leak() -> None:
    async def main() -> leakwatch.Report:
        try:
            return await leakwatch.check_async(
                start_forever, repeat=2, warmup=0, kinds=("task",), on_leak="report"
            )
        finally:
            for task in list(BACKGROUND):
                task.cancel()
            await asyncio.gather(*BACKGROUND, return_exceptions=True)

    report = asyncio.run(main())
    tasks = of_kind(report, "task")
    assert tasks, str(report)
    here = (__file__, marker_line(__file__, "# <- a task that never ends"))
    assert here in [created_at(leak) for leak in tasks], str(report)


def test_no_slow_callback_warning_for_leakwatchs_own_sampling(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under load (or on 3.12, whose gc and tracemalloc are slower here) the
    # sampling between calls can outlast slow_callback_duration: asyncio's debug
    # mode then logged one warning per call, pytest's handler kept each record,
    # and the records read as heap growth of a clean function.  Make the
    # sampling slow on purpose.
    from leakwatch._watch import growth as _growth

    clear = _growth.clear_caches

    def slow_clear() -> None:
        time.sleep(0.15)
        clear()

    monkeypatch.setattr(_growth, "clear_caches", slow_clear)

    async def quick() -> None:
        await asyncio.sleep(0)

    async def main() -> leakwatch.Report:
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = 0.1
        report = await leakwatch.check_async(quick, repeat=3, on_leak="report")
        assert loop.slow_callback_duration == 0.1  # the program's own setting, back
        return report

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        report = asyncio.run(main(), debug=True)
    slow = [r.getMessage() for r in caplog.records if "Executing" in r.getMessage()]
    assert slow == []
    assert report.clean, str(report)
