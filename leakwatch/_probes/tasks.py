"""Pending asyncio tasks, on any loop, by weak reference.

Creation sites come from the record ``loop.create_task`` leaves (see
``leakwatch._attribution.origins``), else from coroutine origin tracking (``cr_origin``),
which the engine turns on while a watch runs; where a task is suspended now comes from
walking its coroutine's ``cr_await`` chain.

A task belongs to its loop, and a loop to the thread that runs it.  A server
running its own loop in another thread (a session fixture's uvicorn, a
library's background loop) makes tasks all the time.  For a plain watch they
are that thread's, never the watching block's: a task on a loop running in
another thread is left out, unless its coroutine was made in a thread with
origin tracking on (the watching thread: ``asyncio.run_coroutine_threadsafe(coro,
loop)`` from the block hands its own coroutine over).  The pytest plugin's
test spans see every loop's tasks (``TaskProbe.foreign``) and decide whose
each is by what holds it.

A task still pending when its loop shut down is a leak all the same, gone by
the time the watch looks: :mod:`leakwatch._attribution.shutdowns` tells this
module of them before they are cancelled, and :func:`departed` hands them to
the engine, described as they were.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Hashable, Iterator
from dataclasses import replace
from typing import Any

from leakwatch._attribution import recording as _recording
from leakwatch._attribution import records as _records
from leakwatch._attribution import shutdowns as _shutdowns
from leakwatch._attribution.stacks import coroutine_origin, source_line, to_origin
from leakwatch._base.frames import Frame
from leakwatch._base.model import Resource
from leakwatch._base.paths import is_user_file
from leakwatch._probes import departures as _departures
from leakwatch._probes.departures import Casualties, Casualty
from leakwatch._probes.protocol import Probe, Snapshot


def iter_tasks() -> list[Any]:
    """Every task asyncio knows, whatever loop it belongs to (version split here)."""
    from leakwatch._base.pyversion import all_tasks  # the version split, in one place

    return all_tasks()


def await_frames(coro: Any) -> Iterator[Any]:
    """The frames of a coroutine (or generator) and of what it awaits,
    outermost first (at most 64)."""
    seen = 0
    while coro is not None and seen < 64:
        seen += 1
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            frame = getattr(coro, "ag_frame", None)
        if frame is not None:
            yield frame
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)


def suspended_at(coro: Any) -> list[Frame]:
    """Innermost-last chain of frames the task is awaiting in."""
    frames: list[Frame] = []
    for frame in await_frames(coro):
        code = frame.f_code
        frames.append(
            Frame(
                code.co_filename,
                frame.f_lineno,
                getattr(code, "co_qualname", code.co_name),
                source_line(code.co_filename, frame.f_lineno),
            )
        )
    return frames


def _running_loop() -> Any:
    """The loop running in this thread, or None (asyncio never imported: None)."""
    events = sys.modules.get("asyncio.events")
    return events._get_running_loop() if events is not None else None


def _loop_thread(loop: Any) -> int | None:
    """The ident of the thread running ``loop``, where the loop says (asyncio, uvloop)."""
    ident = getattr(loop, "_thread_id", None)
    return ident if isinstance(ident, int) else None


def _thread_name(ident: int | None) -> str:
    for thread in threading.enumerate():
        if thread.ident == ident:
            return thread.name
    return str(ident) if ident is not None else "?"


def owned_tasks(foreign: bool = False) -> list[Any]:
    """Pending tasks that belong to this thread's watch: see the module docstring.
    ``foreign``: every pending task, whatever thread runs its loop (the caller
    decides whose each is)."""
    tasks = iter_tasks()
    if not tasks:  # most looks: no task at all
        return []
    current = _running_loop()
    me = threading.get_ident()
    other_loops: dict[int, bool] = {}
    out = []
    for task in tasks:
        if task.done():
            continue
        if foreign:
            out.append(task)
            continue
        loop = task.get_loop()
        other = other_loops.get(id(loop))
        if other is None:
            other = other_loops[id(loop)] = loop is not current and loop.is_running()
        if other and not _handed_over(task, me):
            continue  # made by the other thread's own code: that thread's
        out.append(task)
    return out


def _handed_over(task: Any, me: int) -> bool:
    """Whether a task of another thread's loop is this thread's: made from a
    coroutine this thread handed over, or by such a task (see
    ``origins._owner_thread``); where no record says, whether its coroutine
    was made in a thread with origin tracking on (this one)."""
    rec = _record_of(task)
    if rec is not None:
        return rec.thread == me
    return getattr(task.get_coro(), "cr_origin", None) is not None


def _record_of(task: Any) -> _records.Record | None:
    """Where a task was made: where its coroutine was handed over to another
    thread's loop (``run_coroutine_threadsafe``: the loop thread makes the task
    for the block that handed it), else where ``create_task`` ran."""
    try:
        rec = _records.handovers.get(task.get_coro())
    except TypeError:
        rec = None
    return rec if rec is not None else _records.task_record(task)


class TaskProbe(Probe):
    kind = "task"
    needs_coroutine_origins = True  # a task's creation stack is its coroutine's origin

    def __init__(self) -> None:
        #: See tasks on loops other threads run too (the pytest plugin's test
        #: spans, which decide whose each is by what holds it).
        self.foreign = False

    def snapshot(self) -> Snapshot:
        tasks = owned_tasks(self.foreign)
        return {id(t): weakref.ref(t) for t in tasks} if tasks else {}

    def is_new(self, key: Hashable, value: Any, before: Snapshot) -> bool:
        old = before.get(key)
        return old is None or old() is not value()

    def settle(self, new: Snapshot, timeout: float) -> None:
        return None  # the engine lets the event loop run for async blocks

    def of_block(self, items: dict[Hashable, Any], at_end: Snapshot) -> dict[Hashable, Any]:
        """Leftover tasks that were already pending when the block ended: a
        task another task started (and maybe finished) while the watch
        settled is not the block's, whoever's it is."""
        kept = {}
        for key, ref in items.items():
            old = at_end.get(key)
            if old is not None and old() is ref():
                kept[key] = ref
        return kept

    def describe(self, key: Hashable, value: Any, since: int) -> Resource:
        task = value()
        if task is None:
            return Resource("task", key, "task (finished while being described)")
        coro = task.get_coro()
        coro_name = getattr(coro, "__qualname__", type(coro).__name__)
        suspended = suspended_at(coro)
        # Where the task was made (loop.create_task, reached by create_task,
        # ensure_future, gather, as_completed, task groups); the coroutine may
        # have been made elsewhere, earlier: that line is kept as a detail.
        coro_origin = coroutine_origin(getattr(coro, "cr_origin", None))
        rec = _record_of(task)
        origin = to_origin(rec.stack, rec.parent) if rec is not None else coro_origin
        loop = task.get_loop()
        other_thread = loop.is_running() and loop is not _running_loop()
        details: dict[str, Any] = {
            "name": task.get_name(),
            "coroutine": coro_name,
            "suspended_at": [f.to_dict() for f in suspended],
            "loop": "closed"
            if loop.is_closed()
            else ("running" if loop.is_running() else "stopped"),
        }
        if coro_origin:
            details["coroutine_origin"] = [f.to_dict() for f in coro_origin]
        title = f"task {task.get_name()!r} running {coro_name}()"
        if suspended:
            users = [f for f in suspended if is_user_file(f.filename)]
            inner = users[-1] if users else suspended[-1]
            title += f", suspended at {inner.filename.rsplit('/', 1)[-1]}:{inner.lineno}"
        if loop.is_closed():
            title += " (its loop is closed: the task will never finish)"
        elif other_thread:
            # Handed to a loop that another thread runs (run_coroutine_threadsafe).
            ident = _loop_thread(loop)
            details["loop_thread"] = _thread_name(ident)
            title += f", on the loop of thread {details['loop_thread']!r}"
        if not origin:
            title += ", creation not seen"
            details["origin_note"] = (
                "not made through an asyncio event loop's create_task (a loop of "
                "another kind, or asyncio.Task(...) directly), and coroutine origin "
                "tracking was off in the thread that made its coroutine"
            )
        del task, coro, loop
        return Resource("task", key, title, origin, details, group=coro_name)

    def creation(self, key: Hashable, value: Any, since: int) -> Any:
        """When the task was made, and by which thread (see :func:`_record_of`)."""
        task = value()
        rec = _record_of(task) if task is not None else None
        return rec if rec is not None and rec.serial > since else None

    def recorded(self) -> list[_records.Record]:
        """Every record :meth:`creation` may return."""
        return _records.values_of(_records.tasks) + _records.values_of(_records.handovers)

    def owner(self, key: Hashable, value: Any) -> Any:
        return value()

    def departed(self, since: int) -> list[Casualty]:
        """Tasks made since ``since`` still pending when their loop shut down."""
        return departed(since)


#: The last tasks found pending at a loop's shutdown while a watch was on.
casualties = Casualties("task")


def _place(task: Any, rec: _records.Record) -> tuple[Any, ...]:
    """Where a task was made, as a key: the innermost frames and its coroutine."""
    coro = task.get_coro()
    return (tuple(rec.stack[:4]), getattr(coro, "__qualname__", type(coro).__name__))


def _on_shutdown(loop: Any, pending: list[Any]) -> None:
    lowest = _departures.lowest()
    found = [(task, _record_of(task)) for task in pending]
    known = [(task, rec) for task, rec in found if rec is not None and rec.serial > lowest]
    if not known:
        return
    with _recording.quiet():
        probe = TaskProbe()
        ended = [
            (task, rec, _ended(probe.describe(id(task), weakref.ref(task), 0)))
            for task, rec in known
        ]
        held = casualties.holders_of([(task, _place(task, rec), res) for task, rec, res in ended])
        for task, rec, res in ended:
            if id(task) not in held:  # else ended with its holder's loop by design
                casualties.add(Casualty(id(task), rec, res))


def _ended(res: Resource) -> Resource:
    """A task's description, as one cancelled when its loop shut down."""
    title = res.title + ", still pending when its loop shut down"
    details = {**res.details, "ended": "cancelled when its loop shut down"}
    return replace(res, title=title, details=details)


_shutdowns.listeners.append(_on_shutdown)


def departed(since: int) -> list[Casualty]:
    """Tasks made after creation serial ``since`` that were still pending when
    their loop shut down."""
    return casualties.since(since)
