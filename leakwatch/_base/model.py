"""Plain, frozen value types: what a probe saw, and leaks grouped from it.

Nothing here holds a user's object. A :class:`Resource` is what a probe saw
(plain strings and numbers), a :class:`Leak` is a group of resources of one
kind and one origin; frames live in :mod:`leakwatch._base.frames`, the
:class:`~leakwatch._report.report.Report` that holds leaks one layer up.

The vocabulary follows :mod:`tracemalloc` (``Frame``, ``filename``,
``lineno``) so it reads familiar.  Must not import anything above
:mod:`leakwatch._base`, least of all a renderer.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from leakwatch._base.frames import (
    Frame,
    Origin,
    frames_to_dicts,
    jsonable,
    read_library_frames,
    short_path,
    split_origin,
)
from leakwatch._base.wording import format_size

#: Every kind leakwatch knows, in the order reports list them.
KINDS: tuple[str, ...] = (
    "fd",
    "thread",
    "task",
    "timer",
    "process",
    "tempfile",
    "heap",
    "native",
    "state",
)


#: The kinds a plain ``watch()`` judges.  ``heap`` and ``state`` are only
#: information after one call; they become leaks through growth (``check``),
#: as ``native`` (allocator memory Python's tracing does not explain) does.
RESOURCE_KINDS: tuple[str, ...] = ("fd", "thread", "task", "timer", "process", "tempfile")

#: The kinds judged by growth over repeated calls (``check()``, ``repeat=N``).
GROWTH_KINDS: tuple[str, ...] = ("heap", "native", "state")


def parse_kinds(value: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    """Kinds from a list, tuple or set of names or a comma-separated string,
    in order, each once; ``"all"`` alone is every kind.  The one reading of
    kinds, for configuration and markers alike.

    Raises ``ValueError(reason, name)``: ``reason`` is ``"shape"`` (not names),
    ``"unknown"`` (``name`` is the first unknown one) or ``"empty"``; each
    caller words its own one-line error from it.
    """
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple, set, frozenset)) or not all(
        isinstance(item, str) for item in items
    ):
        raise ValueError("shape", None)
    names = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    if names == ("all",):
        return KINDS
    unknown = [name for name in names if name not in KINDS]
    if unknown:
        raise ValueError("unknown", unknown[0])
    if not names and not allow_empty:
        raise ValueError("empty", None)
    return names


def kinds_help() -> str:
    """Every kind, for an option's help: the defaults, the others, and 'all'."""
    others = ", ".join(kind for kind in KINDS if kind not in RESOURCE_KINDS)
    return f"comma-separated: {','.join(RESOURCE_KINDS)} (default), {others}, or 'all'"


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
            "details": jsonable(self.details),
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
            details=_read_details(data.get("details") or {}),
        )

    @property
    def library_frames(self) -> Origin:
        """The library calls below the creating line (``details["library_frames"]``)."""
        return read_library_frames(self.details)

    @property
    def creation_stack(self) -> Origin:
        """The whole creation stack: the origin, then the library frames below it.

        What rules naming a library function or module are matched against.
        """
        return self.origin + self.library_frames

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
            more: dict[str, Any] = {"library_frames": frames_to_dicts(library)}
            more.update(made_in_thread(res.origin, len(origin)))
            res = replace(res, origin=origin, details={**res.details, **more})
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
        title = group_title([m.title for m in members])
        if sizes and len({m.title for m in members}) > 1:
            # Unlike members' sizes became globs or an ellipsis: say the total.
            title += f" ({format_size(sum(sizes))} in all)"
        leaks.append(
            Leak(
                kind=first.kind,
                title=title,
                count=len(members),
                size=sum(sizes) if sizes else None,
                origin=first.origin,
                details=details,
            )
        )
    leaks.sort(key=lambda leak: (KINDS.index(leak.kind) if leak.kind in KINDS else 99, -leak.count))
    return leaks


def made_in_thread(origin: Origin, cut: int) -> dict[str, Any]:
    """``made_in_thread``/``made_at`` details when the thing was made in another thread.

    ``origin`` is a whole creation stack whose front is the stack that
    started the thread it was made in (``_stacks.to_origin`` marks the first
    frame of the thread's own stack); ``cut`` is where :func:`split_origin`
    ended the origin, at the user's line.  When that line is the thread's
    start, the origin alone would read as if the user's line made it, so the
    details say which thread made it and where: ``made_at`` holds the
    innermost frames, from the innermost one outside the file of the
    creating call (``socketserver.py ... get_request`` for an accept) inward.
    """
    start = next((i for i, f in enumerate(origin) if f.thread is not None), None)
    if start is None or start < cut:
        return {}
    own = origin[start:]
    innermost = own[-1].filename
    outside = [i for i, f in enumerate(own) if f.filename != innermost]
    made_at = own[outside[-1] :] if outside else own[-1:]
    return {"made_in_thread": own[0].thread or "", "made_at": frames_to_dicts(made_at)}


def group_title(titles: Sequence[str]) -> str:
    """One title that is true of every member of a group.

    Where the titles differ, the differing words become globs (``127.0.0.1:*``,
    ``'worker-*'``), and descriptor clauses ``(fd 7, read end)`` are merged
    into one (``(fds 7, 8; read end and write end)``)::

        socket 127.0.0.1:50123 -> 127.0.0.1:8080 (fd 7)
        socket 127.0.0.1:50124 -> 127.0.0.1:8080 (fd 9)
            -> socket 127.0.0.1:* -> 127.0.0.1:8080 (fds 7, 9)
    """
    if len(set(titles)) <= 1:
        return titles[0] if titles else ""
    fds: list[int] = []
    extras: list[str] = []
    bases: list[list[str]] = []
    for title in titles:
        clause = _FD_CLAUSE.search(title)
        if clause is not None:
            fds.append(int(clause.group(1)))
            if clause.group(2):
                extras.append(clause.group(2))
            title = f"{title[: clause.start()]}{_FD_MARK}{title[clause.end() :]}"
        bases.append(title.split(" "))
    if len({len(words) for words in bases}) == 1:
        columns = zip(*bases, strict=True)
        words = [column[0] if len(set(column)) == 1 else _glob(column) for column in columns]
    else:  # different shapes: keep what all begin and end with
        head = _common(bases)
        tail = _common([b[::-1] for b in bases])[::-1][: min(map(len, bases)) - len(head)]
        words = [*head, "…", *tail]
    text = " ".join(words)
    if fds:
        numbers = sorted(set(fds))
        shown = ", ".join(str(n) for n in numbers[:6]) + (", …" if len(numbers) > 6 else "")
        kinds = list(dict.fromkeys(extras))
        joiner = ", " if len(numbers) == 1 and len(kinds) == 1 else "; "
        clause_text = f"(fd{'s' if len(numbers) > 1 else ''} {shown}"
        clause_text += f"{joiner}{' and '.join(kinds)})" if kinds else ")"
        text = text.replace(_FD_MARK, clause_text)
    return text


_FD_CLAUSE = re.compile(r"\(fd (\d+)(?:, ([^)]*))?\)")


_FD_MARK = "\x00fd"


def _common(lists: Sequence[Sequence[str]]) -> list[str]:
    out: list[str] = []
    for column in zip(*lists, strict=False):  # as far as the shortest
        if len(set(column)) != 1:
            break
        out.append(column[0])
    return out


def _shared_head(values: Sequence[str]) -> str:
    """The characters every value begins with."""
    first = min(values, key=len)
    for i, char in enumerate(first):
        if any(v[i] != char for v in values):
            return first[:i]
    return first


def _glob(values: Sequence[str]) -> str:
    """Words that differ as one glob: a shared head and tail that end at a separator."""
    prefix = _shared_head(values)
    while prefix and prefix[-1].isalnum():
        prefix = prefix[:-1]
    rest = [v[len(prefix) :] for v in values]
    suffix = _shared_head([v[::-1] for v in rest])[::-1]
    while suffix and suffix[0].isalnum():
        suffix = suffix[1:]
    return f"{prefix}*{suffix}"


def _read_details(details: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(details)
    if out.get("library_frames"):
        out["library_frames"] = frames_to_dicts(read_library_frames(out))
    return out
