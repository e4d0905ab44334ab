"""What a sampled request is charged with: the rules the judge applies to a leftover.

A leftover whose creation record carries a request's tag is that request's
only if the user's code made it inside the request (not the server's own
machinery below the middleware, nor a task or thread dispatch), or it was
made in a thread the same request started from the user's code; and a
shared pool's idle worker is no request's.  :func:`entry` captures, once per
call site, the server's stack below the middleware that these rules strip.

Must not look at resources nor keep a user's object: it reads records and
stacks (plain data), and threads only to find the one a record names.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from leakwatch._attribution import recording as _recording
from leakwatch._attribution import records as _records
from leakwatch._attribution.singletons import singletons
from leakwatch._attribution.stacks import capture, has_user_frame
from leakwatch._probes.threads import executor_of


def made_by_user(rec: Any, entry: tuple[Any, ...] = ()) -> bool:
    """Whether the user's code made it: its own stack has a user frame inside the
    request (not in ``entry``, the server's stack below the middleware, nor
    below the task or thread that made it), or it was made in a thread the
    same request started from the user's code (a library call in a thread the
    request started).  A pool's worker thread started by the first request that
    needed it has neither, even when the server runs from the user's ``main()``."""
    if _user_frame_inside(_above(rec.stack, entry)):
        return True
    for thread in threading.enumerate():
        if thread.ident == rec.thread:
            start = _records.threads.get(thread)
            if start is None or start.tag != rec.tag:
                return False
            return _user_frame_inside(_above(start.stack, entry))
    return False


def _above(raw: tuple[Any, ...], entry: tuple[Any, ...]) -> tuple[Any, ...]:
    """``raw`` (innermost first) without the outer frames it shares with ``entry``."""
    n = 0
    while n < len(raw) and n < len(entry) and raw[-1 - n][::2] == entry[-1 - n][::2]:
        n += 1
    return raw[: len(raw) - n]


#: (thread, the caller's module, the instruction it is at) -> the stack below
#: the middleware, captured once: a server calls its app from the same place.
#: Bounded.
_entries: dict[tuple[int, Any, int], tuple[Any, ...]] = {}


def entry_of(caller: Any) -> tuple[Any, ...]:
    """The stack below the middleware, from the frame that called it.

    Asked by every sampled request, so the place is keyed by the caller's
    module and instruction (``f_globals``, ``f_lasti``), not by its code
    object: reading ``f_code`` raises an audit event (a call into
    leakwatch's audit hook) and hashing a code object hashes its bytecode
    and constants, which together cost more than the rest of a request's
    start."""
    if caller is None:
        return ()
    key = (threading.get_ident(), caller.f_globals.get("__name__"), caller.f_lasti)
    try:
        found = _entries.get(key)
    except TypeError:  # a namespace whose ``__name__`` is not hashable
        return capture(caller, _recording.depth)
    if found is None:
        if len(_entries) >= 256:
            _entries.clear()
        found = _entries[key] = capture(caller, _recording.depth)
    return found


#: Frames that run a task or a thread: what is older than the newest of them
#: is the server's own start (a user's ``main()`` calling ``uvicorn.run``), not
#: the request's code.
_DISPATCH = {
    ("events.py", "_run"),
    ("base_events.py", "_run_once"),
    ("base_events.py", "run_forever"),
    ("base_events.py", "run_until_complete"),
    ("runners.py", "run"),
    ("threading.py", "_bootstrap_inner"),
}


def _user_frame_inside(raw: Any) -> bool:
    """Whether the user's code is on a raw stack (innermost first) inside the
    task or thread that made it, not only in what started the server."""
    for frame in raw:
        name = frame[0].rsplit("/", 1)[-1]
        if (name, frame[2]) in _DISPATCH and ("asyncio" in frame[0] or name == "threading.py"):
            return False
        if has_user_frame((frame,)):
            return True
    return False


def shared_pool(value: Any) -> bool:
    """Whether a thread is an idle worker of a pool that outlives requests: a
    loop's default executor (``asyncio.to_thread``), or an executor a module
    global holds.  The first request to need a worker starts it; later ones
    reuse it.  (A pool made per request and never shut down is not shared.)"""
    thread = value() if isinstance(value, weakref.ref) else None
    executor = executor_of(thread) if thread is not None else None
    if executor is None:
        return False
    if thread is not None and thread.name.startswith(("asyncio_", "uvloop_")):
        return True
    try:
        return bool(singletons([executor]))
    except Exception:
        return False
