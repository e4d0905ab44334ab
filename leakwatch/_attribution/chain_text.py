"""A why-alive path in words: each hop from a root to the object, named as code would.

``app.db.POOL['main'] -> Conn._sock``, ``frame of worker() in app/poll.py:12
(thread 'poller') local 'conn'``: attribute names, keys, a bound method's
``__self__``, a callback's owner.  Reads the objects on a path it is given;
must not search the heap (that is :mod:`leakwatch._attribution.whyalive`)
nor keep a reference once it returns.
"""

from __future__ import annotations

import sys
import types
import weakref
from collections import deque
from contextlib import suppress
from typing import Any

from leakwatch._base.frames import short_path
from leakwatch._base.pyversion import frame_locals, referents

_SPECIAL = ["__defaults__", "__kwdefaults__", "__func__", "__mro__", "__bases__", "__class__"]


_SPECIAL += ["tb_frame", "tb_next", "__traceback__", "__cause__", "__context__"]


_SPECIAL += ["func", "args", "keywords"]  # functools.partial


_Labels = dict[int, tuple[object, str]]  # root id -> (module, frame or coroutine; its label)


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


def from_module_global(chain: str) -> bool:
    """Whether a rendered chain starts at a module global (not at a thread's
    frame, ``frame of ...``, nor a task's, ``task ...``, nor a temporary)."""
    return bool(chain) and not chain.startswith(("frame of ", "task ", "<"))


def frame_chain(frame: types.FrameType, value: object, thread: str) -> str | None:
    """The chain from a thread's frame to the variable holding ``value``, as a
    search that found it there renders it; None if no variable holds it."""
    name = _key(frame_locals(frame), value, None)
    return None if name is None else f"frame of {_where(frame)} (thread {thread!r}) local {name!r}"


def _where(frame: types.FrameType) -> str:
    code = frame.f_code
    return f"{code.co_name}() in {short_path(code.co_filename)}:{frame.f_lineno}"


def _frame_local(holder: object, value: object, label: str) -> str:
    frame = _own_frame(holder)
    if not isinstance(frame, types.FrameType):
        return f"{label} {type(holder).__name__}"
    name = "temporary"  # on the value stack, not in a variable
    with suppress(Exception):
        key = _key(frame_locals(frame), value, ...)
        name = name if key is ... else f"local {key!r}"
    where = _where(frame)
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
        return own is d or (proxy and any(r is d for r in referents(own)))
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
