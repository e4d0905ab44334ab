"""Process-wide singletons: objects a module global holds through attributes alone.

A library that starts a loop thread on first use, opens one connection for
the process or keeps one pipe to a helper process binds it to a module
global, or to an attribute of an object or class bound to one
(``_handler._thread``, ``Client._instance._sock``).  A registry that grows
keeps its entries in a container instead (``POOL['main']``, ``_conns[3]``).
:func:`singletons` tells the first apart: for each target, the dotted name
of a global that reaches it through attributes only, never through an item
of a list, dict or set.

One call cannot tell a singleton made on first use from a leak: ``watch()``
reports these as information, and the pytest plugin fails only the second
one a suite makes (``_pytest/firstuse.py``).  Nothing here keeps a target
alive once it returns.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from leakwatch._attribution.refcounts import held_only_by
from leakwatch._attribution.referrers import referrers_of
from leakwatch._attribution.roots import FrameDicts, creator_modules
from leakwatch._base.pyversion import referents

#: Modules whose globals are machinery, not owners: they reach every thread,
#: task, test or fixture value by design.
_MACHINERY = (
    "leakwatch",
    "threading",
    "asyncio",
    "concurrent",
    "_pytest",
    "pytest",
    "pluggy",
    "importlib",
    "sys",
    "gc",
    "builtins",
    "weakref",
    "_weakrefset",
    "typing",
    "functools",
    "abc",
    "selectors",
    "socket",
    "_thread",
    "__main__",
    "__mp_main__",  # multiprocessing's name for the same main module
)
_SKIP = (
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.CodeType,
    type(None),
    str,
    bytes,
    int,
    float,
    bool,
)
MAX_DEPTH = 4


def singletons(
    targets: Sequence[object], *, time_budget: float = 0.2, max_depth: int = MAX_DEPTH
) -> dict[int, str]:
    """``id(target) -> "module.NAME.attr"`` for targets a global holds through attributes only.

    Breadth-first from every module global (machinery modules left out),
    through instance and class attributes and bound methods' ``__self__``,
    at most ``max_depth`` hops, within ``time_budget`` seconds.
    """
    return search_singletons(targets, time_budget=time_budget, max_depth=max_depth)[0]


def search_singletons(
    targets: Sequence[object],
    *,
    time_budget: float = 0.2,
    max_depth: int = MAX_DEPTH,
    own: Iterable[object] = (),
) -> tuple[dict[int, str], set[int]]:
    """:func:`singletons`, and the ids of the targets the search proved are
    none (the rest of those not found: the time budget ran out first).
    ``own``: the caller's other lists and tuples holding targets."""
    found: dict[int, str] = {}
    asked = {id(t) for t in targets}
    wanted = _attribute_held(targets, own)
    if not wanted or not _below_a_global([t for t in targets if id(t) in wanted]):
        return found, asked
    deadline = time.thread_time() + time_budget  # CPU time: the load does not cut it short
    # First the modules that made them (a library's first use keeps what it
    # made in its own global), every depth; then the other modules, breadth
    # first (what the makers' reach within max_depth was walked already).
    makers = creator_modules(targets)
    made = set(makers)
    rest = [name for name in list(sys.modules) if name not in made]
    for names in (makers, rest):
        if not _walk(names, wanted, found, deadline, max_depth):
            return found, asked - wanted
        if len(found) == len(wanted):
            break
    return found, asked - set(found)


def _walk(
    names: list[str], wanted: set[int], found: dict[int, str], deadline: float, max_depth: int
) -> bool:
    """Walk the attributes of modules ``names`` breadth first, filling
    ``found``; False when the time ran out first."""
    seen: set[int] = set()
    level: list[tuple[object, str]] = []
    for modname in names:
        module = sys.modules.get(modname)
        if modname.partition(".")[0] in _MACHINERY or not isinstance(module, types.ModuleType):
            continue
        try:
            items = list(vars(module).items())
        except Exception:
            continue
        for name, value in items:
            if name.startswith("__") or issubclass(type(value), _SKIP):
                continue
            if id(value) in wanted:
                found.setdefault(id(value), f"{modname}.{name}")
            if id(value) not in seen:
                seen.add(id(value))
                level.append((value, f"{modname}.{name}"))
    depth = 1
    while level and depth < max_depth and len(found) < len(wanted):
        nxt: list[tuple[object, str]] = []
        for obj, path in level:
            if time.thread_time() > deadline:
                return False
            for name, value in _attributes(obj):
                if issubclass(type(value), _SKIP) or id(value) in seen:
                    continue
                seen.add(id(value))
                where = f"{path}.{name}"
                if id(value) in wanted:
                    found.setdefault(id(value), where)
                nxt.append((value, where))
        level = nxt
        depth += 1
    return True


#: Referrers that never hold what they refer to as an attribute: containers
#: (their items are not attributes), frames, suspended generators and
#: coroutines (their frame's variables) and closure cells (functions are
#: not walked).  A target only these refer to is no singleton, and proving
#: that by the search below would walk every module's attributes.
_NOT_ATTRIBUTES = (
    list,
    tuple,
    set,
    frozenset,
    types.FrameType,
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    types.CellType,
)


def _attribute_held(targets: Sequence[object], own: Iterable[object] = ()) -> set[int]:
    """The ids of targets that something could hold as an attribute (a
    namespace by name, slots, a bound method itself held so): one pass over
    the collector's objects (two when bound methods refer to a target),
    instead of a whole search for each target held in a list or by nobody
    (the usual leak: ``KEPT.append(sock)``, a thread nothing refers to)."""
    wanted = {id(t) for t in targets}
    if not wanted:
        return wanted
    try:
        # Held only in lists of the module that made it (and leakwatch's): no scan.
        wanted -= held_only_by(targets, own, creator_modules(targets))
        if not wanted:
            return wanted
        held, methods = _held_by_name([t for t in targets if id(t) in wanted])
        if methods and len(held) < len(wanted):
            # A bound method holds its object as ``__self__``: an attribute
            # only if the method is held so in turn (a thread's ``_bootstrap``
            # is held by the interpreter's thread state alone).
            kept, _ = _held_by_name(methods)
            held.update(id(m.__self__) for m in methods if id(m) in kept)
    except Exception:  # the search decides alone
        return wanted
    return held


#: How far up :func:`_below_a_global` looks (a hop through a ``__dict__`` is
#: a level of its own), and how many holders a level may have before it
#: stops looking and lets the search decide.
_UP_LEVELS, _UP_WIDTH = 2 * MAX_DEPTH, 256


def _below_a_global(targets: Sequence[object]) -> bool:
    """Whether a module global (not machinery's) may hold ``targets``
    through objects and namespaces: a walk up the collector's referrers,
    one heap scan a level, that leaves out what holds no attribute (lists,
    frames, registries keyed by number).  False only when the holders run
    out first: the search from every global (tens of milliseconds on a
    large heap) could not find them either, as when only a leaked thread
    holds its own target."""
    frontier: tuple[object, ...] = tuple(targets)
    seen = set(map(id, frontier))
    # The walk's own containers: never holders, alive until it returns.
    kept: list[object] = []
    frame_dicts = FrameDicts(targets)
    started: set[int] = set()
    try:
        for _ in range(_UP_LEVELS):
            referrers = referrers_of(frontier, kept, seen)
            up: list[object] = []
            kept.append(up)
            seen.add(id(up))
            for holder in referrers:
                if id(holder) in seen or isinstance(holder, _NOT_ATTRIBUTES):
                    continue
                seen.add(id(holder))
                if isinstance(holder, types.MethodType) and _thread_runs_it(
                    holder, holder.__self__, started
                ):
                    continue
                if isinstance(holder, dict):
                    if holder in frame_dicts:
                        continue
                    name = holder.get("__name__")
                    module = sys.modules.get(name) if isinstance(name, str) else None
                    if module is not None and getattr(module, "__dict__", None) is holder:
                        if str(name).partition(".")[0] not in _MACHINERY:
                            return True
                        continue
                    if not all(isinstance(key, str) for key in list(holder)):
                        continue  # a registry holds items, not attributes
                up.append(holder)
            if len(up) > _UP_WIDTH:
                return True
            if not up:
                return False
            frontier = tuple(up)
        return True
    except Exception:  # the search decides
        return True
    finally:
        kept.clear()
        del frontier


def _held_by_name(objs: Sequence[object]) -> tuple[set[int], list[types.MethodType]]:
    """The ids of ``objs`` some referrer holds by name or in a slot, and the
    bound methods that refer to any of them."""
    wanted = {id(o) for o in objs}
    held: set[int] = set()
    methods: list[types.MethodType] = []
    started: set[int] = set()  # threads whose own _bootstrap was met
    frame_dicts = FrameDicts(objs)
    kept: list[object] = []  # the search's own containers (see referrers_of)
    referrers = referrers_of(tuple(objs), kept, set())
    try:
        for referrer in referrers:
            if isinstance(referrer, _NOT_ATTRIBUTES):
                continue
            if isinstance(referrer, types.MethodType):
                owner = referrer.__self__
                if id(owner) not in wanted:
                    continue
                if _thread_runs_it(referrer, owner, started):
                    continue
                methods.append(referrer)
                continue
            if isinstance(referrer, dict):
                if referrer in frame_dicts:
                    continue  # a frame's variables: no attributes
                # A namespace holds by name; a registry by number or object
                # (``threading._active`` by ident) holds no attribute.
                values = [v for k, v in list(referrer.items()) if isinstance(k, str)]
            else:
                values = referents(referrer)
            held.update(id(v) for v in values if id(v) in wanted)
    finally:
        kept.clear()
        del referrers
    return held, methods


def _thread_runs_it(method: types.MethodType, owner: object, started: set[int]) -> bool:
    """Whether ``method`` is the ``_bootstrap`` a started thread runs: the
    interpreter's thread state holds that one bound method for the thread's
    life, and nothing else does (looking for its referrers would scan the
    heap again for nothing).  A second one is somebody's: it is looked at."""
    if (
        getattr(method, "__func__", None) is not _BOOTSTRAP
        or not isinstance(owner, threading.Thread)
        or id(owner) in started
        or not owner.is_alive()
    ):
        return False
    started.add(id(owner))
    return True


_BOOTSTRAP = threading.Thread._bootstrap  # type: ignore[attr-defined]


def _attributes(obj: object) -> Iterator[tuple[str, Any]]:
    """The attributes an object holds in itself: its ``__dict__``, its slots,
    a bound method's ``__self__``.  Containers have none (their items are not
    attributes), nor have modules (reached as globals already).

    Only ``type()`` and ``object.__getattribute__``: a proxy's ``__class__``
    or ``__getattr__`` (user code) never runs.
    """
    cls = type(obj)
    if cls is types.MethodType:
        yield "__self__", object.__getattribute__(obj, "__self__")
        return
    if issubclass(cls, (list, tuple, dict, set, frozenset, types.ModuleType)):
        return
    try:
        attrs = object.__getattribute__(obj, "__dict__")
    except Exception:
        attrs = None
    if isinstance(attrs, (dict, types.MappingProxyType)):
        yield from list(attrs.items())
    if issubclass(cls, type):
        return
    for klass in cls.__mro__[:-1]:
        slots = klass.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots or ():
            if isinstance(slot, str) and slot not in ("__dict__", "__weakref__"):
                try:
                    yield slot, object.__getattribute__(obj, slot)
                except Exception:
                    continue
