"""The heap page: growth by allocation site over a window, or since a mark (``pprof -base``).

``heap?seconds=N`` traces allocations for N seconds and shows what grew.
``heap?mark`` starts tracing and keeps a mark; ``heap?base=ID`` shows what
grew since mark ID, as often as asked; ``heap?drop`` stops tracing.  A mark
drops itself after ``MARK_SECONDS``: tracemalloc runs only while asked for
(it slows allocation-heavy code), never for good.  Must not judge: it lists
growth as information.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from leakwatch._attribution import recording as _recording
from leakwatch._probes.heap import HeapTracker, retained
from leakwatch._probes.threads import INTERNAL_PREFIX
from leakwatch._report.errors import BusyError, QueryError
from leakwatch._service.pages import resource_dict

SCHEMA = "leakwatch.heap/1"

#: How long a mark keeps tracemalloc running before it drops itself.
MARK_SECONDS = 3600.0

#: Sites listed at most.
LIMIT = 50


_window = threading.Lock()
_marks = threading.Lock()


class _Mark:
    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.since = time.time()
        self.tracker = HeapTracker(16)
        self.tracker.start()
        self.expiry = threading.Timer(MARK_SECONDS, drop, args=(ident,))
        self.expiry.name = f"{INTERNAL_PREFIX}heap-mark"
        self.expiry.daemon = True
        self.expiry.start()


_current: _Mark | None = None
_next = 1


def _doc(sites: list[Any], seconds: float, note: str | None, **more: Any) -> dict[str, Any]:
    grown = [resource_dict(r) for r in sites]
    for item in grown:
        item["title"] = item["title"].replace(" retained in ", " grew by ", 1)
        item["details"].pop("note", None)
    return {
        "schema": SCHEMA,
        "time": time.time(),
        "pid": os.getpid(),
        "seconds": round(seconds, 3),
        "sites": grown,
        "note": note,
        **more,
    }


def window(seconds: float) -> dict[str, Any]:
    """Growth by allocation site over a window of ``seconds``: tracemalloc runs
    only during the window (unless it was running already)."""
    if not _window.acquire(blocking=False):
        raise BusyError("a heap window is open already: try again when it ends")
    try:
        tracker = HeapTracker(16)
        tracker.start()
        try:
            time.sleep(seconds)
            with _recording.quiet():
                sites = retained(tracker.sample(), limit=LIMIT, min_size=1)
        finally:
            tracker.stop()
    finally:
        _window.release()
    return _doc(sites, seconds, tracker.note)


def mark() -> dict[str, Any]:
    """Start tracing and keep a mark (replacing an earlier one)."""
    global _current, _next
    with _marks:
        old, _current = _current, None
        if old is not None:
            _stop(old)
        _current = _Mark(_next)
        _next += 1
        made = _current
    note = made.tracker.note
    return _doc([], 0.0, note, base=made.ident, tracing=True, expires_in=MARK_SECONDS)


def since(ident: int) -> dict[str, Any]:
    """Growth by allocation site since mark ``ident``."""
    with _marks:
        made = _current
        if made is None or made.ident != ident:
            have = f"mark {made.ident}" if made is not None else "none (heap?mark makes one)"
            raise QueryError(f"no heap mark {ident} (current: {have})")
        with _recording.quiet():
            sites = retained(made.tracker.sample(), limit=LIMIT, min_size=1)
        return _doc(sites, time.time() - made.since, made.tracker.note, base=ident, tracing=True)


def drop(ident: int | None = None) -> dict[str, Any]:
    """Stop tracing for the current mark (``ident``: only if it is that one)."""
    global _current
    with _marks:
        made = _current
        if made is not None and (ident is None or made.ident == ident):
            _current = None
            _stop(made)
    return _doc([], 0.0, None, base=None, tracing=False)


def _stop(made: _Mark) -> None:
    if made.expiry is not threading.current_thread():
        made.expiry.cancel()
        made.expiry.join(5)  # it wakes at once: no thread of leakwatch's outlives the mark
    made.tracker.stop()


def page(query: Mapping[str, list[str]], seconds: float) -> dict[str, Any]:
    """Answer ``heap?...``: a mark, growth since one, a drop, or a window."""
    if "mark" in query:
        return mark()
    if "drop" in query:
        return drop()
    if "base" in query:
        raw = (query["base"] or [""])[0]
        if not raw.isdigit():
            raise QueryError(f"base must be a mark's number, got {raw!r}")
        return since(int(raw))
    return window(seconds)
