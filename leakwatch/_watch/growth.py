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

This module drives the calls and judges resources and state; the heap's
sites and object types are judged in :mod:`leakwatch._watch.heap_growth`.
Must not change what the user's function returns or raises.
"""

from __future__ import annotations

import gc
import itertools
import math
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

from leakwatch._base.model import Resource, group_resources
from leakwatch._engine.options import Options
from leakwatch._engine.watcher import Watcher
from leakwatch._native import growth_for
from leakwatch._probes import state
from leakwatch._probes.heap import (
    HeapTracker,
    Site,
    growing,
)
from leakwatch._report.errors import internal_error_report
from leakwatch._report.report import Report
from leakwatch._watch.heap_growth import _growing_types, _heap_leaks, _new_objects, _objects_at

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
    what the sampling itself kept), the heap's traces and new objects by type
    (``heap``), global state (``state``)."""

    def __init__(self, options: Options, heap: HeapTracker) -> None:
        self.track_heap = "heap" in options.kinds
        self.track_state = "state" in options.kinds
        self.heap = heap
        self.traces: list[Any] = []
        self.blocks: list[int] = []
        self.own_blocks = 0
        self.types: list[Counter[str]] = []
        self.site_types: dict[Site, Counter[str]] = {}
        self.states: list[Any] = []

    def begin(self, native: Any) -> None:
        """Before the first judged call.  State is read before tracing starts:
        on Pythons whose tracemalloc.stop() leaks every traceback recorded
        (see leakwatch._probes.heap), each stack leakwatch allocates through
        while tracing costs memory for good (this snapshot: ~13 KiB per
        check).  What needs no tracing is done outside it."""
        if self.track_state:
            self.states.append(state.snapshot())
        if self.track_heap:
            self.heap.start()
            # Sampling the traces at start (tracemalloc already running) fills
            # leakwatch's and the interpreter's caches: settle them before the
            # first block count, as after every call.
            clear_caches()
            gc.collect()
        if native is not None:
            native.start()
        self.blocks.append(sys.getallocatedblocks())

    def after_call(self, native: Any) -> None:
        """After each judged call: caches cleared, a gc pass, then the samples."""
        clear_caches()
        gc.collect()
        if native is not None:
            native.sample()
        before_sampling = sys.getallocatedblocks()
        self.blocks.append(before_sampling - self.own_blocks)
        if self.track_heap:
            self.traces.append(self.heap.sample())
            by_type, self.site_types = _new_objects()
            self.types.append(by_type)
        if self.track_state:
            self.states.append(state.snapshot())
        gc.collect()  # sampling's own garbage goes now, not during the next call
        self.own_blocks += sys.getallocatedblocks() - before_sampling
        if native is not None:
            native.sampled()  # what leakwatch's own sampling kept is not the calls'

    def judge(self, options: Options, repeat: int) -> tuple[list[Resource], list[Resource], Any]:
        """(heap leaks, state leaks, object types that grew beside them);
        tracing stops here.  Where the growing sites' objects are, and where
        new state entries were made, only tracemalloc knows; why-alive chains
        and culprits need no tracing and cost many times more under it (every
        allocation of the search would record a traceback): trace no longer
        than needed.  State first: it asks tracemalloc about parts only a new
        entry holds, which the objects gathered below would hold too."""
        grown = growing(self.traces, blocks=self.blocks) if self.track_heap else []
        state_growth = state.growing(self.states) if self.track_state else []
        sites = {site for site, _, _ in grown[:10]} if options.why_alive else set()
        held = _objects_at(sites) if sites else {}
        self.heap.stop()
        growth = _heap_leaks(grown, held, self.site_types, repeat, options)
        # Object types carry the same free-list caveat as sites: only shown
        # beside a confirmed heap leak.
        type_growth = _growing_types(self.types) if growth else {}
        return growth, state_growth, type_growth


def check_steps(options: Options, repeat: int, warmup: int) -> Generator[Step, Any, Report]:
    """Yields "call" (call the function once), then the Watcher to stop: send its report back."""
    if repeat < 2:
        raise ValueError("check() needs repeat >= 2 to see growth")
    for _ in range(max(0, warmup)):
        yield "call"
    watcher = Watcher(
        options.with_(kinds=tuple(k for k in options.kinds if k not in ("heap", "state")))
    )
    heap = HeapTracker(options.tracemalloc_depth)
    samples = _Samples(options, heap)
    native = growth_for(options)  # None unless "native" is asked for
    clear_caches()
    gc.collect()
    froze = gc.isenabled() and gc.get_freeze_count() == 0
    watcher.start()
    try:
        if froze:
            gc.freeze()
        samples.begin(native)
        for _ in range(repeat):
            yield "call"
            samples.after_call(native)
        growth, state_growth, type_growth = samples.judge(options, repeat)
        heap_note = heap.note
        native_growth = (yield from native.finish(repeat)) if native is not None else []
    except BaseException:
        watcher.abort()  # the function raised: nothing to judge, hooks off
        raise
    finally:
        heap.stop()
        if native is not None:
            native.close()
        if froze:
            gc.unfreeze()
    report: Report = yield watcher
    watcher_leaks = report.leaks
    report.leaks = group_resources(growth + state_growth + native_growth) + watcher_leaks
    report.notes += native.notes if native is not None else []
    report.stats.update({"repeat": repeat, "warmup": warmup, "type_growth": type_growth})
    if samples.track_heap and heap_note:
        report.notes.append(heap_note)
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
