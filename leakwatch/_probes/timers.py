"""Timers: asyncio timer handles still scheduled, and ``threading.Timer`` threads.

An asyncio timer (``loop.call_later``/``loop.call_at``) is seen through the
record its scheduling left (``records.timers``, kept only while a watch is
on), by weak reference.  It is a leftover while it is still scheduled on a
loop that is not closed: not cancelled, not yet run.  A timer still
scheduled when a loop older than the watch is closed is dropped, never run:
a leak all the same (a session server's loop closing in the last test's
teardown), told by :mod:`leakwatch._attribution.shutdowns` as the loop
closes and handed to the engine as departed (see
:mod:`leakwatch._probes.departures`).  A loop the watch made itself (a
test's own loop, ``asyncio.run``) takes its timers with it: they never run
and hold nothing once it is gone, so they are not leftovers.  A timer that wakes or
times out a future (``asyncio.sleep``, ``wait_for``, ``asyncio.timeout``) is
never recorded: the task awaiting it is the leftover, reported as a task.

A ``threading.Timer`` is a timer too, with its interval and function, while
it has neither fired nor been cancelled; the thread probe leaves it to this
one.

Like every probe, it lists and describes; it must not judge.
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from collections.abc import Hashable
from dataclasses import replace
from typing import Any

from leakwatch._attribution import recording as _recording
from leakwatch._attribution import records as _records
from leakwatch._attribution import shutdowns as _shutdowns
from leakwatch._attribution.asyncio_wrappers import callable_name, serves_a_future
from leakwatch._attribution.stacks import during_import, to_origin
from leakwatch._base.model import Resource
from leakwatch._base.pyversion import running_thread
from leakwatch._probes import departures as _departures
from leakwatch._probes import loop_timers as _loop_timers
from leakwatch._probes.departures import Casualties, Casualty
from leakwatch._probes.protocol import Probe, Snapshot
from leakwatch._probes.threads import INTERNAL_PREFIX, name_of, pending_timer

#: How often settling looks again at timers due within its budget.
_POLL = 0.005


def _loop_of(handle: Any) -> Any:
    loop = getattr(handle, "_loop", None)  # asyncio's handles say; uvloop's do not
    if loop is None:
        ref = _records.timer_loops.get(handle)
        loop = ref() if ref is not None else None
    return loop


def scheduled(handle: Any) -> bool:
    """Still to run: not cancelled, not run yet, on a loop that is not closed."""
    try:
        if handle.cancelled():
            return False
        loop = _loop_of(handle)
        if loop is None or loop.is_closed():
            return False
        flag = getattr(handle, "_scheduled", None)  # asyncio unsets it as the timer runs
        if flag is not None:
            return bool(flag)
        return bool(handle.when() > loop.time())  # uvloop: a timer that ran is not marked
    except Exception:  # a loop of another kind that answers differently: not ours to list
        return False


def pending_timer_threads() -> list[threading.Timer]:
    """``threading.Timer`` threads that have neither fired nor been cancelled
    (leakwatch's own aside: a heap mark's expiry)."""
    return [
        t
        for t in threading.enumerate()
        if pending_timer(t) and not name_of(t).startswith(INTERNAL_PREFIX)
    ]


class TimerProbe(Probe):
    kind = "timer"

    #: The debug pages' view: also every timer still scheduled on a live
    #: loop that was never recorded (:mod:`leakwatch._probes.loop_timers`);
    #: those that serve a future come last, marked.
    every_loop = False

    def __init__(self) -> None:
        #: What the last snapshot could not list (the pages show it).
        self.notes: list[str] = []
        self._threads: dict[int, str] = {}

    def snapshot(self) -> Snapshot:
        snap: dict[Hashable, Any] = {}
        # Most looks: no timer recorded at all.
        handles = _records.keys_of(_records.timers) if _records.timers else []
        for handle in handles:
            if scheduled(handle):
                snap[("call_at", id(handle))] = weakref.ref(handle)
        if self.every_loop:
            found = _loop_timers.scheduled_handles()
            self.notes, self._threads = found.notes, found.threads
            waking: dict[Hashable, Any] = {}
            for handle in found.handles:
                key = ("call_at", id(handle))
                if key in snap or not scheduled(handle):
                    continue
                serves = serves_a_future(handle._callback, handle._args)
                (waking if serves else snap)[key] = weakref.ref(handle)
            snap.update(waking)
        for t in pending_timer_threads():
            snap[("Timer", t.ident, id(t))] = weakref.ref(t)
        return snap

    def is_new(self, key: Hashable, value: Any, before: Snapshot) -> bool:
        return key not in before

    def settle(self, new: Snapshot, timeout: float) -> None:
        """Let what is due within ``timeout`` run: join a ``Timer`` thread; wait
        for a handle whose loop another thread runs.  A handle on a loop that
        is not running (or that this thread runs) cannot run while we wait."""
        deadline = time.monotonic() + timeout
        current = running_thread()
        events = sys.modules.get("asyncio.events")
        own_loop = events._get_running_loop() if events is not None else None
        for value in new.values():
            item = value()
            remaining = deadline - time.monotonic()
            if item is None or remaining <= 0:
                continue
            if isinstance(item, threading.Thread):
                if item is not current:
                    item.join(remaining)
                continue
            loop = _loop_of(item)
            try:
                if loop is own_loop or not loop.is_running():
                    continue
                if item.when() - loop.time() > remaining:
                    continue  # not due within the budget: waiting changes nothing
            except Exception:
                continue
            while scheduled(item) and time.monotonic() < deadline:
                time.sleep(_POLL)
            del item

    def describe(self, key: Hashable, value: Any, since: int) -> Resource:
        item = value()
        if item is None:
            return Resource("timer", key, "timer (ran or was cancelled while being described)")
        if isinstance(item, threading.Thread):
            return _describe_thread(key, item)
        rec = _records.timers.get(item)
        loop = _loop_of(item)
        function = getattr(item, "_callback", None)  # uvloop's handles do not say
        if rec is not None and rec.extra:
            callback = rec.extra
        else:
            callback = callable_name(function) if function is not None else "?"
        details: dict[str, Any] = {"callback": callback, "scheduler": "asyncio"}
        try:
            due = item.when() - loop.time()
            details["due_in_seconds"] = round(due, 3)
            state = "running" if loop.is_running() else "stopped"
        except Exception:
            due, state = None, "unknown"
        details["loop"] = state
        details["loop_id"] = f"{type(loop).__name__} at {id(loop):#x}"
        thread = self._threads.get(id(loop))
        if thread is not None:
            details["thread"] = thread
        when = f"due in {due:.3g} s" if due is not None and due >= 0 else "due, not yet run"
        where = f" in thread {thread!r}" if thread is not None else ""
        title = f"timer calling {callback}(), {when} on a {state} loop{where}"
        if rec is None and serves_a_future(function, getattr(item, "_args", ())):
            details["serves_future"] = True
            title += ", waking a future (asyncio.sleep, wait_for, timeout): see its task"
        elif rec is None:
            title += ", scheduled before leakwatch recorded: where is not known"
        else:
            title += ", never cancelled"
        origin = to_origin(rec.stack, rec.parent) if rec is not None else ()
        if rec is not None and during_import(rec.stack):
            details["benign"] = "scheduled while importing a module: one-time initialisation"
        del item, loop
        return Resource("timer", key, title, origin, details, group=callback)

    def creation(self, key: Hashable, value: Any, since: int) -> _records.Record | None:
        """When the timer was scheduled (or its thread started), and by which thread."""
        item = value()
        if item is None:
            return None
        table: Any = _records.threads if isinstance(item, threading.Thread) else _records.timers
        rec: _records.Record | None = table.get(item)
        return rec if rec is not None and rec.serial > since else None

    def recorded(self) -> list[_records.Record]:
        """Every record :meth:`creation` may return (a ``threading.Timer``'s is its thread's)."""
        return _records.values_of(_records.timers) + _records.values_of(_records.threads)

    def owner(self, key: Hashable, value: Any) -> Any:
        return value()

    def departed(self, since: int) -> list[Casualty]:
        """Timers scheduled since ``since`` still scheduled when their loop,
        older than ``since``, closed.  A loop made since (a test's own, closed
        as the test ends; ``asyncio.run`` in the block) takes its timers
        with it: they never run, and hold nothing once it is gone."""
        return [c for c in casualties.since(since) if c.loop_born <= since]


#: The last timers found still scheduled on a loop as it closed, while a watch was on.
casualties = Casualties("timer")


def _on_close(loop: Any) -> None:
    """A loop closes: the recorded timers still scheduled on it are dropped,
    never to run; each is described now and filed as a casualty."""
    lowest = _departures.lowest()
    known: list[tuple[Any, _records.Record]] = []
    for handle in list(_records.timers.keys()):
        rec = _records.timers.get(handle)
        if rec is None or rec.serial <= lowest or _loop_of(handle) is not loop:
            continue
        if scheduled(handle):
            known.append((handle, rec))
    if not known:
        return
    born = _records.loop_births.get(loop, 0)
    with _recording.quiet():
        probe = TimerProbe()
        ended = [(handle, rec, _dropped(probe, handle)) for handle, rec in known]
        held = casualties.holders_of(
            [(handle, (tuple(rec.stack[:4]), rec.extra), res) for handle, rec, res in ended]
        )
        for handle, rec, res in ended:
            if id(handle) not in held:  # else ended with its holder's loop by design
                casualties.add(Casualty(res.key, rec, res, born))


def _dropped(probe: TimerProbe, handle: Any) -> Resource:
    """A timer's description, as one dropped when its loop was closed."""
    res = probe.describe(("call_at", id(handle)), weakref.ref(handle), 0)
    callback = res.details.get("callback", "?")
    title = f"timer calling {callback}(), still scheduled when its loop was closed"
    details = {**res.details, "ended": "dropped when its loop was closed", "loop": "closed"}
    return replace(res, title=title, details=details)


_shutdowns.close_listeners.append(_on_close)


def _describe_thread(key: Hashable, timer: threading.Thread) -> Resource:
    function = getattr(timer, "function", None)
    name = callable_name(function)
    interval = getattr(timer, "interval", None)
    details: dict[str, Any] = {
        "callback": name,
        "interval_seconds": interval,
        "scheduler": "threading.Timer",
        "thread": timer.name,
        "daemon": timer.daemon,
    }
    every = f"{interval:g} s" if isinstance(interval, (int, float)) else "?"
    title = f"timer threading.Timer({every}) calling {name}(), never cancelled"
    rec = _records.threads.get(timer)
    origin = to_origin(rec.stack, rec.parent) if rec is not None else ()
    made = _records.thread_inits.get(timer)
    if made is not None and (rec is None or made.stack != rec.stack):
        details["constructed_at"] = [f.to_dict() for f in to_origin(made.stack, made.parent)]
    if rec is None:
        title += ", start not seen"
    return Resource("timer", key, title, origin, details, group=name)
