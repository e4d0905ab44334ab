"""Light marks: what was open as a window of a span closed, cheaply.

A window's end needs only enough to say, at judging time, which window a
leftover nothing recorded was made in (C code's descriptor, a thread
started from C): descriptors by number and what each is, reusing the last
full look while Python made none and the same numbers are open; threads by
ident.  Must not judge: spans place leftovers with these.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from leakwatch._base.pyversion import thread_idents
from leakwatch._probes.fds import FdProbe


def light_mark(kinds: tuple[str, ...], within_test: bool = False) -> dict[str, Any]:
    """Each kind on its own: a listing that fails (an unreadable ``/proc``)
    leaves that kind out of the mark, placed by records or the last window.

    ``within_test``: the mark ends one of a test's own phases (setup, call),
    where a descriptor placed a window late changes only the phase its
    report names, never whose it is: the descriptors are counted, not listed
    (see ``FdProbe.light``)."""
    out: dict[str, Any] = {}
    if "fd" in kinds:
        try:
            out["fd"] = (_LIGHT_FDS if within_test else _FDS).mark()
        except Exception:
            pass
    if "thread" in kinds:
        out["thread"] = thread_idents()
    return out


#: The descriptor probe the marks look through: its ``mark()`` keeps the last
#: full look and reuses it while Python made no descriptor and the same
#: numbers are open.  Keys say what each descriptor is, not its number alone:
#: by number, a descriptor C code opened under a number something else had
#: at an earlier mark was placed in that mark's window -- a wider fixture's,
#: which then judged it as its own.
_FDS = FdProbe()
_LIGHT_FDS = FdProbe()
_LIGHT_FDS.light = True


def held_in(kind: str, key: Hashable, held: Any) -> bool:
    """Whether a light mark held the resource ``key`` (a descriptor by number
    and what it is; a thread by ident)."""
    if kind == "fd":
        return key in held
    if kind == "thread":
        return key[0] == "py" and key[1] in held  # type: ignore[index]
    return False
