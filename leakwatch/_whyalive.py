"""Why is it still alive: the shortest chain of references from a root to an object.

:func:`find_chains` answers "what holds this?" the way LeakCanary does: a
breadth-first search forward from the roots a Python program keeps alive,

- the globals of every module in :data:`sys.modules` (``app.db.POOL``), and
  through them the attributes of classes (``app.db.Conn.instances``),
- the locals of every live frame of every thread,
- the locals of suspended asyncio task coroutines,

rendered as one readable line per object::

    app.db.POOL['main'] -> Conn._sock
    frame of worker() in app/poll.py:12 (thread 'poller') local 'conn'
    app.bus.CALLBACKS[0] -> bound method Conn.on_data

:func:`culprits` splits a set of leaked objects into culprits and victims
(Valgrind's direct / indirect): ``(holder, 9, 1472)`` reads "holder, and 9
more objects of the set, 1472 bytes, alive only because of it".

Neither function keeps anything alive after it returns: the search holds
object ids in plain sets and the visited objects only in local lists.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import types
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import chain
from typing import Any

__all__ = ["culprits", "find_chains"]

# Referents are fetched for this many objects in one C call: large enough that
# the per-call overhead vanishes, small enough to check the clock often and to
# rescan a single chunk when a path is rebuilt.
_CHUNK = 2048
_BULK = 65536  # referents processed in one go; a container with an eighth of it is huge
_MAX_SEGMENTS = 6
_OWN_PACKAGE = __name__.partition(".")[0]

_Path = list[object]
_Levels = list[list[object]]
_Groups = tuple[list[int], list[Sequence[int]]]  # (ends in the next level, parents)
_Labels = dict[int, tuple[object, str]]  # root id -> (module, frame or coroutine; its label)


def find_chains(
    targets: Sequence[object],
    *,
    max_depth: int = 16,
    time_budget: float = 0.5,
    exclude: Iterable[object] = (),
) -> dict[int, str]:
    """``id(target) -> rendered chain`` from the nearest root, for each target found.

    The search stops when every target is found, after ``max_depth`` hops or
    after ``time_budget`` seconds; targets not found are left out.  Objects in
    ``exclude`` (say, your own containers or ``sys._getframe()``) are neither
    roots nor links.  Frames of leakwatch itself are never roots.

    >>> REGISTRY = {"main": conn}                       # in module app.db
    >>> find_chains([conn._sock])[id(conn._sock)]
    "app.db.REGISTRY['main'] -> Conn._sock"
    """
    deadline = time.perf_counter() + time_budget
    excluded = [*exclude]
    seen = {id(targets), id(exclude), id(excluded), *map(id, excluded)}
    with _gc_paused():
        roots, labels = _roots(seen)
        wanted = set(map(id, targets)) - seen
        keep = _keeper(targets, wanted)
        levels, groups, found = _search(roots, seen, wanted, keep, deadline, max_depth)
    del roots
    try:
        chains = {}
        for tid, (level, pos) in found.items():
            path = _path(levels, groups, level, pos)
            if path is not None:
                chains[tid] = _render(path, labels)
        return chains
    finally:
        levels.clear()  # a traceback through here must not pin the heap
        labels.clear()


def culprits(
    objects: Sequence[object], *, time_budget: float = 0.2
) -> list[tuple[object, int, int]]:
    """The objects of a leaked set that are not held only by other members of the set.

    Returns ``(culprit, n_indirect, indirect_bytes)`` in input order, where
    ``n_indirect`` counts the members reachable from the culprit and from no
    earlier culprit, and ``indirect_bytes`` sums their ``sys.getsizeof``.  Of a
    cycle of members held by nothing else the first one is the culprit.  Paths
    through classes, modules and module globals do not count: every instance
    reaches its class, and through it half the program.  Members the budget
    leaves unexplored count as culprits with nothing indirect.
    """
    index = {id(o): i for i, o in enumerate(objects)}
    blocked = {id(objects), id(sys.modules)}
    for mod in list(sys.modules.values()):
        blocked.update((id(mod), id(getattr(mod, "__dict__", None))))
    keep = _keeper(objects, set(index), lambda k: not isinstance(k, type))
    end = time.perf_counter() + time_budget
    below: list[set[int]] = []  # members reached from each member, not through another
    with _gc_paused():
        for i, obj in enumerate(objects):
            # An equal share of what is left, so one member with a huge subgraph
            # cannot starve the others.
            now = time.perf_counter()
            share = now + max(0.0, end - now) / (len(objects) - i)
            wanted = set(index) - {id(obj)}
            levels, _, found = _search([obj], {*blocked, id(obj)}, wanted, keep, share, 64, True)
            levels.clear()
            below.append({index[m] for m in found})
    reach = [_closure(i, below) for i in range(len(objects))]
    dominated = {j for i, r in enumerate(reach) for j in r if i not in reach[j]}
    chosen: list[int] = []
    for i in range(len(objects)):
        if i not in dominated and not any(i in reach[c] for c in chosen):
            chosen.append(i)
    taken = set(chosen)
    result: list[tuple[object, int, int]] = []
    for c in chosen:
        victims = sorted(reach[c] - taken)
        taken.update(victims)
        size = sum(sys.getsizeof(objects[j]) for j in victims)
        result.append((objects[c], len(victims), size))
    return result


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No collection mid-search: on a big heap one full pass costs as much as the search."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _closure(start: int, below: list[set[int]]) -> set[int]:
    reach: set[int] = set()
    todo = list(below[start])
    while todo:
        j = todo.pop()
        if j not in reach:
            reach.add(j)
            todo.extend(below[j])
    reach.discard(start)
    return reach


def _keeper(
    targets: Sequence[object], wanted: set[int], extra: Callable[[object], bool] | None = None
) -> Callable[[object], bool]:
    """Which referents to follow.

    An untracked container holds only untracked objects, so while every target
    is tracked the search skips every untracked referent (strings, numbers,
    atomic tuples and dicts), in C: most of a heap.
    """
    if extra is None and all(map(gc.is_tracked, targets)):
        return gc.is_tracked
    return lambda k: (
        id(k) in wanted
        or ((gc.is_tracked(k) or type(k) in (tuple, dict)) and (extra is None or extra(k)))
    )


def _roots(seen: set[int]) -> tuple[list[object], _Labels]:
    """Level 0 of the search, best roots first (ties prefer the earlier root).

    Module dicts come first, so a global beats a frame local at equal depth;
    modules themselves, ``sys.modules`` and ``gc.garbage`` are marked seen so
    a global is rooted at its own module, never at ``sys.modules['x']``.
    """
    roots: list[object] = []
    labels: _Labels = {}
    seen.update((id(sys.modules), id(gc.garbage)))

    def add(obj: object, owner: object, label: str) -> None:
        if id(obj) not in seen:
            seen.add(id(obj))
            roots.append(obj)
            labels[id(obj)] = (owner, label)

    for name, mod in list(sys.modules.items()):
        if isinstance(mod, types.ModuleType):
            seen.add(id(mod))
            add(vars(mod), mod, name)
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        f: types.FrameType | None = frame
        while f is not None:
            module = str(f.f_globals.get("__name__", ""))
            if id(f) not in seen and module.partition(".")[0] != _OWN_PACKAGE:
                # gc.get_referents() does not show a running frame's locals; f_locals
                # does (on 3.11-3.12 by leaving a snapshot dict on the frame, as pdb does).
                add(f.f_locals, f, f"(thread {names.get(ident, ident)!r})")
            seen.add(id(f))
            f = f.f_back
    tasks: list[Any] = []
    for attr in ("_all_tasks", "_scheduled_tasks", "_eager_tasks"):  # 3.10-3.11, 3.12+
        with suppress(Exception):  # best effort: a WeakSet may change size under us
            tasks.extend(getattr(sys.modules.get("asyncio.tasks"), attr, ()))
    for task in tasks:
        coro = task.get_coro()
        while isinstance(coro, (types.CoroutineType, types.GeneratorType)):
            # A coroutine running now is already rooted at its thread's frame.
            cframe = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if cframe is not None and id(cframe) not in seen:
                add(coro, coro, f"task {task.get_name()!r}")
            coro = coro.cr_await if isinstance(coro, types.CoroutineType) else coro.gi_yieldfrom
    return roots, labels


def _search(
    start: list[object],
    seen: set[int],
    wanted: set[int],
    keep: Callable[[object], bool],
    deadline: float,
    max_depth: int,
    stop_at_wanted: bool = False,
) -> tuple[_Levels, list[_Groups], dict[int, tuple[int, int]]]:
    """Breadth-first search; returns the levels, their groups and where each hit sits.

    Level ``L`` is expanded a group of parents at a time; ``groups[L]`` keeps
    each group's parents (positions in level ``L``) and where its children end
    in level ``L+1``, so a path is rebuilt by rescanning one group per hop
    instead of storing a parent for every object visited.  Huge containers are
    expanded last in their level: a registry's entries are then searched
    before a cache's million, and the path stays a shortest one.
    """
    levels: _Levels = [start]
    groups: list[_Groups] = []
    found: dict[int, tuple[int, int]] = {}

    def over() -> bool:
        return not wanted or time.perf_counter() > deadline

    while len(levels) <= max_depth and levels[-1] and not over():
        frontier, nxt, big = levels[-1], list[object](), list[int]()
        ends, members = list[int](), list[Sequence[int]]()
        chunks = (range(s, min(s + _CHUNK, len(frontier))) for s in range(0, len(frontier), _CHUNK))
        for idx in chain(chunks, ([q] for q in big)):
            refs = gc.get_referents(*[frontier[q] for q in idx])
            if len(refs) > _BULK and len(idx) > 1:
                sizes = [len(gc.get_referents(frontier[q])) for q in idx]
                if max(sizes) > _BULK // 8:
                    big.extend(q for q, n in zip(idx, sizes, strict=True) if n > _BULK // 8)
                    idx = [q for q, n in zip(idx, sizes, strict=True) if n <= _BULK // 8]
                    refs = gc.get_referents(*[frontier[q] for q in idx])
            members.append(idx)
            for k in range(0, len(refs), _BULK):
                kids = list(filter(keep, refs[k : k + _BULK]))
                new = dict(zip(map(id, kids), kids, strict=True))
                for i in seen.intersection(new):
                    del new[i]
                seen.update(new)
                hits = [h for h in wanted if h in new]  # wanted is small, new may be huge
                if hits:
                    order = list(new)
                    for h in hits:
                        found[h] = (len(levels), len(nxt) + order.index(h))
                        if stop_at_wanted:
                            del new[h]  # positions are not needed there
                    wanted = wanted.difference(hits)
                nxt.extend(new.values())
                if over():
                    break
            ends.append(len(nxt))
            if over():
                break
        groups.append((ends, members))
        levels.append(nxt)
    return levels, groups, found


def _path(levels: _Levels, groups: list[_Groups], level: int, pos: int) -> _Path | None:
    child = levels[level][pos]
    path = [child]
    while level > 0:
        ends, members = groups[level - 1]
        parents = members[bisect_right(ends, pos)]
        above = levels[level - 1]
        q = next((q for q in parents if id(child) in map(id, gc.get_referents(above[q]))), -1)
        if q < 0:
            return None  # another thread changed the heap since
        level, pos, child = level - 1, q, above[q]
        path.append(child)
    path.reverse()
    return path


def _render(path: _Path, labels: _Labels) -> str:
    segs = [""]
    i = _root(path, *labels[id(path[0])], segs)
    while i < len(path) - 1:
        i = _hop(path, i, segs)
    if len(segs) > _MAX_SEGMENTS:
        segs = [*segs[:2], "...", *segs[-3:]]
    return " -> ".join(segs)


def _root(path: _Path, owner: object, label: str, segs: list[str]) -> int:
    """Render the root and the first hop; return the index of the next parent."""
    root, value = path[0], path[1]
    if isinstance(owner, types.ModuleType) and isinstance(root, dict):
        segs[0] = _global(label, root, value)
        return 1
    if isinstance(value, types.CellType) and len(path) > 2:
        value = path[2]  # a coroutine holds its cell variables through cells
    segs[0] = _frame_local(owner, value, label)
    return 2 if value is not path[1] else 1


def _global(modname: str, namespace: dict[str, object], value: object) -> str:
    # Classes and functions are named where they are defined, not where imported.
    if isinstance(value, (type, types.FunctionType)):
        qual, where = value.__qualname__, value.__module__
        obj: object = sys.modules.get(where)
        try:
            for part in qual.split("."):
                obj = getattr(obj, "__dict__", {}).get(part)
        except Exception:  # an odd __dict__: fall back to the name in this module
            obj = None
        if obj is value:
            return f"{where}.{qual}"
    name = next((k for k, v in list(namespace.items()) if v is value), "?")
    return f"{modname}.{name}"


def _frame_local(holder: object, value: object, label: str) -> str:
    frame = getattr(holder, "gi_frame", None) or getattr(holder, "cr_frame", None) or holder
    if not isinstance(frame, types.FrameType):
        return f"{label} {type(holder).__name__}"
    code = frame.f_code
    try:
        name = next((f"local {k!r}" for k, v in frame.f_locals.items() if v is value), "temporary")
    except Exception:
        name = "temporary"
    where = f"{code.co_name}() in {_relpath(code.co_filename)}:{frame.f_lineno}"
    if label.startswith("("):  # a thread's frame: "frame of f() in x.py:3 (thread 'main')"
        return f"frame of {where} {label} {name}"
    if isinstance(holder, types.CoroutineType):
        where = f"coroutine {where}"
    return f"{label} {where} {name}" if label else f"<{name} of {where}>"


def _hop(path: _Path, i: int, segs: list[str]) -> int:
    """Render path[i] -> path[i+1] (folding bookkeeping hops); return the next index."""
    parent, child = path[i], path[i + 1]
    after = path[i + 2] if i + 2 < len(path) else None
    if isinstance(child, dict) and after is not None and _owns(parent, child):
        key = next((k for k, v in list(child.items()) if v is after), "?")
        if isinstance(parent, type):
            segs[-1] += f".{key}"
        else:
            segs.append(f"{_name(parent)}.{key}")
        return i + 2
    if isinstance(parent, types.FunctionType) and parent.__closure__ is child and len(path) > i + 3:
        cells = [id(c) for c in parent.__closure__ or ()]
        var = parent.__code__.co_freevars[cells.index(id(path[i + 2]))]
        segs.append(f"<closure var {var!r} of {parent.__qualname__}>")
        return i + 3
    if isinstance(parent, dict):
        key = next((k for k, v in list(parent.items()) if v is child), _NO_KEY)
        segs[-1] += "{...}" if key is _NO_KEY else f"[{_short(key)}]"
    elif isinstance(parent, (list, tuple, deque)):
        segs[-1] += f"[{next((j for j, v in enumerate(parent) if v is child), '?')}]"
    elif isinstance(parent, (set, frozenset)):
        segs[-1] += "{...}"
    elif isinstance(parent, types.MethodType) and child is parent.__self__:
        segs.append(f"bound method {_name(child)}.{parent.__func__.__name__}")
    elif isinstance(parent, (types.FrameType, types.CoroutineType, types.GeneratorType)):
        segs.append(_frame_local(parent, child, ""))
    elif isinstance(parent, types.CellType):
        segs[-1] += ".cell_contents"
    else:
        attr = _attr(parent, child)
        if attr is None:
            segs.append(f"<referent of {type(parent).__name__}>")
        elif isinstance(parent, (type, types.FunctionType, types.MethodType)):
            segs[-1] += f".{attr}"
        else:
            segs.append(f"{_name(parent)}.{attr}")
    return i + 1


_NO_KEY = object()
_SPECIAL: tuple[str, ...] = (
    *("__defaults__", "__kwdefaults__", "__func__", "__mro__", "__bases__", "__class__"),
    *("tb_frame", "tb_next", "__traceback__", "__cause__", "__context__"),
)


def _owns(owner: object, d: dict[object, object]) -> bool:
    """Whether ``d`` is ``owner.__dict__`` (for a class: the dict behind its mappingproxy)."""
    try:
        own = object.__getattribute__(owner, "__dict__")
    except Exception:
        return False
    if isinstance(own, types.MappingProxyType):
        return any(r is d for r in gc.get_referents(own))
    return own is d


def _attr(parent: object, child: object) -> str | None:
    """The attribute of ``parent`` that is ``child``: ``__dict__``, ``__slots__`` or special."""
    try:
        own = object.__getattribute__(parent, "__dict__")
        found = next((k for k, v in list(own.items()) if v is child), None)
        if found is not None:
            return str(found)
    except Exception:
        pass
    for klass in type(parent).__mro__:
        slots = vars(klass).get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            name = f"_{klass.__name__.lstrip('_')}{slot}" if slot.startswith("__") else slot
            desc = vars(klass).get(name)
            try:
                if isinstance(desc, types.MemberDescriptorType) and desc.__get__(parent) is child:
                    return str(slot)
            except AttributeError:  # an empty slot
                continue
    for name in _SPECIAL:  # object.__getattribute__: never a user's __getattr__
        with suppress(Exception):
            if object.__getattribute__(parent, name) is child:
                return name
    return None


def _name(obj: object) -> str:
    return type(obj).__qualname__


def _short(key: object) -> str:
    text = repr(key)
    return text if len(text) <= 40 else text[:37] + "..."


def _relpath(filename: str) -> str:
    try:
        rel = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return filename
    return filename if rel.startswith("..") else rel
