"""Whose is a leftover another thread made: a wider fixture's, or the window's that made it.

The thread that made a leftover is evidence, not the verdict.  A server that a
session fixture runs in its own thread handles every test's requests: the
leak a request handler makes there (a socket put in a module list, a thread
that never ends, a task parked in a module set, a temp dir never removed) is
the test's that sent the request, while the connection the server keeps
open, its per-connection handler threads and tasks and its worker pool are
the fixture's machinery.  What tells them apart is what holds the leftover
once the test is over:

* the fixture's **world** holds it: the fixture's value, the locals of its
  suspended generator (the server object a fixture that yields only a URL
  keeps), and the frames of the threads it started while it was set up (a
  server's ``serve_forever``, a portal's event loop) -- searched through
  references, never through a module's or a function's globals, and never
  through the wake-up callbacks that make a loop hold every pending task;
* or it works for that world: a thread, task or timer whose own target,
  callback, attributes or frames refer to one of the world's objects
  directly (a per-connection handler thread running
  ``server.process_request_thread``; a worker thread holding the portal's
  main task; a connection's keep-alive timer bound to a protocol that refers
  to the server's state), and what such a thread's frames hold (the
  connection it serves).

Anything else -- held by a module global, a registry, or nothing but itself
(a running thread, a pending task, a path on disk) -- is the window's it was
made in, whichever thread made it.  The search is bounded (depth, seconds)
and keeps no object once it returns: only ids while it runs."""

from __future__ import annotations

import functools
import sys
import threading
import time
import types
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from leakwatch._base.paths import is_own
from leakwatch._base.pyversion import frame_locals, referents
from leakwatch._probes.tasks import await_frames

#: What a search never walks into: code, modules, classes and functions reach
#: the whole program through their globals; frames only through the explicit
#: thread and coroutine walks below.
_OPAQUE: tuple[type, ...] = (
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.CodeType,
    types.FrameType,
    type,
    weakref.ref,
)

#: Plain values: never an anchor, never worth walking.
_PLAIN = (str, bytes, bytearray, int, float, complex, bool, type(None), range)

#: Attributes (names) read from a Thread object when asking what it works for.
_THREAD_ATTRS = ("_target", "_args", "_kwargs")

#: The C callbacks by which a loop or future holds the task to run next
#: (``TaskStepMethWrapper``; up to 3.11 ``TaskWakeupMethWrapper`` too, else a
#: bound builtin method, opaque already).  Not importable: told by name.
_WAKEUP_NAMES = frozenset({"TaskStepMethWrapper", "TaskWakeupMethWrapper"})


def _is_loop(obj: Any) -> bool:
    events = sys.modules.get("asyncio.events")
    return events is not None and isinstance(obj, events.AbstractEventLoop)


def _opaque(obj: Any) -> bool:
    cls = type(obj)
    return issubclass(cls, (*_OPAQUE, *_PLAIN)) or cls.__name__ in _WAKEUP_NAMES


def reachable_from(
    roots: list[Any],
    targets: list[Any],
    *,
    max_depth: int = 40,
    budget: float = 0.1,
) -> dict[int, int]:
    """``id(target) -> index of the first root that reaches it`` through
    references (at most ``max_depth`` hops, within ``budget`` seconds; an
    attribute is two hops, through its object's ``__dict__``).  Never walks
    into modules, classes, functions or frames (globals), nor through the
    wake-up callbacks by which a future holds the task awaiting it, nor
    through a loop's queues, which hold every callback and timer scheduled
    on it whoever scheduled them."""
    wanted = {id(t) for t in targets}
    found: dict[int, int] = {}
    if not wanted:
        return found
    deadline = time.thread_time() + budget  # CPU time: the load does not cut it short
    seen: set[int] = {id(roots), id(targets)}
    loop_cls = getattr(sys.modules.get("asyncio.events"), "AbstractEventLoop", None)
    for index, root in enumerate(roots):
        if id(root) in wanted:
            found.setdefault(id(root), index)
        if id(root) in seen or _opaque(root):
            continue
        seen.add(id(root))
        level = _loop_parts(root) if loop_cls is not None and isinstance(root, loop_cls) else [root]
        for _ in range(max_depth):
            if not level or len(found) == len(wanted) or time.thread_time() > deadline:
                break
            nxt = []
            for obj in referents(*level):
                if id(obj) in seen:
                    continue
                seen.add(id(obj))
                if id(obj) in wanted:
                    found.setdefault(id(obj), index)
                if loop_cls is not None and isinstance(obj, loop_cls):
                    nxt.extend(_loop_parts(obj))
                elif not _opaque(obj):
                    nxt.append(obj)
            level = nxt
        level = []
    return found


#: A loop's queues: what is scheduled on it, by anyone.
_LOOP_QUEUES = frozenset({"_ready", "_scheduled"})


def _loop_parts(loop: Any) -> list[Any]:
    """A loop's parts but its queues (its selector, its executor, its servers)."""
    try:
        attrs = object.__getattribute__(loop, "__dict__")
    except Exception:
        return []  # a loop in C (uvloop): its parts are not walked
    return [value for name, value in attrs.items() if name not in _LOOP_QUEUES]


def frames_of(thread_ident: int | None) -> Iterator[types.FrameType]:
    """The frames a live thread is running, innermost first."""
    if thread_ident is None:
        return
    frame = sys._current_frames().get(thread_ident)
    count = 0
    while frame is not None and count < 200:
        yield frame
        frame = frame.f_back
        count += 1


def coroutine_frames(task: Any) -> Iterator[types.FrameType]:
    """The frames of a task's coroutine and of what it awaits, outermost first."""
    get_coro = getattr(task, "get_coro", None)
    return await_frames(get_coro() if get_coro is not None else None)


def local_values(frames: Iterable[types.FrameType]) -> list[Any]:
    """The values of the frames' local variables (never globals, nor leakwatch's own frames)."""
    out: list[Any] = []
    for frame in frames:
        if is_own(frame.f_code.co_filename):
            continue
        try:
            out.extend(frame_locals(frame).values())
        except Exception:  # a frame being torn down meanwhile
            continue
    return out


def _members(obj: Any) -> list[Any]:
    """An object's direct parts, read without running its code: instance attributes,
    a container's items (at most 256), a bound method's object, a partial's arguments."""
    if isinstance(obj, (*_PLAIN, *_OPAQUE)) or _is_loop(obj):
        return []  # a loop's parts hold every task and handle it runs
    if isinstance(obj, types.MethodType):
        return [obj.__self__]
    if isinstance(obj, dict):
        return list(obj.values())[:256]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return list(obj)[:256]
    out: list[Any] = []
    try:
        attrs = object.__getattribute__(obj, "__dict__")
    except Exception:
        attrs = None
    if isinstance(attrs, dict):
        out.extend(attrs.values())
    if isinstance(obj, functools.partial):
        out.extend(getattr(obj, "args", ()))
        out.extend(getattr(obj, "keywords", {}).values())
    return out


def _anchor(obj: Any) -> bool:
    """Whether an object of a fixture's world can tell that a thread or task
    works for it: not a plain value, code, a class, nor an event loop (every
    task's frames hold the loop that runs it), nor an empty tuple or frozenset:
    the interpreter shares one of each with the whole program (every thread
    started without arguments holds the same ``()``)."""
    if isinstance(obj, (tuple, frozenset)) and not obj:
        return False
    return not (isinstance(obj, (*_PLAIN, *_OPAQUE)) or _is_loop(obj))


def generators_in(finalizers: Iterable[Any], machinery: tuple[type, ...] = ()) -> list[Any]:
    """Suspended generators a fixture's finalizers keep (the fixture, waiting to tear
    down), none past the nearest level with one nor inside the runner's ``machinery``
    (every dependent fixture's teardown, one more per test that ran it; requests)."""
    out: list[Any] = []
    level, seen = list(finalizers), set()
    for _ in range(4):
        if not level or out:
            break
        nxt: list[Any] = []
        for obj in level:
            if id(obj) in seen or isinstance(obj, machinery):
                continue
            seen.add(id(obj))
            if isinstance(obj, (types.GeneratorType, types.AsyncGeneratorType)):
                out.append(obj)
                continue
            if isinstance(obj, types.FunctionType):
                for cell in obj.__closure__ or ():
                    try:
                        nxt.append(cell.cell_contents)
                    except ValueError:  # an empty cell
                        continue
                continue
            nxt.extend(_members(obj))
        level = nxt
    return out


def generator_locals(gen: Any) -> list[Any]:
    frame = getattr(gen, "gi_frame", None) or getattr(gen, "ag_frame", None)
    return local_values([frame]) if frame is not None else []


_THREAD_OWN: frozenset[str] | None = None


def thread_parts(thread: threading.Thread) -> list[Any]:
    """What a thread was given to work on: its target (and the target's
    object), arguments, and the attributes a subclass added -- not the
    bookkeeping every thread has (its locks, events, ``sys.stderr``)."""
    global _THREAD_OWN
    if _THREAD_OWN is None:
        _THREAD_OWN = frozenset(vars(threading.Thread(target=None)))
    out: list[Any] = []
    for name in _THREAD_ATTRS:
        value = getattr(thread, name, None)
        if value is not None:
            out.append(value)
            out.extend(_members(value))
    try:
        attrs = object.__getattribute__(thread, "__dict__")
    except Exception:
        attrs = {}
    out.extend(v for k, v in attrs.items() if k not in _THREAD_OWN)
    return out


def handle_parts(handle: Any) -> list[Any] | None:
    """What an asyncio timer was given to call: its callback, the callback's
    object (a connection's protocol, for a keep-alive timer) and arguments;
    None when ``handle`` is no asyncio handle."""
    events = sys.modules.get("asyncio.events")
    if events is None or not isinstance(handle, events.Handle):
        return None
    callback = getattr(handle, "_callback", None)
    out = [callback, *_members(callback)] if callback is not None else []
    return out + list(getattr(handle, "_args", None) or ())


class World:
    """One wider fixture's world, for one judgement: its roots (value, the
    generator's locals, the frames of its own threads), their direct parts
    as anchors, and the threads its threads started since (candidates for
    its machinery).  Holds objects only until :meth:`close`."""

    def __init__(self, roots: list[Any], helpers: list[threading.Thread]) -> None:
        self.roots = roots
        self.anchors: set[int] = set()
        self._anchored: list[Any] = []  # keeps the ids above meaningful until close()
        for root in roots:
            if _anchor(root):
                self.anchors.add(id(root))
                self._anchored.append(root)
            parts = thread_parts(root) if isinstance(root, threading.Thread) else _members(root)
            for part in parts:
                if _anchor(part):
                    self.anchors.add(id(part))
                    self._anchored.append(part)
        self.helpers = helpers

    def works_for(self, obj: Any) -> bool:
        """A thread, task or timer that refers to one of the world's objects
        directly (its target, callback, arguments or attributes; its frames'
        locals), or one level below them."""
        first: list[Any] = []
        if isinstance(obj, threading.Thread):
            first.extend(thread_parts(obj))
            first.extend(v for v in local_values(frames_of(obj.ident)) if v is not obj)
        elif hasattr(obj, "get_coro"):
            first.extend(local_values(coroutine_frames(obj)))
        else:
            parts = handle_parts(obj)
            if parts is None:
                return False
            first.extend(parts)
        for value in first:
            if id(value) in self.anchors:
                return True
        for value in first:
            for part in _members(value):
                if id(part) in self.anchors:
                    return True
        return False

    def holds(self, targets: list[Any], budget: float) -> set[int]:
        """The ids of ``targets`` this world holds or works for."""
        held: set[int] = set()
        found = reachable_from(self.roots, targets, budget=budget)
        held.update(found)
        for obj in targets:
            if id(obj) not in held and self.works_for(obj):
                held.add(id(obj))
        rest = [obj for obj in targets if id(obj) not in held]
        if rest:
            # What the world's helper threads and tasks hold in their frames
            # (the connection a handler thread serves).
            roots: list[Any] = []
            for thread in self.helpers:
                if self.works_for(thread):
                    roots.extend(local_values(frames_of(thread.ident)))
            for task in targets:
                if id(task) in held and hasattr(task, "get_coro"):
                    roots.extend(local_values(coroutine_frames(task)))
            if roots:
                held.update(reachable_from(roots, rest, max_depth=8, budget=budget))
        return held

    def close(self) -> None:
        self.roots = []
        self.anchors.clear()
        self._anchored.clear()
        self.helpers = []
