"""The state probe's plain data: a registry's reading, a snapshot of all of them.

A reading holds names, display strings, counts and ``id()``\\ s (compared,
never dereferenced); :class:`RegistryProbe` names one registry and its
reader.  The helpers here show any object in one short line.  Must not read
a registry.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

KIND = "state"


_TEXT_CAP = 160


class Named(NamedTuple):
    """A value shown as ``text``; ``obj``'s id (or ``token``) tells replacements apart."""

    text: str
    obj: object = None
    token: int | None = None


Raw = Mapping[str, object]  # key -> live value, as a reader returns it; never stored


@dataclass(frozen=True)
class Reading:
    """One registry, as plain data."""

    names: frozenset[str]
    texts: Mapping[str, str]  # key -> display text; empty for name-only registries
    tokens: Mapping[str, int]  # key -> id() (or hash) that changes when the value is replaced
    size: int


@dataclass(frozen=True)
class StateSnapshot:
    readings: Mapping[str, Reading]


@dataclass(frozen=True)
class RegistryProbe:
    name: str
    noun: str
    read: Callable[[], Raw | frozenset[str] | None]  # None: not available here and now
    objects: bool = False  # values are objects worth a creation stack
    #: For registries read as text (``sys.path``): key -> the live entry, to
    #: ask tracemalloc where an added entry was made.
    live: Callable[[], Mapping[str, object]] | None = None
    keyed: bool = False  # the key says what the value is: show "key=text"
    counts: bool = False  # values are counts: size is their sum


def _cap(text: str) -> str:
    return text if len(text) <= _TEXT_CAP else text[: _TEXT_CAP - 3] + "..."


def _repr(obj: object) -> str:
    try:
        return _cap(repr(obj))
    except Exception:  # a user's repr may fail; the probe must not
        return f"<{_qualname(type(obj))} (repr failed)>"


def _qualname(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or "?"
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if module and module != "builtins" else str(name)


_NAMED_KINDS = (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def _describe(obj: object) -> str:
    """Short text for a registry object: a qualname, or a repr that says something."""
    if isinstance(obj, _NAMED_KINDS):
        return _qualname(obj)
    if type(obj).__repr__ is object.__repr__:  # "<x object at 0x...>": the type says as much
        return f"{_qualname(type(obj))} object"
    return _repr(obj)
