"""The task probe: a task left pending is a leak, with the line that created
it; tasks that finish right after the block, the documented background-task
set, async generator finalisation, gather and asyncio.run() are not."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support import created_at, marker_line, of_kind

import leakwatch


async def forever() -> None:
    await asyncio.Event().wait()


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- leaks -------------------------------------------------------------------------


def test_pending_task_is_a_leak_with_its_origin_line() -> None:
    async def main() -> leakwatch.Report | None:
        task = None
        try:
            async with leakwatch.watch(on_leak="report") as w:
                task = asyncio.create_task(forever(), name="pending-forever")  # <- task: pending
            return w.report
        finally:
            await _cancel(task)

    report = asyncio.run(main())
    (leak,) = of_kind(report, "task")
    assert leak.count == 1
    assert "'pending-forever'" in leak.title
    assert "forever" in leak.title
    assert leak.details["coroutine"] == "forever"
    assert leak.details["loop"] == "running"
    assert created_at(leak) == (__file__, marker_line(__file__, "# <- task: pending"))
    # Where it is suspended now: inside forever(), awaiting the event.
    assert any(f["function"] == "forever" for f in leak.details["suspended_at"])


def test_raise_policy_fails_on_a_pending_task() -> None:
    async def main() -> None:
        task = None
        try:
            with pytest.raises(leakwatch.LeakError) as info:
                async with leakwatch.watch(on_leak="raise"):
                    task = asyncio.create_task(forever())
            assert of_kind(info.value.report, "task")
        finally:
            await _cancel(task)

    asyncio.run(main())


def test_task_on_a_loop_made_in_the_block_and_never_run_is_a_leak() -> None:
    loop = None
    task = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            loop = asyncio.new_event_loop()
            task = loop.create_task(forever(), name="never-run")
        (leak,) = of_kind(w.report, "task")
        assert "'never-run'" in leak.title
        assert leak.details["loop"] == "stopped"
        assert leak.origin
        # The loop's own selector and self-pipe are left open too.
        assert of_kind(w.report, "fd")
    finally:
        if loop is not None:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(task)
            loop.close()


# The task this test leaks on purpose is still pending when its loop is closed:
# the plugin watching this suite sees that too, and is right to.
@pytest.mark.leakwatch(allow=("task",))
def test_task_on_a_closed_loop_is_a_leak_that_says_it_never_finishes() -> None:
    task = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            loop = asyncio.new_event_loop()
            task = loop.create_task(forever(), name="orphaned")
            loop.close()
        (leak,) = of_kind(w.report, "task")
        assert "'orphaned'" in leak.title
        assert "closed" in leak.title
        assert leak.details["loop"] == "closed"
        assert of_kind(w.report, "fd") == [], "the loop was closed: its descriptors too"
    finally:
        if task is not None:
            # The task can never run now; retire it quietly (no public API for this).
            task.get_coro().close()
            task._log_destroy_pending = False  # type: ignore[attr-defined]


# -- look-alikes that must stay silent ---------------------------------------------


def test_task_finishing_right_after_the_block_is_silent() -> None:
    async def main() -> leakwatch.Report | None:
        async with leakwatch.watch(on_leak="report") as w:
            task = asyncio.create_task(asyncio.sleep(0.01))
        await task
        return w.report

    report = asyncio.run(main())
    assert report is not None and report.clean, str(report)


def test_background_task_set_pattern_is_silent() -> None:
    """The pattern the asyncio docs recommend for fire-and-forget tasks."""
    done: list[int] = []

    async def work(n: int) -> None:
        await asyncio.sleep(0)
        done.append(n)

    async def main() -> leakwatch.Report | None:
        background: set[asyncio.Task[None]] = set()
        async with leakwatch.watch(on_leak="report") as w:
            for n in range(5):
                t = asyncio.create_task(work(n))
                background.add(t)
                t.add_done_callback(background.discard)
        assert not background
        return w.report

    report = asyncio.run(main())
    assert sorted(done) == [0, 1, 2, 3, 4]
    assert report is not None and report.clean, str(report)


def test_async_generator_not_exhausted_and_finalised_is_silent() -> None:
    closed: list[bool] = []

    async def numbers() -> AsyncIterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.append(True)

    async def main() -> leakwatch.Report | None:
        async with leakwatch.watch(on_leak="report") as w:
            agen = numbers()
            assert await agen.__anext__() == 0
            assert await agen.__anext__() == 1
            del agen  # asyncio's finaliser schedules aclose() as a task
        return w.report

    report = asyncio.run(main())
    assert closed == [True]
    assert report is not None and report.clean, str(report)


def test_gather_of_completed_work_is_silent() -> None:
    async def double(n: int) -> int:
        await asyncio.sleep(0)
        return 2 * n

    async def main() -> leakwatch.Report | None:
        async with leakwatch.watch(on_leak="report") as w:
            assert await asyncio.gather(*(double(n) for n in range(4))) == [0, 2, 4, 6]
        return w.report

    report = asyncio.run(main())
    assert report is not None and report.clean, str(report)


def test_asyncio_run_inside_a_sync_watch_is_silent() -> None:
    async def main() -> int:
        await asyncio.sleep(0)
        return await asyncio.to_thread(abs, -3)

    with leakwatch.watch(on_leak="report") as w:
        assert asyncio.run(main()) == 3
    assert w.report is not None and w.report.clean, str(w.report)


def test_task_cancelled_and_awaited_in_the_block_is_silent() -> None:
    async def main() -> leakwatch.Report | None:
        async with leakwatch.watch(on_leak="report") as w:
            task = asyncio.create_task(forever())
            await asyncio.sleep(0)
            await _cancel(task)
        return w.report

    report = asyncio.run(main())
    assert report is not None and report.clean, str(report)


# -- tasks pending as their loop shuts down ----------------------------------------


class _Service:
    task: asyncio.Task[None] | None = None


SERVICE = _Service()


async def _start_service() -> None:
    SERVICE.task = asyncio.get_running_loop().create_task(forever())  # <- service


async def _start_and_drop() -> None:
    asyncio.get_running_loop().create_task(forever())  # <- dropped


@pytest.mark.leakwatch(allow=("task",))  # the tasks it leaves on purpose
def test_a_place_whose_task_no_global_held_is_searched_once_and_each_still_reported(
    scans: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Who held a task still pending as asyncio.run() shut its loop down is
    searched for in the heap; a place (the creating frames, the coroutine)
    where no module global held it is not searched again, and every later
    task made there is still a leak.  Beside it, a service's task kept by a
    module global's attribute ends with its loop by design, every time."""
    from leakwatch._probes import tasks

    monkeypatch.setattr(tasks.casualties, "_held_at", {})  # as in a fresh process
    monkeypatch.setattr(tasks.casualties, "_alone_at", {}, raising=False)
    found: list[tuple[int, list[int]]] = []
    for main in (_start_and_drop, _start_service) * 3:
        before = len(scans)
        with leakwatch.watch(kinds=["task"], on_leak="report") as w:
            asyncio.run(main())
        assert w.report is not None
        found.append((len(scans) - before, [created_at(leak)[1] for leak in w.report.leaks]))
    dropped = marker_line(__file__, "# <- dropped")
    searched = [n > 0 for n, _ in found]
    assert searched == [True, True, False, False, False, False], found
    assert [leaks for _, leaks in found] == [[dropped], []] * 3


@pytest.mark.leakwatch(allow=("task",))  # the tasks it leaves on purpose
def test_a_task_the_suites_rules_set_aside_is_filed_with_no_search_for_its_holder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A suite runner's rules (a known library leak, an ignore rule) are asked
    first: a task they set aside is not searched for in the wider fixtures'
    worlds nor the heap (each search a walk or a scan of it), and is filed
    all the same, to be judged by those rules; the task beside it, which
    they do not, is searched for in both."""
    from leakwatch._probes import departures, tasks

    monkeypatch.setattr(tasks.casualties, "_held_at", {})  # as in a fresh process
    monkeypatch.setattr(tasks.casualties, "_alone_at", {}, raising=False)
    monkeypatch.setattr(departures, "_expected", lambda res: "'pooled'" in res.title, raising=False)
    worlds: list[str] = []
    monkeypatch.setattr(
        departures, "_holders", lambda kind, objs: worlds.extend(o.get_name() for o in objs) or {}
    )
    asked: list[str] = []
    search = departures.singletons

    def spy(objs: list[Any]) -> dict[int, str]:
        asked.extend(obj.get_name() for obj in objs)
        return search(objs)

    monkeypatch.setattr(departures, "singletons", spy)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.create_task(forever(), name="pooled")  # noqa: RUF006 (left on purpose)
        loop.create_task(forever(), name="dropped")  # noqa: RUF006

    with leakwatch.watch(kinds=["task"], on_leak="report") as w:
        asyncio.run(main())
    assert w.report is not None
    assert asked == worlds == ["dropped"]
    names = sorted(leak.title.split("'")[1] for leak in w.report.leaks)
    assert names == ["dropped", "pooled"]  # this watch has no such rule: both leaks
