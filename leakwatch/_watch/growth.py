"""The repeat rule for ``check()``: warm up, then judge growth that never fades.

After ``warmup`` calls (caches, lazy imports, one-time init), ``repeat``
judged calls run with tracemalloc on.  After each, the interpreter's own
caches are cleared (as CPython's ``regrtest -R`` does) and a full gc pass
runs; a site is a leak when the memory it holds grew on *every* judged call.
The same rule applies to gc-tracked objects by type and to global state.
Resources (fds, threads, ...) that outlive the judged calls are leaks as in
``watch()``.

``gc.freeze()`` moves everything older than the judged calls out of the
collector's view, so the per-call gc passes and the object scans cost what
the calls allocated, not what the heap holds.

This module drives the calls and judges resources; heap, state and native
memory are judged by their growths (``leakwatch._probes.protocol.Growth``:
the heap's sites and object types in :mod:`leakwatch._probes.heap_growth`).
Must not change what the user's function returns or raises.
"""

from __future__ import annotations

import gc
import itertools
import math
import sys
import time
from collections.abc import Awaitable, Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

from leakwatch._base.model import Resource, group_resources
from leakwatch._engine.options import Options
from leakwatch._engine.watcher import Watcher
from leakwatch._probes import all_growths
from leakwatch._probes.protocol import Growth, untraced_first
from leakwatch._report.errors import internal_error_report
from leakwatch._report.report import Report

Step = Any  # "call", or the Watcher to stop (send back its report)


def clear_caches() -> None:
    """Empty the interpreter's own caches so refilling them is not growth."""
    sys._clear_type_cache()
    for module, func in (
        ("re", "purge"),
        ("struct", "_clearcache"),
        ("urllib.parse", "clear_cache"),
        ("linecache", "clearcache"),
    ):
        mod = sys.modules.get(module)
        fn = getattr(mod, func, None)
        if fn is not None:
            fn()
    typing = sys.modules.get("typing")
    for cleanup in getattr(typing, "_cleanups", ()):
        cleanup()


class _Samples:
    """What the judged calls left, sampled after each: allocated blocks (less
    what the sampling itself kept), and each growth's own samples (the heap's
    traces and new objects by type, global state, native memory)."""

    def __init__(self, growths: dict[str, Growth]) -> None:
        self.growths = list(growths.values())
        self.blocks: list[int] = []
        self.own_blocks = 0

    def begin(self) -> None:
        """Before the first judged call.  What runs no tracing starts first:
        on Pythons whose tracemalloc.stop() leaks every traceback recorded
        (see leakwatch._probes.heap), each stack leakwatch allocates through
        while tracing costs memory for good (state's snapshot: ~13 KiB per
        check)."""
        for growth in untraced_first(self.growths):
            growth.start()
            if growth.fills_caches:
                # Settle the caches its start filled before the first block
                # count, as after every call.
                clear_caches()
                gc.collect()
        self.blocks.append(sys.getallocatedblocks())

    def after_call(self) -> None:
        """After each judged call: caches cleared, a gc pass, then the samples."""
        clear_caches()
        gc.collect()
        for growth in self.growths:
            growth.measure()
        before_sampling = sys.getallocatedblocks()
        self.blocks.append(before_sampling - self.own_blocks)
        for growth in self.growths:
            growth.sample()
        gc.collect()  # sampling's own garbage goes now, not during the next call
        self.own_blocks += sys.getallocatedblocks() - before_sampling
        for growth in self.growths:
            growth.sampled()  # what leakwatch's own sampling kept is not the calls'

    def judge(self, repeat: int) -> Generator[Step, Any, list[Resource]]:
        """What grew, heap first; a growth that needs more calls yields them.
        Judged in the order they started: state asks tracemalloc about parts
        only a new entry holds before the heap stops tracing."""
        found: dict[int, list[Resource]] = {}
        for growth in untraced_first(self.growths):
            found[id(growth)] = yield from growth.judge(repeat, self.blocks)
        return [res for growth in self.growths for res in found[id(growth)]]

    def stop(self) -> None:
        for growth in self.growths:
            growth.stop()


def check_steps(options: Options, repeat: int, warmup: int) -> Generator[Step, Any, Report]:
    """Yields "call" (call the function once), then the Watcher to stop: send its report back."""
    if repeat < 2:
        raise ValueError("check() needs repeat >= 2 to see growth")
    for _ in range(max(0, warmup)):
        yield "call"
    watcher = Watcher(
        options.with_(kinds=tuple(k for k in options.kinds if k not in ("heap", "state")))
    )
    samples = _Samples(
        all_growths(
            options.kinds,
            repeated=True,
            depth=options.tracemalloc_depth,
            why_alive_budget=options.why_alive_budget if options.why_alive else None,
        )
    )
    clear_caches()
    gc.collect()
    froze = gc.isenabled() and gc.get_freeze_count() == 0
    watcher.start()
    try:
        if froze:
            gc.freeze()
        samples.begin()
        for _ in range(repeat):
            yield "call"
            samples.after_call()
        growth = yield from samples.judge(repeat)
    except BaseException:
        watcher.abort()  # the function raised: nothing to judge, hooks off
        raise
    finally:
        samples.stop()
        if froze:
            gc.unfreeze()
    report: Report = yield watcher
    watcher_leaks = report.leaks
    report.leaks = group_resources(growth) + watcher_leaks
    stats: dict[str, Any] = {"repeat": repeat, "warmup": warmup, "type_growth": {}}
    for each in samples.growths:
        stats.update(each.stats())
    report.stats.update(stats)
    # Native memory's notes before the heap's, as check() has always put them.
    report.notes += [note for each in reversed(samples.growths) for note in each.notes()]
    return report


def run_check(call: Callable[[], Any], options: Options, repeat: int, warmup: int) -> Report:
    """Drive :func:`check_steps` over ``call``: the function's own exceptions
    pass through; leakwatch's own failures become a warning and a report."""
    steps = check_steps(options, repeat, warmup)
    try:
        step: Any = _advance(steps, None)
        while not isinstance(step, Report):
            if step == "call":
                call()
                step = _advance(steps, None)
            else:
                step = _advance(steps, step.stop())
    finally:
        steps.close()
    return step


async def run_check_async(
    call: Callable[[], Awaitable[Any]], options: Options, repeat: int, warmup: int
) -> Report:
    """:func:`run_check` for a coroutine function, in the running loop.

    After each call, the tasks it started are given time to finish (within
    the settle budget) before anything is sampled: the documented "keep a set
    of background tasks" pattern holds each task only until it is done, and
    must not read as growth.  A task still running then is left to the task
    probe, and later calls only let the loop turn a few times for theirs.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    patience = options.settle_budget
    steps = check_steps(options, repeat, warmup)
    try:
        with _untimed(loop):
            step: Any = _advance(steps, None)
            while not isinstance(step, Report):
                if step == "call":
                    before = {id(t) for t in asyncio.all_tasks(loop)}
                    await call()
                    if not await _background_done(loop, before, patience):
                        patience = 0.0
                    step = _advance(steps, None)
                else:
                    step = _advance(steps, await step.stop_async())
    finally:
        steps.close()
    return step


async def _background_done(loop: Any, before: set[int], budget: float) -> bool:
    """Let the loop run until the tasks started since ``before`` are done; whether they are.

    Looks with backoff (a few bare turns first: most finish in one), and
    never touches the tasks themselves (no callbacks added, none cancelled).
    """
    import asyncio

    me = asyncio.current_task(loop)
    deadline = time.perf_counter() + budget
    for attempt in itertools.count():
        pending = [t for t in asyncio.all_tasks(loop) if id(t) not in before and t is not me]
        if not pending:
            return True
        left = deadline - time.perf_counter()
        if attempt >= 3 and left <= 0:
            return False
        await asyncio.sleep(0 if attempt < 3 else min(0.001 * 2 ** (attempt - 3), 0.05, left))
        del pending
    return False  # pragma: no cover - itertools.count() never ends


@contextmanager
def _untimed(loop: Any) -> Iterator[None]:
    """No slow-callback warnings from asyncio's debug mode while a check runs.

    Tracing, gc passes and cleared caches make every step of the check
    slower than it is (a ``create_task`` in debug mode formats its stack
    from cleared source caches, under tracemalloc): asyncio would log
    "Executing <Task ...> took 0.15 seconds" per call, and a log handler that
    keeps records (pytest's does) turned them into growth of a clean function.
    The threshold is put back when the check ends, unless the program changed it.
    """
    if not loop.get_debug():
        yield
        return
    threshold = loop.slow_callback_duration
    loop.slow_callback_duration = math.inf
    try:
        yield
    finally:
        if loop.slow_callback_duration == math.inf:
            loop.slow_callback_duration = threshold


def _advance(steps: Generator[Any, Any, Report], value: Any) -> Any:
    """The next step of a check, or its Report."""
    try:
        return steps.send(value)
    except StopIteration as done:
        return done.value
    except ValueError:
        raise  # a bad argument (repeat < 2) is the caller's to fix
    except Exception as exc:
        steps.close()

        return internal_error_report("check", exc)
