"""The other threads: whether any could still act (settling asks).

:func:`others_parked`: every other Python thread waits for another thread
to wake it; :func:`others_runnable`: one is running or ready to run.
leakwatch's own threads are left out.  Must not judge.
"""

from __future__ import annotations

import sys
from typing import Any

from leakwatch._base.platform import list_native_threads, thread_runnable
from leakwatch._probes.threads import DUMMY, other_threads
from leakwatch._probes.wakers import outlasting, parked


def others_parked(budget: float | None = None) -> bool | None:
    """Whether no thread but this one can act (leakwatch's own aside): every
    other Python thread is parked, waiting for another thread to wake it
    (see ``parked``).  Then, once a full gc pass has run (a finaliser may
    wake a parked worker), nothing is left that could close a descriptor,
    remove a temp path or end a thread -- no server thread seeing its client
    go, no pool finishing a job.  A thread C code registered with Python (a
    dummy thread) counts while its native thread lives.  True when no other
    thread is there at all, None when the others are all parked.  With a
    ``budget`` (seconds the caller still looks), a thread whose start was
    seen is parked too in a timed wait longer than its life so far and the
    budget: it cannot end while the caller looks (see :func:`parked`)."""
    native: set[int] | None = None
    frames: dict[int, Any] | None = None
    waiting = False
    try:
        for thread in other_threads():
            if isinstance(thread, DUMMY):
                if native is None:
                    try:
                        native = set(list_native_threads())
                    except Exception:
                        return False
                if thread.native_id not in native:
                    continue  # registered once, ended since (3.10-3.12 never forget it)
                return False
            if frames is None:
                frames = sys._current_frames()
            if not parked(thread, frames, outlasting(thread, budget)):
                return False
            waiting = True
    finally:
        frames = None  # it holds this frame: no cycle through its variables
    # None: true, with parked threads (a thread woken a moment ago may still
    # be in its wait: the caller looks twice).
    return None if waiting else True


def others_runnable(budget: float | None = None) -> bool:
    """Whether another thread (leakwatch's own aside) is ready to run but
    has no CPU yet, or is running: on a loaded machine a thread that was
    woken a moment ago may wait that long before it can act, so a leftover
    standing still meanwhile has not stood still on its own.  False where
    the OS does not say.  A thread :func:`parked` (no one woke it, a timed
    wait outlasting ``budget`` more seconds: see ``others_parked``) is
    blocked, and its state is not read (a file in ``/proc`` a thread: a
    process with hundreds of parked threads paid hundreds a look)."""
    frames: dict[int, Any] | None = None
    try:
        for thread in other_threads():
            native_id = getattr(thread, "native_id", None)
            if native_id is None:
                continue
            if frames is None:
                frames = sys._current_frames()
            if not isinstance(thread, DUMMY) and parked(thread, frames, outlasting(thread, budget)):
                continue
            if thread_runnable(native_id):
                return True
    finally:
        frames = None  # it holds this frame: no cycle through its variables
    return False
