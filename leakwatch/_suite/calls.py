"""The call phase: asyncio tasks as the test returns, and ``repeat=N``.

A test's tasks are judged by its span after teardown: what a function-scoped
fixture's teardown finishes (an async server's in-flight request tasks) is
not a leak, and what the loop's shutdown cancels is
(:mod:`leakwatch._attribution.shutdowns`).  As the test returns, inside its
loop, the tasks it left that no fixture holds are given the loop until they
end, within the settle budget: one that finishes a moment later is not
reported, and a fixture's in-flight tasks cost no wait.

``IsolatedAsyncioTestCase`` closes its loop inside the call, cancelling
what is left without asyncio's runner on Python 3.10: its tasks are still
judged inside the loop as the test method returns, and the span leaves them
out.

``repeat=N`` (the marker) makes the same wrapper call the test body N more
times after the real call, under the growth rule of :func:`leakwatch.check`:
heap, object counts and global state that grow on every judged call fail the
test.  Resources those calls leave behind are the span's to judge.

The wrapper is installed only for the call and only where it has work to do;
the test's own traceback hides it (``__tracebackhide__``).

Must not judge a test: the runner (pytest plugin, unittest result) does.
"""

from __future__ import annotations

import functools
import inspect
import time
import types
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from leakwatch._base.model import group_resources
from leakwatch._engine.options import Options
from leakwatch._probes.tasks import TaskProbe, owned_tasks
from leakwatch._report.errors import internal_error
from leakwatch._report.report import Report
from leakwatch._suite.spans import SpanWatcher
from leakwatch._watch.growth import run_check, run_check_async


@dataclass
class Plan:
    """What to do around one call: watch tasks (with these options), repeat."""

    tasks: Options | None = None
    growth: Options | None = None
    repeat: int = 0
    warmup: int = 0
    #: ``held(tasks) -> {id(task), ...}``: the tasks a fixture holds.  When
    #: set, tasks are not judged here: the ones the test left pending and no
    #: fixture holds are given the loop until they end (within the settle
    #: budget), and the test's span judges what is left after teardown.
    held: Callable[[list[Any]], set[int]] | None = None


@dataclass
class Found:
    """What the call phase found; plain data."""

    label: str | None = None
    tasks: Report | None = None
    task_keys: set[Hashable] = field(default_factory=set)
    growth: Report | None = None


#: A code object's flags that make a function a coroutine or async generator function.
_ASYNC_FLAGS = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def wanted(fn: Callable[..., Any], plan: Plan) -> bool:
    """Whether ``plan`` has work to do around ``fn`` (most tests: a plain
    function with no ``repeat``, none)."""
    if getattr(fn, "is_hypothesis_test", False):
        return False  # hypothesis drives its own inner test; leave it alone
    if (
        type(fn) is types.FunctionType
        and not fn.__code__.co_flags & _ASYNC_FLAGS
        and not hasattr(fn, "_is_coroutine_marker")  # inspect.markcoroutinefunction
    ):
        return bool(plan.repeat)  # most tests: a plain function, asked without inspect
    if inspect.iscoroutinefunction(fn):
        return plan.tasks is not None or bool(plan.repeat)
    return bool(plan.repeat) and not inspect.isasyncgenfunction(fn)


def wrap(fn: Callable[..., Any], plan: Plan, found: Found) -> Callable[..., Any] | None:
    """``fn`` wrapped to carry out ``plan``, or None when there is nothing to do."""
    if not wanted(fn, plan):
        return None
    if inspect.iscoroutinefunction(fn):
        return _wrap_async(fn, plan, found)
    return _wrap_sync(fn, plan, found)


def _wrap_sync(fn: Callable[..., Any], plan: Plan, found: Found) -> Callable[..., Any]:
    assert plan.growth is not None
    options = plan.growth

    @functools.wraps(fn)
    def leakwatch_call(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        result = fn(*args, **kwargs)
        found.growth = run_check(lambda: fn(*args, **kwargs), options, plan.repeat, plan.warmup)
        return result

    return leakwatch_call


def _wrap_async(fn: Callable[..., Any], plan: Plan, found: Found) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def leakwatch_call(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if not _in_asyncio():  # another async library (trio): no asyncio tasks to watch
            return await fn(*args, **kwargs)
        watcher = None
        before: dict[int, weakref.ref[Any]] = {}
        if plan.tasks is not None:
            # Taken here, inside the test's task, so the task running the
            # test (and a runner's own task) already exist and are not new.
            # With ``held``, the span judges after teardown: no watch here.
            if plan.held is None:
                watcher = SpanWatcher(plan.tasks, label=found.label, own="call")
                watcher.start()
            before = {id(t): weakref.ref(t) for t in owned_tasks()}
        try:
            result = await fn(*args, **kwargs)
        except BaseException:
            if watcher is not None:
                watcher.abort()
            raise
        if plan.tasks is not None:
            try:
                if watcher is None and plan.held is not None:
                    await _let_finish(before, plan.held, plan.tasks)
                elif watcher is not None:
                    found.tasks = await watcher.stop_async()
                    found.task_keys = watcher.judged.get("task", set())
            except Exception as exc:  # leakwatch failing must not fail the test
                if watcher is not None:
                    watcher.abort()
                internal_error("the task check", exc)
        if plan.repeat and plan.growth is not None:
            found.growth = await run_check_async(
                lambda: fn(*args, **kwargs), plan.growth, plan.repeat, plan.warmup
            )
        return result

    return leakwatch_call


async def _let_finish(
    before: dict[int, weakref.ref[Any]], held: Callable[[list[Any]], set[int]], options: Options
) -> None:
    """Give the tasks the test left pending the loop until they end or the
    settle budget runs out; judge none (the span does, after the fixtures'
    teardown).  No wait for what a fixture holds (its teardown ends it) nor
    for what the rules expect (a known library leak, an ignored task:
    anyio's process pool keeps a task for the loop's lifetime)."""
    import asyncio

    def new_pending() -> list[Any]:
        return [t for t in owned_tasks() if (r := before.get(id(t))) is None or r() is not t]

    # Callbacks scheduled by the test's last awaits, and I/O ready now: up to
    # three turns of the loop, fewer when nothing is left to run (each turn
    # takes a whole stack in asyncio's debug mode).
    for _ in range(3):
        await asyncio.sleep(0)
        if not _ready(asyncio.get_running_loop()) and not new_pending():
            return
    pending = new_pending()
    if not pending:
        return
    # The rules first: a fixture's world is a walk (anyio's process-pool
    # task, pending after every such test, cost one each time).
    unexpected = [t for t in pending if not _expected(t, options)]
    kept = held(unexpected) if unexpected else set()
    refs = [weakref.ref(t) for t in unexpected if id(t) not in kept]
    del pending, unexpected
    deadline = time.perf_counter() + options.settle_budget
    delay = 0.001
    while refs and time.perf_counter() < deadline:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
        refs = [r for r in refs if (t := r()) is not None and not t.done()]


def _ready(loop: Any) -> bool:
    """Whether ``loop`` has callbacks ready to run (True where it does not say: uvloop)."""
    ready = getattr(loop, "_ready", None)
    return ready is None or bool(ready)


def _expected(task: Any, options: Options) -> bool:
    """Whether the run's rules take this task out (known or ignored)."""
    expected = getattr(options.policy, "expected", None)
    if expected is None:
        return False
    try:
        res = TaskProbe().describe(id(task), weakref.ref(task), 0)
        return bool(expected(group_resources([res])[0]))
    except Exception:  # judged as usual by the span
        return False


def _in_asyncio() -> bool:
    """True inside a running asyncio loop.

    Asked apart from the await of the test: awaiting the test inside the
    ``except RuntimeError`` block would make every exception the test
    raises carry that RuntimeError as its ``__context__``.
    """
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
