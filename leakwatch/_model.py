"""Plain, frozen value types: what leakwatch saw and what it concluded.

Nothing here holds a user's object. A :class:`Resource` is what a probe saw
(plain strings and numbers), a :class:`Leak` is a group of resources of one
kind and one origin, and a :class:`Report` is the verdict of one watch.

The vocabulary follows :mod:`tracemalloc` (``Frame``, ``filename``,
``lineno``) so it reads familiar.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

SCHEMA = "leakwatch.report/1"
SESSION_SCHEMA = "leakwatch.session/1"

#: Every kind leakwatch knows, in the order reports list them.
KINDS: tuple[str, ...] = (
    "fd",
    "thread",
    "task",
    "process",
    "tempfile",
    "heap",
    "native",
    "state",
)

#: The kinds a plain ``watch()`` judges.  ``heap`` and ``state`` are only
#: information after one call; they become leaks through growth (``check``),
#: as ``native`` (allocator memory Python's tracing does not explain) does.
RESOURCE_KINDS: tuple[str, ...] = ("fd", "thread", "task", "process", "tempfile")


@dataclass(frozen=True)
class Frame:
    """One frame of a creation stack: where, in which function, which line."""

    filename: str
    lineno: int
    function: str = "?"
    line: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "lineno": self.lineno,
            "function": self.function,
            "line": self.line,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Frame:
        return cls(
            filename=str(data["filename"]),
            lineno=int(data["lineno"]),
            function=str(data.get("function", "?")),
            line=str(data.get("line", "")),
        )

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno} in {self.function}"


Origin = tuple[Frame, ...]


@dataclass(frozen=True)
class Resource:
    """One live thing a probe saw, described in plain data.

    ``key`` is the stable identity the probe diffs on (an fd number with its
    target, a thread ident with its native id, ...).  ``group`` is an extra
    grouping signature beside the kind and the origin (say, ``"socket"`` or
    ``"pipe"`` for descriptors), so unlike things made on one line are not
    folded together.  ``holder`` is a short "why is it still alive" chain when
    one was found.
    """

    kind: str
    key: Hashable
    title: str
    origin: Origin = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    size: int | None = None
    group: Hashable = None


@dataclass(frozen=True)
class Leak:
    """Resources of one kind and one origin, grouped, with a count."""

    kind: str
    title: str
    count: int = 1
    size: int | None = None
    origin: Origin = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "count": self.count,
            "size": self.size,
            "origin": [f.to_dict() for f in self.origin],
            "details": _jsonable(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Leak:
        size = data.get("size")
        return cls(
            kind=str(data["kind"]),
            title=str(data["title"]),
            count=int(data.get("count", 1)),
            size=None if size is None else int(size),
            origin=tuple(Frame.from_dict(f) for f in data.get("origin", ())),
            details=dict(data.get("details") or {}),
        )

    @property
    def signature(self) -> str:
        """A line-number-free identity, stable across edits, for baselines.

        Kind, the kind's own group (fd type, thread target, ...) and the
        innermost frames of the origin as ``file:function``, with file names
        relative to the current directory when they are below it.
        """
        group = str(self.details.get("group", ""))
        frames = [f"{short_path(f.filename)}:{f.function}" for f in self.origin[-3:]]
        return "|".join([self.kind, group, *frames])


@dataclass
class Report:
    """What one watch, check or run concluded.

    ``leaks`` holds only what the policy judges a leak: what would fail a
    test.  Everything that is information only lives beside it: ``info``
    (heap retained after a single call, global state changed once),
    ``ignored`` (matched an ignore rule), ``known`` (known library leaks) and
    ``baselined`` (listed in a baseline file).
    """

    leaks: list[Leak] = field(default_factory=list)
    info: list[Leak] = field(default_factory=list)
    ignored: list[Leak] = field(default_factory=list)
    known: list[Leak] = field(default_factory=list)
    baselined: list[Leak] = field(default_factory=list)
    label: str | None = None
    block_failed: bool = False
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """True when nothing was judged a leak."""
        return not self.leaks

    def by_kind(self, kind: str) -> list[Leak]:
        return [leak for leak in self.leaks if leak.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "label": self.label,
            "leaks": [leak.to_dict() for leak in self.leaks],
            "info": [leak.to_dict() for leak in self.info],
            "ignored": [leak.to_dict() for leak in self.ignored],
            "known": [leak.to_dict() for leak in self.known],
            "baselined": [leak.to_dict() for leak in self.baselined],
            "block_failed": self.block_failed,
            "notes": list(self.notes),
            "stats": _jsonable(self.stats),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        def leaks(key: str) -> list[Leak]:
            return [Leak.from_dict(d) for d in data.get(key) or ()]

        return cls(
            leaks=leaks("leaks"),
            info=leaks("info"),
            ignored=leaks("ignored"),
            known=leaks("known"),
            baselined=leaks("baselined"),
            label=data.get("label"),
            block_failed=bool(data.get("block_failed", False)),
            notes=list(data.get("notes") or ()),
            stats=dict(data.get("stats") or {}),
        )

    def format(self, *, verbose: bool = False, color: bool = False) -> str:
        """The text report a person reads (see ``leakwatch._text``)."""
        from leakwatch._text import format_report

        return format_report(self, verbose=verbose, color=color)

    def __str__(self) -> str:
        return self.format()


def group_resources(resources: Iterable[Resource]) -> list[Leak]:
    """Fold resources of the same kind, group and origin into counted leaks.

    The largest groups come first; within a group the first resource seen
    gives the title and every title is kept in ``details["items"]``.
    """
    groups: dict[tuple[Hashable, ...], list[Resource]] = {}
    for res in resources:
        if not res.origin and "not seen" not in res.title and "not tracked" not in res.title:
            # The contract: an empty origin is said in the title.
            res = replace(res, title=f"{res.title} (creation not seen)")
        origin, library = split_origin(res.origin)
        if library:
            tail = [f"{f.filename}:{f.lineno} in {f.function}" for f in library]
            res = replace(res, origin=origin, details={**res.details, "library_frames": tail})
        # Two sockets of one socketpair() differ only in library frames: one leak of two.
        where = tuple((f.filename, f.lineno, f.function) for f in origin)
        groups.setdefault((res.kind, res.group, where), []).append(res)
    leaks = []
    for members in groups.values():
        first = members[0]
        sizes = [m.size for m in members if m.size is not None]
        details: dict[str, Any] = dict(first.details)
        if first.group is not None:
            details.setdefault("group", first.group)
        if len(members) > 1:
            details["items"] = [m.title for m in members[:50]]
        leaks.append(
            Leak(
                kind=first.kind,
                title=first.title,
                count=len(members),
                size=sum(sizes) if sizes else None,
                origin=first.origin,
                details=details,
            )
        )
    leaks.sort(key=lambda leak: (KINDS.index(leak.kind) if leak.kind in KINDS else 99, -leak.count))
    return leaks


def split_origin(origin: Origin) -> tuple[Origin, Origin]:
    """(the origin up to the innermost user frame, the library frames after it).

    The user's line is the creating line a person acts on (``s =
    socket.create_connection(addr)``), so it ends the origin; what the
    stdlib did below it is kept apart.  With no user frame, all is origin.
    """
    from leakwatch._stacks import is_user_file

    for i in range(len(origin) - 1, -1, -1):
        if is_user_file(origin[i].filename):
            return origin[: i + 1], origin[i + 1 :]
    return origin, ()


def short_path(filename: str) -> str:
    """``filename`` relative to the current directory when it is below it."""
    try:
        rel = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return filename
    return filename if rel.startswith("..") else rel


def _jsonable(value: Any) -> Any:
    """Turn details into plain JSON data (tuples to lists, keys to str)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(v) for v in items]
    if isinstance(value, Frame):
        return value.to_dict()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def frames_to_dicts(frames: Sequence[Frame]) -> list[dict[str, Any]]:
    return [f.to_dict() for f in frames]
