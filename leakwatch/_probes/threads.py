"""Threads: Python threads by (ident, native id, object), and native threads by tid.

A native thread with no Python ``Thread`` object (started from C, or with
``_thread.start_new_thread``) is seen through the OS thread list.

Like every probe, it lists and describes; it must not judge.
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from collections.abc import Hashable, Iterator, Sequence
from typing import Any, TypeGuard

from leakwatch._attribution import recording as _recording
from leakwatch._attribution import records as _records
from leakwatch._attribution.chain_text import frame_chain
from leakwatch._attribution.stacks import during_import, stack_of_frame, to_origin
from leakwatch._base.frames import Frame
from leakwatch._base.identity import identity
from leakwatch._base.model import Resource
from leakwatch._base.paths import is_user_file
from leakwatch._base.platform import count_threads, list_native_threads
from leakwatch._base.pyversion import running_thread
from leakwatch._probes.protocol import OWN, Probe, Snapshot
from leakwatch._probes.wakers import outlasting, parked, parked_on, who_holds

INTERNAL_PREFIX = "leakwatch-"


def _qualname(obj: Any) -> str:
    if obj is None:
        return ""
    try:
        mod = getattr(obj, "__module__", None) or ""
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
        return f"{mod}.{name}" if isinstance(mod, str) and mod else str(name)
    except Exception:  # a target whose attributes or __repr__ raise
        return f"<{type(obj).__module__}.{type(obj).__qualname__} object>"


def name_of(thread: threading.Thread) -> str:
    """The thread's name as text, whatever ``name`` was set to (None, a number, a property)."""
    try:
        name: object = thread.name
    except Exception:
        return "?"
    if isinstance(name, str):
        return name
    try:
        return repr(name)
    except Exception:
        return f"<{type(name).__name__}>"


def executor_of(thread: threading.Thread) -> Any:
    """The ThreadPoolExecutor a worker thread belongs to, if it is one."""
    target = getattr(thread, "_target", None)
    if getattr(target, "__qualname__", "") != "_worker":
        return None
    args = getattr(thread, "_args", ())
    ref = args[0] if args else None
    return ref() if isinstance(ref, weakref.ref) else None


def other_threads() -> Iterator[threading.Thread]:
    """The Python threads but this one and leakwatch's own."""
    me = threading.get_ident()
    for thread in threading.enumerate():
        if thread.ident != me and not name_of(thread).startswith(INTERNAL_PREFIX):
            yield thread


def pending_timer(thread: threading.Thread) -> TypeGuard[threading.Timer]:
    """A ``threading.Timer`` that has neither fired nor been cancelled."""
    return isinstance(thread, threading.Timer) and not thread.finished.is_set()


#: The last full look at the threads, whichever probe took it: the snapshot,
#: how many threads the OS counted and the creation epoch, both read just
#: before it.  One tuple, replaced whole.
_LAST: tuple[Snapshot, int, int] | None = None

#: ``threading``'s stand-in for a thread it did not start.
DUMMY: type = getattr(threading, "_DummyThread", type(None))


class ThreadProbe(Probe):
    kind = "thread"
    # A native thread's owner is only what it runs on, and a running thread
    # is held by threading's own table until it ends.
    owner_holds_it = False
    held_means_stays = False

    def waits_for_others(self, key: Hashable) -> bool:
        """A Python thread may be parked (only another thread wakes it); a
        thread C code runs is never taken for one."""
        return isinstance(key, tuple) and key[0] == "py"

    #: Whether :meth:`mark` may reuse the last full look: set on the probe of
    #: a test's watch, which starts right after the previous test's last
    #: look with only pytest's reporting run in between (see FdProbe.light).
    light = False

    def mark(self) -> Snapshot:
        """The last full look (any probe's) again, for a :attr:`light` probe,
        while Python started no thread since and as many threads run; else a
        full one.  C code starting one thread while another ends, between
        two tests, is then charged to the next test: never hidden, as the
        last look of a watch is a full one."""
        last = _LAST
        if not self.light or last is None or count_threads is None:
            return self.snapshot()
        snap, count, epoch = last
        if epoch != _recording._epoch or not _recording._active:
            return self.snapshot()
        return snap if count_threads() == count else self.snapshot()

    def snapshot(self) -> Snapshot:
        global _LAST
        # Before looking: a thread started meanwhile changes one or the other.
        epoch, count = _recording._epoch, count_threads() if count_threads else -1
        snap: dict[Hashable, Any] = {}
        py_native = set()
        for t in threading.enumerate():
            if isinstance(t, DUMMY):
                # Registered by threading.current_thread() in a thread it did
                # not start, and never removed (3.10-3.12): it says nothing of
                # whether that thread lives, and cannot be joined.  The native
                # listing below sees the thread itself while it runs.
                continue
            if name_of(t).startswith(INTERNAL_PREFIX) or pending_timer(t):
                # A Timer not yet fired nor cancelled is the timer probe's.
                py_native.add(t.native_id)
                continue
            snap[("py", t.ident, t.native_id, identity(t))] = weakref.ref(t)
            py_native.add(t.native_id)
        if count != len(py_native):
            # Else every thread the OS runs is one of those: each Python
            # thread listed runs (it leaves the table before its OS thread
            # ends), so as many of them as the count is all of them, and the
            # listing (a listdir, an audit event) would find no other.
            for tid in list_native_threads():
                if tid not in py_native:
                    snap[("native", tid)] = tid
        _LAST = (snap, count, epoch)
        return snap

    def is_new(self, key: Hashable, value: Any, before: Snapshot) -> bool:
        return key not in before

    def waits_out(self, key: Hashable, value: Any, budget: float) -> bool:
        thread = value() if isinstance(value, weakref.ref) else None
        return thread is not None and parked(thread, None, outlasting(thread, budget))

    def waker_holders(self, key: Hashable, value: Any, budget: float) -> str | None:
        """For a thread parked past ``budget``: who holds the condition it
        waits on (only the thread itself: an event only its target holds;
        a module global: a worker's module-level queue)."""
        thread = value() if isinstance(value, weakref.ref) else None
        if thread is None:
            return None
        condition = parked_on(thread, None, outlasting(thread, budget))
        met: set[int] = set()
        try:
            held = who_holds(condition, thread, met) if condition is not None else None
            if held == OWN and id(self.owner(key, value)) in met:
                self._own_owners.add(key)  # its target's object: its own too
            return held
        finally:
            del condition, thread

    #: The threads whose target's object :meth:`waker_holders` found held by
    #: nothing but the thread (keys: plain data, for one watch).
    _own_owners: set[Hashable]

    def __init__(self) -> None:
        self._own_owners = set()

    def own_chain(self, key: Hashable, value: Any, owner: Any) -> str | None:
        """The innermost of the thread's own frames holding ``owner`` in a
        variable (as the search, which prefers the shortest chain and then
        the innermost frame, would find it: no module global holds it)."""
        thread = value() if key in self._own_owners and isinstance(value, weakref.ref) else None
        frame = sys._current_frames().get(thread.ident) if thread is not None else None
        try:
            while frame is not None:
                chain = frame_chain(frame, owner, name_of(thread))  # type: ignore[arg-type]
                if chain is not None:
                    return chain
                frame = frame.f_back
            return None
        finally:
            del frame, thread

    def settle(self, new: Snapshot, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        current = running_thread()
        threads = [t for v in new.values() if isinstance(v, weakref.ref) and (t := v()) is not None]
        frames = sys._current_frames()
        # One waiting for another thread to wake it, or in a wait longer than
        # its life and this join: joining it waits for nothing (settling looks
        # again all the same).  The frames are let go before any join: a
        # thread that returns meanwhile frees its locals.
        waiting = [
            t for t in threads if t is not current and not parked(t, frames, outlasting(t, timeout))
        ]
        del frames, threads
        for t in waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            t.join(remaining)

    def describe(self, key: Hashable, value: Any, since: int) -> Resource:
        if key[0] == "native":  # type: ignore[index]
            return self._describe_native(key, value)
        thread = value()
        if thread is None:  # ended between the snapshot and now
            return Resource("thread", key, "thread (ended while being described)")
        rec = _records.threads.get(thread)
        target = getattr(thread, "_target", None)
        target_name = _qualname(target) if target is not None else _qualname(type(thread).run)
        name = name_of(thread)
        details: dict[str, Any] = {
            "name": name,
            "ident": thread.ident,
            "native_id": thread.native_id,
            "daemon": thread.daemon,
            "target": target_name,
        }
        frame = sys._current_frames().get(thread.ident or -1)
        where = ""
        if frame is not None:
            code = frame.f_code
            where = f"{_qualname_of_code(code, frame)}"
            details["stack"] = [f.to_dict() for f in to_origin(stack_of_frame(frame))]
        del frame
        flavour = "daemon" if thread.daemon else "non-daemon"
        title = f"thread {name!r} ({flavour})"
        if where:
            title += f", waiting in {where}"
        executor = executor_of(thread)
        if executor is not None:
            title += f", idle worker of {type(executor).__name__} never shut down"
            if name.startswith("asyncio_"):
                details["benign"] = "asyncio default executor worker: lives with its event loop"
        del executor
        origin = to_origin(rec.stack, rec.parent) if rec is not None else ()
        made = _records.thread_inits.get(thread)
        if made is not None:
            made_at = to_origin(made.stack, made.parent)
            line = _user_line(made_at)
            if made_at and line != _user_line(origin):
                # Made in one place, started in another: the line that made it
                # says what it runs, which the start line often does not.
                details["constructed_at"] = [f.to_dict() for f in made_at]
                if line is not None:
                    title += f", made at {line.filename.rsplit('/', 1)[-1]}:{line.lineno}"
                    runs = getattr(thread, "function", None)  # a Timer's function
                    title += f" to run {_qualname(runs) if runs is not None else target_name}"
        if rec is None:
            title += ", start not seen"
        elif during_import(rec.stack):
            details["benign"] = "started while importing a module: one-time initialisation"
        return Resource("thread", key, title, origin, details, group=target_name)

    def _describe_native(self, key: Hashable, tid: int) -> Resource:
        rec = _records.native_threads.get(tid)
        details: dict[str, Any] = {"native_id": tid}
        if rec is None:
            details["benign"] = (
                "native thread started outside Python's threading (C extension?): "
                "no creation stack, so a pool can't be told from a leak"
            )
            return Resource("thread", key, f"native thread {tid}, start not seen", (), details)
        details["target"] = rec.extra
        title = f"native thread {tid} running {rec.extra or '?'}"
        return Resource(
            "thread", key, title, to_origin(rec.stack, rec.parent), details, group=rec.extra
        )

    def creation(self, key: Hashable, value: Any, since: int) -> _records.Record | None:
        """How the thread was started (when, from which thread), if seen."""
        if key[0] == "native":  # type: ignore[index]
            rec = _records.native_threads.get(value)
        else:
            thread = value() if isinstance(value, weakref.ref) else None
            rec = _records.threads.get(thread) if thread is not None else None
        return rec if rec is not None and rec.serial > since else None

    def recorded(self) -> list[_records.Record]:
        """Every record :meth:`creation` may return."""
        return _records.values_of(_records.threads) + _records.values_of(_records.native_threads)

    def owner(self, key: Hashable, value: Any) -> Any:
        """The object whose method the thread runs (a plain function has none:
        a running thread is its own root)."""
        if key[0] == "native":  # type: ignore[index]
            ref = _records.native_owners.get(value)
            return ref() if ref is not None else None
        thread = value() if isinstance(value, weakref.ref) else None
        target = getattr(thread, "_target", None)
        owner = getattr(target, "__self__", None)
        return None if owner is None or isinstance(owner, type) else owner


def _user_line(origin: Sequence[Frame]) -> Frame | None:
    """The innermost frame in the user's code (else the innermost frame)."""
    users = [f for f in origin if is_user_file(f.filename)]
    return users[-1] if users else (origin[-1] if origin else None)


def _qualname_of_code(code: Any, frame: Any) -> str:
    name = getattr(code, "co_qualname", code.co_name)
    module = frame.f_globals.get("__name__", "")
    return f"{module}.{name}" if module else str(name)
