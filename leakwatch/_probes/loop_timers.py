"""Every timer still scheduled on every live asyncio loop, recorded or not.

The timer probe sees the timers scheduled while leakwatch recorded (a
watch, or in a service only the sampled requests').  A service's timers page
answers a wider question -- what will this process's loops still wake up
for? -- so it asks here for every timer: the loops are those running in any
thread (found on the threads' stacks, :mod:`leakwatch._base.loops`: no heap
walk) and those recorded at birth (``records.loop_births``), and an asyncio
loop's timers are its heap of handles, ``loop._scheduled``.  That list
belongs to the loop's thread: it is copied (``list()``, one step under the
GIL) and never locked, and a loop that answers otherwise is skipped.
Cancelled handles still in the heap (asyncio drops them lazily) are not
timers any more and are left out.

uvloop keeps its timers in C, out of reach: its timers are listed only when
recorded, and :func:`scheduled_handles` says so in a note rather than
showing nothing.

Must not judge, and must not keep a loop or a handle past a call.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from leakwatch._attribution import records as _records
from leakwatch._base.loops import running_loops

UVLOOP_NOTE = (
    "uvloop keeps its timers in C: a uvloop loop's timers are listed only when "
    "scheduled while leakwatch recorded (a watch, or a sampled request)"
)


def live_loops() -> list[tuple[Any, int | None]]:
    """``(loop, ident of the thread running it or None)``: the loops running
    now in any thread, and the loops recorded at birth that are still alive."""
    found: dict[int, tuple[Any, int | None]] = {}
    for loop, ident in running_loops():
        found.setdefault(id(loop), (loop, ident))
    try:
        born = _records.keys_of(_records.loop_births, tries=3)
    except RuntimeError:  # kept changing: the running loops alone
        born = []
    for loop in born:
        found.setdefault(id(loop), (loop, None))
    return list(found.values())


class Found:
    """What :func:`scheduled_handles` found: the handles, notes for what it could
    not list, and the name of the thread running each loop (by ``id(loop)``)."""

    __slots__ = ("handles", "notes", "threads")

    def __init__(self) -> None:
        self.handles: list[Any] = []
        self.notes: list[str] = []
        self.threads: dict[int, str] = {}


def scheduled_handles() -> Found:
    """Every timer handle not cancelled in the heap of a live asyncio loop
    that is not closed."""
    found = Found()
    uvloop_seen = "uvloop" in sys.modules
    names = {t.ident: t.name for t in threading.enumerate()}
    for loop, ident in live_loops():
        ident = getattr(loop, "_thread_id", None) or ident
        if ident is not None:
            found.threads[id(loop)] = names.get(ident, f"thread {ident}")
        heap = getattr(loop, "_scheduled", None)
        if not isinstance(heap, list):
            uvloop_seen = uvloop_seen or type(loop).__module__.startswith("uvloop")
            continue
        try:
            if loop.is_closed():
                continue
            copied = list(heap)
        except Exception:  # a loop of another kind, or one being torn down
            continue
        found.handles.extend(h for h in copied if getattr(h, "_cancelled", True) is False)
    if uvloop_seen:
        found.notes.append(UVLOOP_NOTE)
    return found
