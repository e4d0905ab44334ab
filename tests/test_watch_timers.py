"""The timer probe: a timer still scheduled on a loop that outlives the block,
or still scheduled when the block closes a loop older than itself, and a
``threading.Timer`` neither fired nor cancelled, are leaks with the line that
scheduled them; a timer cancelled, run, on a loop the block made and closed,
held by a library's singleton as its loop closes, or serving a future
(``sleep``, ``wait_for``, ``asyncio.timeout``) is not."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterator

import pytest
from support import created_at, marker_line, of_kind
from support.loops import loop_id, loop_makers

import leakwatch

HERE = __file__


def tick() -> None:
    pass


@pytest.fixture(params=loop_makers(), ids=loop_id)
def loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    """A loop that outlives every block of the test."""
    made = request.param()
    yield made
    made.close()


def test_a_timer_left_scheduled_is_a_leak_at_its_line(loop: asyncio.AbstractEventLoop) -> None:
    with leakwatch.watch(on_leak="report", settle_budget=0.2) as w:
        handle = loop.call_later(30, tick)  # <- scheduled
    try:
        (leak,) = of_kind(w.report, "timer")
        assert created_at(leak) == (HERE, marker_line(HERE, "# <- scheduled"))
        assert "tick()" in leak.title and "never cancelled" in leak.title
        assert leak.details["callback"].endswith("tick")
        assert 25 < leak.details["due_in_seconds"] <= 30
        assert of_kind(w.report, "thread") == []
    finally:
        handle.cancel()


def test_call_at_is_a_timer_too(loop: asyncio.AbstractEventLoop) -> None:
    with leakwatch.watch(on_leak="report", settle_budget=0.2) as w:
        handle = loop.call_at(loop.time() + 30, tick)  # <- at
    handle.cancel()
    (leak,) = of_kind(w.report, "timer")
    assert created_at(leak) == (HERE, marker_line(HERE, "# <- at"))


def test_timers_cancelled_or_run_are_not_leaks(loop: asyncio.AbstractEventLoop) -> None:
    with leakwatch.watch(settle_budget=0.2):
        loop.call_later(30, tick).cancel()
    with leakwatch.watch(settle_budget=0.2):
        loop.call_later(0.001, tick)
        loop.run_until_complete(asyncio.sleep(0.05))  # it ran


@pytest.mark.leakwatch(allow=["timer"])  # the timers it drops on purpose
@pytest.mark.parametrize("make", loop_makers(), ids=loop_id)
def test_a_timer_still_scheduled_when_an_older_loop_closes_is_a_leak(
    make: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    # Closing the loop drops the timer, never run: gone when the block ends,
    # a leak all the same (a session server's loop closing as the last test
    # tears down), as a task still pending when its loop shuts down is.
    older = make()
    with leakwatch.watch(on_leak="report", settle_budget=0.2) as w:
        older.call_later(30, tick)  # <- dropped by close
        older.call_later(30, tick).cancel()  # the look-alike: cancelled first
        older.close()
    (leak,) = of_kind(w.report, "timer")
    assert created_at(leak) == (HERE, marker_line(HERE, "# <- dropped by close"))
    assert "still scheduled when its loop was closed" in leak.title and "tick()" in leak.title


@pytest.mark.parametrize("make", loop_makers(), ids=loop_id)
def test_a_loop_the_block_made_takes_its_timers_with_it(
    make: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    # The block's own loop (a test's, asyncio.run's): its timers never run
    # and hold nothing once it is closed.  Nor do a loop's closed before.
    with leakwatch.watch(settle_budget=0.2):
        own = make()
        own.call_later(30, tick)
        own.close()
    before = make()
    before.call_later(30, tick)
    before.close()
    with leakwatch.watch(settle_budget=0.2):
        pass


class _Service:
    """A library's service object, bound to a module global: its timer ends
    with the loop by design."""

    def __init__(self) -> None:
        self.handle: asyncio.TimerHandle | None = None


SERVICE = _Service()


def test_a_timer_a_module_singleton_holds_as_its_loop_closes_is_not_a_leak() -> None:
    other = asyncio.new_event_loop()
    with leakwatch.watch(on_leak="report", settle_budget=0.2) as w:
        SERVICE.handle = other.call_later(30, tick)
        other.close()
    SERVICE.handle = None
    assert of_kind(w.report, "timer") == []


def test_timers_that_serve_a_future_are_their_tasks_business(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def sleepy() -> None:
        await asyncio.sleep(0.01)

    async def waits() -> None:
        await asyncio.wait_for(sleepy(), 30)
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(30):
                await sleepy()

    with leakwatch.watch(settle_budget=0.2):
        loop.run_until_complete(waits())

    # A task left sleeping is the leak, reported as a task; its sleep's timer is not.
    with leakwatch.watch(on_leak="report", settle_budget=0.2) as w:
        task = loop.create_task(asyncio.sleep(30))
        loop.run_until_complete(asyncio.sleep(0))
    task.cancel()
    loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
    assert len(of_kind(w.report, "task")) == 1 and of_kind(w.report, "timer") == []


def test_a_timer_on_a_loop_another_thread_runs() -> None:
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, name="loop-runner")
    runner.start()
    try:
        # Due within the settle budget: it runs while leakwatch waits, no leak.
        with leakwatch.watch(settle_budget=2.0):
            loop.call_soon_threadsafe(loop.call_later, 0.05, tick)
        # Due long after: a leak, made in the loop's thread, at the line that asked.
        with leakwatch.watch(on_leak="report", settle_budget=0.2, kinds=["timer"]) as w:
            done = threading.Event()
            handles: list[asyncio.TimerHandle] = []

            def schedule() -> None:
                handles.append(loop.call_later(30, tick))  # <- in the loop's thread
                done.set()

            loop.call_soon_threadsafe(schedule)
            assert done.wait(10)
        (leak,) = of_kind(w.report, "timer")
        assert created_at(leak) == (HERE, marker_line(HERE, "# <- in the loop's thread"))
        loop.call_soon_threadsafe(handles[0].cancel)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(10)
        loop.close()


def test_a_threading_timer_not_cancelled_is_a_timer_with_its_interval() -> None:
    with leakwatch.watch(on_leak="report", settle_budget=0.2) as w:
        timer = threading.Timer(60, tick)
        timer.start()  # <- timer start
    timer.cancel()
    timer.join(10)
    (leak,) = of_kind(w.report, "timer")
    assert leak.details["interval_seconds"] == 60 and leak.details["scheduler"] == "threading.Timer"
    assert "threading.Timer(60 s)" in leak.title and "tick()" in leak.title
    assert created_at(leak) == (HERE, marker_line(HERE, "# <- timer start"))
    assert of_kind(w.report, "thread") == []  # one leftover, one verdict


def test_threading_timers_that_fire_or_are_cancelled_are_not_leaks() -> None:
    with leakwatch.watch(settle_budget=2.0):
        threading.Timer(0.05, tick).start()  # fires while leakwatch settles
    with leakwatch.watch(settle_budget=2.0):
        timer = threading.Timer(60, tick)
        timer.start()
        timer.cancel()


def test_a_fired_timer_stuck_in_its_function_is_still_reported() -> None:
    # The look-alike of a timer that fired: its function never returns, so
    # the timer never finishes; it must not vanish between the two probes.
    release = threading.Event()
    with leakwatch.watch(on_leak="report", settle_budget=0.3) as w:
        timer = threading.Timer(0.01, release.wait)
        timer.start()
    release.set()
    timer.join(10)
    assert len(of_kind(w.report, "timer")) == 1
