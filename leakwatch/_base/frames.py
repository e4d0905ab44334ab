"""Frames and origins: where a thing was made, as plain frozen data.

The vocabulary follows :mod:`tracemalloc` (``Frame``, ``filename``,
``lineno``).  An :data:`Origin` is a tuple of frames, oldest call first and
the creating line last, like a traceback.  Must not capture stacks (that is
:mod:`leakwatch._attribution.stacks`) nor hold a user's object.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Frame:
    """One frame of a creation stack: where, in which function, which line."""

    filename: str
    lineno: int
    function: str = "?"
    line: str = ""
    #: Set only on the first frame of a thread's own stack when the stack that
    #: started the thread was put in front of it (``_stacks.to_origin``): the
    #: thread's name, "" when unknown.  Grouping turns it into details
    #: (``made_in_thread``); it is no part of the frame's identity or JSON.
    thread: str | None = field(default=None, compare=False, repr=False)

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


def split_origin(origin: Origin) -> tuple[Origin, Origin]:
    """(the origin up to the innermost user frame, the library frames after it).

    The user's line is the creating line a person acts on (``s =
    socket.create_connection(addr)``), so it ends the origin; what the
    stdlib did below it is kept apart.  With no user frame, all is origin.
    """
    from leakwatch._base.paths import is_user_file

    for i in range(len(origin) - 1, -1, -1):
        if is_user_file(origin[i].filename):
            return origin[: i + 1], origin[i + 1 :]
    return origin, ()


def read_library_frames(details: Mapping[str, Any]) -> Origin:
    """``details["library_frames"]`` as frames, oldest first.

    Frames are stored as ``Frame.to_dict()`` mappings; reports written before
    that hold strings (``"/usr/lib/python3.11/socket.py:840 in create_connection"``),
    which are read too.
    """
    out: list[Frame] = []
    for item in details.get("library_frames") or ():
        if isinstance(item, Frame):
            out.append(item)
        elif isinstance(item, Mapping):
            try:
                out.append(Frame.from_dict(item))
            except (KeyError, TypeError, ValueError):
                continue
        elif isinstance(item, str):
            frame = _frame_from_text(item)
            if frame is not None:
                out.append(frame)
    return tuple(out)


def _frame_from_text(text: str) -> Frame | None:
    """``"path:lineno in function"`` (the old stored form) as a Frame."""
    where, _, function = text.rpartition(" in ")
    filename, _, lineno = (where or text).rpartition(":")
    if not filename or not lineno.isdigit():
        return None
    return Frame(filename, int(lineno), function or "?")


def short_path(filename: str) -> str:
    """``filename`` relative to the current directory when it is below it."""
    try:
        rel = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return filename
    return filename if rel.startswith("..") else rel


def jsonable(value: Any) -> Any:
    """Turn details into plain JSON data (tuples to lists, keys to str)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    if isinstance(value, Frame):
        return value.to_dict()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def frames_to_dicts(frames: Sequence[Frame]) -> list[dict[str, Any]]:
    return [f.to_dict() for f in frames]
