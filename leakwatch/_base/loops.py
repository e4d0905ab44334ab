"""asyncio loops running in any thread, found on the threads' stacks.

A loop keeps no list of its kind, and finding them through ``gc`` would walk
the whole heap: a running loop sits in its thread's stack as the ``self`` of
``BaseEventLoop.run_forever`` (which ``run_until_complete`` and
``asyncio.run`` go through), so one look at ``sys._current_frames()`` finds
every asyncio loop running now.  uvloop's loop runs in C and leaves no such
frame: only the calling thread's own running loop is found among those.
Must not import asyncio (a program that never did has no loop).
"""

from __future__ import annotations

import sys
import threading
import types
from typing import Any

_run_codes: set[types.CodeType] = set()


def running_loops() -> list[tuple[Any, int]]:
    """``(loop, thread ident)`` of each loop running now, in any thread; [] before
    asyncio is imported."""
    events = sys.modules.get("asyncio.events")
    base = sys.modules.get("asyncio.base_events")
    if events is None or base is None:
        return []
    if not _run_codes:
        _run_codes.add(base.BaseEventLoop.run_forever.__code__)
    found: list[tuple[Any, int]] = []
    current = events._get_running_loop()
    if current is not None:
        found.append((current, threading.get_ident()))
    top: types.FrameType | None = None
    for ident, top in sys._current_frames().items():
        f: types.FrameType | None = top
        while f is not None:
            if f.f_code in _run_codes:
                # The loop is the frame's 'self': read the one variable, no copy.
                loop = f.f_locals.get("self")
                if loop is not None and loop is not current:
                    found.append((loop, ident))
                break
            f = f.f_back
    top = f = None  # one may be this frame: no cycle through its variables
    return found
