"""Light marks: what was open as a window of a span closed, cheaply.

A window's end needs only enough to say, at judging time, which window a
leftover nothing recorded was made in (C code's descriptor, a thread
started from C): descriptors by number and what each is, reusing the last
full look while Python made none and the same numbers are open; threads by
ident.  Must not judge: spans place leftovers with these.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

from leakwatch._attribution import recording as _recording
from leakwatch._base import platform as _platform


def light_mark(kinds: tuple[str, ...]) -> dict[str, Any]:
    """Each kind on its own: a listing that fails (an unreadable ``/proc``)
    leaves that kind out of the mark, placed by records or the last window."""
    out: dict[str, Any] = {}
    if "fd" in kinds:
        try:
            out["fd"] = _fd_mark()
        except Exception:
            pass
    if "thread" in kinds:
        out["thread"] = frozenset(t.ident for t in threading.enumerate())
    return out


#: The last full look at the descriptors a mark took: (fd epoch, numbers, keys).
_last_fds: tuple[int, frozenset[int], frozenset[Hashable]] | None = None


def _fd_mark() -> frozenset[Hashable]:
    """The descriptors open now, as the fd probe keys them (number and what
    it is): the last full look again when Python made no descriptor since and
    the same numbers are open (one listdir), else a full look.  By number
    alone, a descriptor C code opened under a number something else had at an
    earlier mark was placed in that mark's window -- a wider fixture's, which
    then judged it as its own."""
    global _last_fds
    epoch = _recording.fd_epoch()  # before looking: a creation meanwhile changes it
    numbers = _platform.list_fd_numbers
    last = _last_fds
    if last is not None and numbers is not None and last[0] == epoch and numbers() == last[1]:
        return last[2]
    keys = frozenset(_platform.list_fds().items())
    _last_fds = (epoch, frozenset(fd for fd, _ in keys), keys)
    return keys


def held_in(kind: str, key: Hashable, held: Any) -> bool:
    """Whether a light mark held the resource ``key`` (a descriptor by number
    and what it is; a thread by ident)."""
    if kind == "fd":
        return key in held
    if kind == "thread":
        return key[0] == "py" and key[1] in held  # type: ignore[index]
    return False
