"""Parked threads, and who could wake them.

:func:`parked`: a thread blocked in ``Condition.wait`` until another thread
wakes it (or for longer than the caller will look).  :func:`who_holds`:
whether anything but the thread itself holds what it waits on, and whether
a module global does.

A thread parked on an event that only its own target holds (``Thread(
target=Event().wait)``, a worker whose queue nobody kept) ends only by its
timeout, whatever other threads do: settling need not wait for them.  The
collector's referrers are walked up from what it waits on, one heap scan per
level, and the walk stops at the thread itself: its ``Thread`` object and the
frames of its own stack.  Anything else that leads to a module, another
thread's frame (a running frame's variables are read from the frame: the
collector does not show them), or further than the walk looks counts as a
waker.  A walk that meets a module global before any other thread's frame
says so (:data:`ROOTED`): with no other thread able to run, such a thread
stays parked as surely as a socket a module list keeps stays open.  A walk
that ends with nothing above is :data:`OWN` when every object it met is on
the thread's own way down to what it waits on (alive as the thread is:
garbage that held one, whose finaliser might wake it, would have been met
too), and only :data:`ALONE` otherwise: what nothing was found to hold may
be garbage, true only once a gc pass ran.  Must not judge.
"""

from __future__ import annotations

import math
import sys
import threading
import time
import types
from typing import Any

from leakwatch._attribution import records as _records
from leakwatch._attribution.referrers import between, referrers_of, remembering
from leakwatch._attribution.roots import own_frame
from leakwatch._base.pyversion import frame_locals, kept_locals, runs_module_code
from leakwatch._probes.protocol import ALONE, OWN, ROOTED


def parked(
    thread: threading.Thread, frames: dict[int, Any] | None = None, longer_than: float = math.inf
) -> bool:
    """Blocked until another thread wakes it: in ``Condition.wait`` with no
    timeout (``Event.wait()``, ``Queue.get()``, ``Semaphore.acquire()``,
    ``Barrier.wait()`` without one), or with one over ``longer_than``
    seconds (the caller knows the wait began less than that ago and will
    not look that long).  A shorter wait, a sleep, a select or C code that
    blocks may end by itself: not parked.  ``frames``:
    ``sys._current_frames()`` read once for many threads."""
    return parked_on(thread, frames, longer_than) is not None


def parked_on(
    thread: threading.Thread, frames: dict[int, Any] | None, longer_than: float = math.inf
) -> Any:
    """The condition a :func:`parked` thread waits on, or None."""
    frame = wait_frame(thread, frames)
    if frame is None:
        return None
    try:
        names = frame_locals(frame)
        timeout = names.get("timeout", 0)
        condition = names.get("self")
        if _notified(condition, names.get("waiter")):
            return None  # on its way out, however long until it is scheduled
        if timeout is None or (isinstance(timeout, (int, float)) and timeout > longer_than):
            return condition
        return None
    finally:
        del frame


def _notified(condition: Any, waiter: Any) -> bool:
    """Whether a notify took the thread's ``waiter`` off ``condition``'s list
    (an event set, an item put), or it has not yet gone on: the thread
    leaves the wait as soon as it is scheduled, which on a loaded machine
    can be longer than settling looks."""
    if waiter is None or not isinstance(condition, threading.Condition):
        return False
    try:
        # A lock has no ``__eq__``: membership is identity, in C (each of many
        # threads parked on one condition asks: a Python loop made it O(n^2)).
        return waiter not in list(condition._waiters)  # type: ignore[attr-defined]
    except Exception:  # cannot tell: as before, parked
        return False


def wait_frame(thread: threading.Thread, frames: dict[int, Any] | None) -> Any:
    """The frame of ``Condition.wait`` ``thread`` is blocked in, or None."""
    # Never ``sys._current_frames()`` in a variable of this frame: the dict
    # holds this frame too, a cycle that outlives the call and keeps its
    # variables (and its caller's) for the collector, and in every heap walk.
    ident = thread.ident if thread.ident is not None else -1
    frame = (frames if frames is not None else sys._current_frames()).get(ident)
    try:
        # The wait itself, or (instrumentation wrapping a lock's ``acquire``)
        # a frame or two below it, still in its blocking acquire.
        for depth in range(_WRAPPED_DEPTH + 1):
            if frame is None:
                return None
            if frame.f_code is _CONDITION_WAIT:
                if depth and frame_locals(frame).get("gotit", True) is not False:
                    return None  # woken, or not yet waiting
                return frame
            frame = frame.f_back
        return None
    finally:
        del frame


#: The code of ``threading.Condition.wait``: where a parked thread waits.
_CONDITION_WAIT = threading.Condition.wait.__code__
_CONDITION_EXIT = threading.Condition.__exit__
#: How many frames a wrapper of ``Lock.acquire`` may add under that wait
#: (a checker of blocking calls in event loops wraps it, and is wrapped).
_WRAPPED_DEPTH = 2


def outlasting(thread: threading.Thread, budget: float | None) -> float:
    """How long a timed wait of ``thread`` must be to outlast ``budget``
    more seconds: its life so far and the budget, where its start was seen."""
    started = _records.thread_starts.get(thread) if budget is not None else None
    if started is None or budget is None:
        return math.inf
    return time.monotonic() - started + budget


#: Levels of referrers walked up, and objects per level, before giving up
#: (giving up: someone else may hold it).
_LEVELS, _WIDTH = 8, 64
#: How far below the thread, and among how many objects, the way down to what
#: it waits on is looked for: the walk's likely links, whose referrers one
#: scan of the heap finds up front.
_NEAR, _NEAR_MAX = 8, 512


def who_holds(target: object, thread: threading.Thread, met: set[int] | None = None) -> str | None:
    """Who holds ``target``, walking its referrers up: :data:`OWN` (only
    ``thread``, and every object met on the way is one ``thread`` reaches:
    none is garbage), :data:`ALONE` (only ``thread``, past objects nothing
    else was found to hold: garbage, until a gc pass), :data:`ROOTED` (a
    module global or a parked thread, before any thread that may run), None
    (a thread that may run could reach it, the walk gave up, or unsure).
    ``met``: given the ids of the objects met, with :data:`OWN` (each held
    by nothing but ``thread`` and those met: its target's object, say)."""
    frames: list[Any] = []
    current = sys._current_frames()
    frame = current.get(thread.ident) if thread.ident is not None else None
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    # Its frames' variables are the thread's own too, in the dict a frame
    # keeps for them once read (3.10-3.12): the walk meets them holding what
    # the thread waits on, and the collector shows no referrer of them.
    variables = [d for d in map(kept_locals, frames) if d is not None]
    own = {id(thread), *map(id, frames), *map(id, variables)}
    frontier: tuple[object, ...] = (target,)
    seen = {id(target), id(frames), id(variables)}
    # The walk's own containers hold what it looks at: never links, and
    # alive until it returns, so no other object takes their ids.
    kept: list[object] = [frames]
    try:
        others = _Others(own, current, target)
        # The walk climbs back to the thread through its own objects (its
        # target, what that is bound to): their referrers in one scan of the
        # heap, not one scan a level; the thread's own are asked with them,
        # for the verdict's next searches (is it a singleton?) within the
        # same stop (see ``remembering``).
        way = between((thread,), target, _NEAR, _NEAR_MAX)
        kept += [way, frontier]
        seen.update((id(way), id(frontier)))
        # Met only objects on the thread's own way down to the target: each
        # is alive while the thread is (none garbage, whose finaliser could
        # set it), and garbage holding one would have been met as well.
        reached = set(map(id, way))
        mine = True
        with remembering():
            referrers_of((thread, *way), kept, seen)
            for _ in range(_LEVELS):
                ids = set(map(id, frontier))
                if not ids.isdisjoint(others.awake):
                    return None  # a variable of a thread that may run: it may wake it
                up = _up(referrers_of(frontier, kept, seen), own, seen, others)
                if up is None or len(up) > _WIDTH:
                    return None
                if up is _ROOT or not ids.isdisjoint(others.asleep):
                    return ROOTED
                if not up:
                    if mine and met is not None:
                        met.update(reached)
                    return OWN if mine else ALONE
                mine = mine and reached.issuperset(map(id, up))
                kept.append(up)
                seen.add(id(up))
                frontier = tuple(up)
        return None
    except Exception:  # a refinement: waiting decides
        return None
    finally:
        kept.clear()
        current.clear()  # it holds this frame: no cycle through its variables
        del frontier


class _Others:
    """What the other threads' frames hold in their variables (the collector
    does not show a running frame's locals as a referrer), apart for those
    that may run (``awake``) and those parked (``asleep``, with the ids of
    their frames and of the dicts their variables are kept in): a parked
    thread, like a module global, wakes no one while no thread runs.  The
    thread's own frames (``own``) and leakwatch's are left out (never read:
    reading a frame's variables makes it keep them in a dict, 3.10-3.12,
    a referrer of each that every later walk would scan the heap for).  A
    frame running a module's own code has the module's globals for its
    variables: left to the walk, which meets the module.

    A thread parked on ``target`` from inside ``with condition:`` (every
    ``Event.wait``, ``Queue.get``) keeps the bound ``__exit__`` of that
    ``with`` on its frame's stack, which the collector shows as a referrer
    of the condition with no referrer of its own: as many of them as there
    are threads parked on it (this one and the others) are theirs
    (:meth:`stack_exits`), with no scan of the heap to find nothing above."""

    def __init__(self, own: set[int], current: dict[int, Any], target: object) -> None:
        self.awake: set[int] = set()
        self.asleep: set[int] = set()
        self.asleep_frames: set[int] = set()
        self.target, self.exits = id(target), 1
        threads = {t.ident: t for t in threading.enumerate()}
        for ident, top in current.items():
            thread = threads.get(ident)
            condition = parked_on(thread, current) if thread is not None else None
            sleeping = condition is not None
            self.exits += id(condition) == self.target and id(top) not in own
            held = self.asleep if sleeping else self.awake
            frame: types.FrameType | None = top
            while frame is not None:
                if id(frame) not in own and not own_frame(frame):
                    if not runs_module_code(frame):  # else its globals: the walk's
                        held.update(map(id, frame_locals(frame).values()))
                    if sleeping:
                        self.asleep_frames.add(id(frame))
                        if (kept := kept_locals(frame)) is not None:
                            self.asleep.add(id(kept))  # 3.13 keeps none: ``names`` is a copy
                frame = frame.f_back
        del top, frame, threads, condition

    def stack_exits(self, referrers: list[object]) -> set[int]:
        """The ids of the bound ``__exit__`` methods of a ``with`` on the
        target among ``referrers``, if no more than the threads parked on it
        (see above; more: one is someone else's, and none is told apart)."""
        found = {
            id(obj)
            for obj in referrers
            if type(obj) is types.MethodType
            and obj.__func__ is _CONDITION_EXIT
            and id(obj.__self__) == self.target
        }
        return found if len(found) <= self.exits else set()


#: :func:`_up`'s answer when a module global holds a level's object.
_ROOT: list[object] = []


def _up(
    referrers: list[object], own: set[int], seen: set[int], others: _Others
) -> list[object] | None:
    """The next level to walk; None when one of ``referrers`` is the frame of
    a thread that may run, :data:`_ROOT` when none is and a module global
    (a module's dict, a module, a class) or a parked thread's frame holds
    one."""
    up: list[object] = []
    rooted = False
    exits = others.stack_exits(referrers)
    for obj in referrers:
        if id(obj) in seen or id(obj) in own:
            continue
        seen.add(id(obj))
        if isinstance(obj, types.FrameType):
            if own_frame(obj):
                continue  # leakwatch's own, looking
            if id(obj) not in others.asleep_frames:
                return None  # another thread's frame (or the settling thread's)
            rooted = True
        elif id(obj) in others.asleep:
            rooted = True
        elif id(obj) in exits:
            continue
        elif isinstance(obj, (type, types.ModuleType)) or _module_dict(obj):
            rooted = True
        else:
            up.append(obj)
    return _ROOT if rooted else up


def _module_dict(obj: object) -> bool:
    if not isinstance(obj, dict):
        return False
    module = sys.modules.get(str(obj.get("__name__")))
    return module is not None and getattr(module, "__dict__", None) is obj
