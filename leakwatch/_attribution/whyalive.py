"""Why is it still alive: the shortest chain of references from a root to an object.

:func:`find_chains` answers "what holds this?" as LeakCanary does, searching
breadth-first from the roots: module globals (and through them class
attributes), locals of every thread's live frames, and locals of suspended
asyncio tasks.  One line per object::

    app.db.POOL['main'] -> Conn._sock
    frame of worker() in app/poll.py:12 (thread 'poller') local 'conn'

:func:`culprits` splits a leaked set into culprits and victims (Valgrind's
direct / indirect).  Neither keeps anything alive once it returns, except one
CPython effect: before 3.13 reading a running frame's ``f_locals`` leaves a
snapshot dict on the frame (as pdb does) until it syncs again or returns
(3.13's PEP 667 proxy leaves nothing; see ``_pyversion.frame_locals``).
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import types
import weakref
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import chain
from typing import Any

from leakwatch._base.frames import short_path
from leakwatch._base.pyversion import all_tasks, frame_locals

__all__ = ["culprits", "find_chains"]

# Referents are fetched for this many parents per C call: enough that the call
# overhead vanishes, few enough to check the clock often and to rescan one
# group per hop when a path is rebuilt.
_CHUNK = 2048
_BULK = 65536  # referents handled in one go; a container with an eighth of it is "huge"
_OWN_PACKAGE = __name__.partition(".")[0]
_SPECIAL = ["__defaults__", "__kwdefaults__", "__func__", "__mro__", "__bases__", "__class__"]
_SPECIAL += ["tb_frame", "tb_next", "__traceback__", "__cause__", "__context__"]
_SPECIAL += ["func", "args", "keywords"]  # functools.partial

_Levels = list[list[object]]
_Groups = tuple[list[int], list[Sequence[int]]]  # per group: end in the next level, parents
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
    after ``time_budget`` seconds; targets not found are left out.  A hop is
    one segment of the chain as shown: ``obj -> obj.__dict__ -> value`` is
    one (``Type.attr``), whether or not this Python keeps instance attributes
    in a separate dict.  Objects in
    ``exclude`` (your own containers, ``sys._getframe()``) are neither roots
    nor links; frames of leakwatch itself are never roots.  Of two equally
    short chains, one from a module global wins over one from a frame.
    For ``POOL = {"main": conn}`` in ``app.db``, ``find_chains([conn._sock])``
    gives ``{id(conn._sock): "app.db.POOL['main'] -> Conn._sock"}``.
    """
    deadline = time.perf_counter() + time_budget
    excluded = [*exclude]
    seen = {id(targets), id(exclude), id(excluded), *map(id, excluded)}
    with _gc_paused():
        roots, labels = _roots(seen)
        wanted = set(map(id, targets)) - seen
        keep = _keeper(targets, wanted)
        # A hop may take two levels (an attribute through a separate __dict__,
        # a generator through its frame): search twice as deep, then keep
        # the chains whose hops as shown are within max_depth.
        levels, groups, found = _search(roots, seen, wanted, keep, deadline, 2 * max_depth)
    del roots, excluded
    chains = {}
    try:
        for tid, (level, pos) in found.items():
            path = _path(levels, groups, level, pos)
            with suppress(Exception):  # a user's __repr__ may raise: no chain, no crash
                if path is not None:
                    segs, hops = _segments(path, labels)
                    if hops <= max_depth:
                        chains[tid] = _join(segs)
        return chains
    finally:
        levels.clear()  # a traceback through here must not pin the heap
        labels.clear()


def culprits(
    objects: Sequence[object], *, time_budget: float = 0.2
) -> list[tuple[object, int, int]]:
    """The members of a leaked set that are not alive only through other members.

    Returns ``(culprit, n_indirect, indirect_bytes)`` in input order:
    ``n_indirect`` members are reachable from the culprit (and from no earlier
    culprit), ``indirect_bytes`` sums their ``sys.getsizeof``.  Of a cycle held
    by nothing else in the set, the first member is the culprit.  Links through
    classes and modules do not count (every instance reaches its class, and
    through it half the program); members the budget leaves unexplored are
    culprits with nothing indirect.
    """
    index = {id(o): i for i, o in enumerate(objects)}
    blocked = {id(objects), id(sys.modules)}
    for mod in list(sys.modules.values()):
        blocked.update((id(mod), id(getattr(mod, "__dict__", None))))
    keep = _keeper(objects, set(index), lambda k: not isinstance(k, type))
    end = time.perf_counter() + time_budget
    below: list[set[int]] = []  # members each member reaches, not through another member
    with _gc_paused():
        for i, obj in enumerate(objects):
            # An equal share of the time left: one huge subgraph cannot starve the rest.
            now = time.perf_counter()
            share = now + max(0.0, end - now) / (len(objects) - i)
            wanted = set(index) - {id(obj)}
            levels, _, found = _search([obj], {*blocked, id(obj)}, wanted, keep, share, 64, True)
            levels.clear()
            below.append({index[m] for m in found})
    reach = []
    for i in range(len(objects)):
        seen, todo = set(), list(below[i])
        while todo:
            j = todo.pop()
            if j not in seen:
                seen.add(j)
                todo.extend(below[j])
        reach.append(seen - {i})
    dominated = {j for i, r in enumerate(reach) for j in r if i not in reach[j]}
    chosen: list[int] = []
    for i in range(len(objects)):
        if i not in dominated and not any(i in reach[c] for c in chosen):
            chosen.append(i)
    taken, result = set(chosen), []
    for c in chosen:
        victims = sorted(reach[c] - taken)
        taken.update(victims)
        result.append((objects[c], len(victims), sum(sys.getsizeof(objects[j]) for j in victims)))
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


def _keeper(
    targets: Sequence[object], wanted: set[int], extra: Callable[[object], bool] | None = None
) -> Callable[[object], bool]:
    # An untracked container holds only untracked objects, so while every target is
    # tracked the search skips all untracked referents (str, int, atomic tuples) in C.
    if extra is None and all(map(gc.is_tracked, targets)):
        return gc.is_tracked
    return lambda k: (
        id(k) in wanted
        or ((gc.is_tracked(k) or type(k) in (tuple, dict)) and (extra is None or extra(k)))
    )


def _roots(seen: set[int]) -> tuple[list[object], _Labels]:
    """Level 0 of the search, module dicts first: on a tie the earlier root wins.

    Modules, ``sys.modules`` and ``gc.garbage`` are marked seen, so a global
    is rooted at its own module, never at ``sys.modules['x']``; leakwatch's
    own modules and frames are neither roots nor links.
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
            if name.partition(".")[0] == _OWN_PACKAGE:  # leakwatch's state is not a reason
                seen.add(id(vars(mod)))
            add(vars(mod), mod, name)
    names = {t.ident: t.name for t in threading.enumerate()}
    top: types.FrameType | None = None
    for ident, top in sys._current_frames().items():
        f: types.FrameType | None = top
        while f is not None:
            ours = str(f.f_globals.get("__name__")).partition(".")[0] == _OWN_PACKAGE
            if id(f) not in seen and not ours:
                # gc.get_referents() does not show a running frame's locals; f_locals does.
                add(frame_locals(f), f, f"(thread {names.get(ident, ident)!r})")
            seen.add(id(f))
            f = f.f_back
    del top  # in this thread, our own frame: a cycle that would pin the caller's locals
    tasks: list[Any] = []
    with suppress(Exception):  # best effort: a registry may change size under us
        tasks = all_tasks()
    for task in tasks:
        coro = task.get_coro()
        while isinstance(coro, (types.CoroutineType, types.GeneratorType)):
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if frame is not None and id(frame) not in seen:  # else running: rooted above
                add(coro, coro, f"task {task.get_name()!r}")
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
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
    """Breadth-first search: the levels, their groups, and (level, position) of each hit.

    A level is expanded a group of parents at a time, and ``groups[L]`` keeps
    each group's parents and where its children end in level ``L+1``: a path
    is rebuilt by rescanning one group per hop instead of storing a parent for
    every object visited.  Huge containers go last in their level, so a
    registry's entries are searched before a cache's million, and every path
    found is still a shortest one.
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
                if max(sizes) > _BULK // 8:  # a huge container: expand it after the rest
                    big += [q for q, n in zip(idx, sizes, strict=True) if n > _BULK // 8]
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
                        if stop_at_wanted:  # culprits: do not search through members
                            del new[h]
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


def _path(levels: _Levels, groups: list[_Groups], level: int, pos: int) -> list[object] | None:
    path = [levels[level][pos]]
    while level > 0:
        ends, members = groups[level - 1]
        above, child = levels[level - 1], path[-1]
        parents = members[bisect_right(ends, pos)]
        pos = next((q for q in parents if id(child) in map(id, gc.get_referents(above[q]))), -1)
        if pos < 0:
            return None  # another thread changed the heap since
        level -= 1
        path.append(above[pos])
    return path[::-1]


def _segments(path: list[object], labels: _Labels) -> tuple[list[list[str]], int]:
    """The chain as segments (``root.NAME[key]``, ``Type.attr``, ``bound method
    Type.name``, ``<local 'x' of f() in a.py:3>``), and its length in hops as
    shown: ``[0][0]`` is two hops, ``obj -> obj.__dict__ -> value`` one."""
    owner, label = labels[id(path[0])]
    if isinstance(owner, types.ModuleType):
        segs = [[_global(label, path[0], path[1])]]
        i = 1
    else:
        value, i = _through_frame(owner, path, 1)
        segs = [[_frame_local(owner, value, label)]]
    hops = 1
    while i < len(path) - 1:
        i = _hop(path, i, segs)
        hops += 1
    return segs, hops


def _join(segs: list[list[str]]) -> str:
    """``root.NAME[key] -> Type.attr -> ...``, elided past six segments."""
    if len(segs) > 6:
        segs = [*segs[:2], ["..."], *segs[-3:]]
    return " -> ".join("".join(s if len(s) <= 8 else [*s[:4], "...", *s[-3:]]) for s in segs)


def _through_frame(holder: object, path: list[object], i: int) -> tuple[object, int]:
    """The variable ``holder`` (a frame, coroutine or generator) holds at ``path[i]``.

    A suspended coroutine holds its locals directly on 3.11+ and through its
    frame object on 3.10; a variable a closure shares, through its cell.
    Those hops are bookkeeping: skipped, as found, on every version.
    """
    value = path[i]
    if i + 1 < len(path) and value is _own_frame(holder) and value is not holder:
        i += 1
        value = path[i]
    if isinstance(value, types.CellType) and i + 1 < len(path):
        i += 1
        value = path[i]
    return value, i


def _own_frame(holder: object) -> object:
    for attr in ("cr_frame", "gi_frame", "ag_frame"):
        frame = getattr(holder, attr, None)
        if frame is not None:
            return frame
    return holder


def _global(modname: str, namespace: object, value: object) -> str:
    # A class or function is named where it is defined, not where it was imported.
    if isinstance(value, (type, types.FunctionType)):
        obj: object = sys.modules.get(value.__module__)
        with suppress(Exception):
            for part in value.__qualname__.split("."):
                obj = vars(obj).get(part)
            if obj is value:
                return f"{value.__module__}.{value.__qualname__}"
    return f"{modname}.{_key(namespace, value, '?')}"


def _frame_local(holder: object, value: object, label: str) -> str:
    frame = _own_frame(holder)
    if not isinstance(frame, types.FrameType):
        return f"{label} {type(holder).__name__}"
    name = "temporary"  # on the value stack, not in a variable
    with suppress(Exception):
        key = _key(frame_locals(frame), value, ...)
        name = name if key is ... else f"local {key!r}"
    code = frame.f_code
    where = f"{code.co_name}() in {short_path(code.co_filename)}:{frame.f_lineno}"
    if label.startswith("("):  # a thread's: "frame of f() in x.py:3 (thread 'main') local 'y'"
        return f"frame of {where} {label} {name}"
    where = f"coroutine {where}" if isinstance(holder, types.CoroutineType) else where
    return f"{label} {where} {name}" if label else f"<{name} of {where}>"


def _hop(path: list[object], i: int, segs: list[list[str]]) -> int:
    """Render ``path[i] -> path[i+1]``, folding bookkeeping hops; the next index.

    Every hop gets a name a person can act on: an attribute, a key, an index,
    a bound method's object, a frame's variable, a Future's callback.  A hop
    inside an object that exposes nothing (a C type's private field) reads
    ``<inside Type>``, once for a run of such hops.
    """
    parent, child = path[i], path[i + 1]
    if isinstance(child, dict) and i + 2 < len(path) and _owns(parent, child):
        key = _key(child, path[i + 2], "?")  # obj -> obj.__dict__ -> value: Type.key
        if isinstance(parent, (type, types.FunctionType)):
            segs[-1].append(f".{key}")
        else:
            segs.append([f"{type(parent).__qualname__}.{key}"])
        return i + 2
    if isinstance(parent, types.FunctionType) and parent.__closure__ is child and i + 3 < len(path):
        cells = [id(c) for c in parent.__closure__ or ()]
        var = parent.__code__.co_freevars[cells.index(id(path[i + 2]))]
        segs.append([f"<closure var {var!r} of {parent.__qualname__}>"])
        return i + 3
    if isinstance(parent, _FRAMES):
        value, nxt = _through_frame(parent, path, i + 1)
        segs.append([_frame_local(parent, value, "")])
        return nxt
    if isinstance(parent, dict):
        key = _key(parent, child, ...)
        segs[-1].append("{...}" if key is ... else f"[{_short(key)}]")  # ...: child is a key
    elif isinstance(parent, (list, tuple, deque)):
        segs[-1].append(f"[{next((j for j, v in enumerate(parent) if v is child), '?')}]")
    elif isinstance(parent, (set, frozenset)):
        segs[-1].append("{...}")
    elif _method_self(parent) is child:
        segs.append([f"bound method {type(child).__qualname__}.{_method_name(parent)}"])
    elif isinstance(parent, types.CellType):
        segs[-1].append(".cell_contents")
    elif (attr := _attr(parent, child)) is not None:
        if isinstance(parent, (type, types.FunctionType, types.MethodType)):
            segs[-1].append(f".{attr}")
        else:
            segs.append([f"{type(parent).__qualname__}.{attr}"])
    elif (found := _callback_hop(parent, path, i)) is not None:
        n, i = found
        segs.append([f"{type(parent).__qualname__} done-callback #{n}"])
        return i
    elif not (segs[-1] and segs[-1][-1] == f"<inside {type(parent).__qualname__}>"):
        segs.append([f"<inside {type(parent).__qualname__}>"])
    return i + 1


_FRAMES = (types.FrameType, types.CoroutineType, types.GeneratorType, types.AsyncGeneratorType)
_BUILTIN_METHODS = (types.BuiltinMethodType, types.MethodWrapperType)


def _method_self(parent: object) -> object:
    """The object a bound method (Python or C) is bound to, or a unique sentinel."""
    if isinstance(parent, types.MethodType):
        return parent.__self__
    if isinstance(parent, _BUILTIN_METHODS):
        owner = parent.__self__
        # A module's builtin function is "bound" to its module: not a method.
        if not isinstance(owner, types.ModuleType):
            return owner
    return _NOTHING


_NOTHING = object()


def _method_name(method: Any) -> str:
    func = getattr(method, "__func__", method)
    return str(getattr(func, "__name__", "?"))


def _callback_hop(parent: object, path: list[object], i: int) -> tuple[int, int] | None:
    """``(n, j)`` when ``path[j]`` is ``parent``'s n-th done-callback (or its context).

    A C Future keeps its first callback in a field and the rest in a private
    list of ``(callback, context)`` pairs; ``_callbacks`` shows them all.
    The private list and pair hops in between are folded into this one.
    """
    callbacks = _stdlib_value(parent, "_callbacks")
    if not isinstance(callbacks, list) or not callbacks:
        return None
    for j in range(i + 1, min(i + 4, len(path))):
        for n, entry in enumerate(callbacks):
            if isinstance(entry, tuple) and any(e is path[j] for e in entry):
                return n, j
        if not isinstance(path[j], (list, tuple)):
            return None
    return None


def _key(mapping: object, value: object, default: Any) -> Any:
    items = list(mapping.items()) if isinstance(mapping, dict) else []
    return next((k for k, v in items if v is value), default)


def _owns(owner: object, d: dict[Any, Any]) -> bool:
    """Whether ``d`` is ``owner.__dict__`` (for a class, the dict behind its mappingproxy)."""
    with suppress(Exception):
        own = object.__getattribute__(owner, "__dict__")
        proxy = isinstance(own, types.MappingProxyType)
        return own is d or (proxy and any(r is d for r in gc.get_referents(own)))
    return False


def _attr(parent: object, child: object) -> str | None:
    """The attribute of ``parent`` that is ``child``: in ``__dict__``, a slot or special."""
    with suppress(Exception):
        found = _key(object.__getattribute__(parent, "__dict__"), child, None)
        if found is not None:
            return str(found)
    for klass in type(parent).__mro__:
        slots = vars(klass).get("__slots__", ())
        for slot in [slots] if isinstance(slots, str) else slots:
            name = f"_{klass.__name__.lstrip('_')}{slot}" if slot.startswith("__") else slot
            desc = vars(klass).get(name)
            with suppress(AttributeError):  # an empty slot
                if isinstance(desc, types.MemberDescriptorType) and desc.__get__(parent) is child:
                    return str(slot)
    for name in _SPECIAL:  # object.__getattribute__: never a user's __getattr__
        with suppress(Exception):
            if object.__getattribute__(parent, name) is child:
                return name
    for name, desc in _fields(type(parent)):
        with suppress(Exception):
            if desc.__get__(parent) is child:
                return name
    return None


def _stdlib_value(obj: object, name: str) -> object:
    """``obj.<name>`` through a field the standard library's C code defines, or None."""
    for field, desc in _fields(type(obj)):
        if field == name:
            with suppress(Exception):
                return desc.__get__(obj)
    return None


#: Per class (weakly: classes made on the fly must not be kept alive).
_field_cache: weakref.WeakKeyDictionary[type, list[tuple[str, Any]]] = weakref.WeakKeyDictionary()


def _fields(klass: type) -> list[tuple[str, Any]]:
    """The C-level fields of a type: its member descriptors, and the getters of
    standard-library types (the ones a Future, Task or socket hides its
    references behind; a third party's getter may run anything, so not those)."""
    cached = _field_cache.get(klass)
    if cached is not None:
        return cached
    out: list[tuple[str, Any]] = []
    for base in klass.__mro__:
        stdlib = str(base.__module__).partition(".")[0] in _STDLIB
        for name, desc in list(vars(base).items()):
            if any(n == name for n, _ in out):
                continue
            # Dunder getters are left out: specials are read above, and some
            # create what they return (a class's __annotations__).
            dunder = name.startswith("__") and name.endswith("__")
            if isinstance(desc, types.MemberDescriptorType) or (
                stdlib and not dunder and isinstance(desc, types.GetSetDescriptorType)
            ):
                out.append((name, desc))
    with suppress(TypeError):  # a class without weak references: not cached
        _field_cache[klass] = out
    return out


_STDLIB = frozenset(sys.stdlib_module_names) | {"builtins"}


def _short(key: object) -> str:
    try:
        text = repr(key)
    except Exception:
        text = f"<{type(key).__qualname__}>"
    return text if len(text) <= 40 else text[:37] + "..."
