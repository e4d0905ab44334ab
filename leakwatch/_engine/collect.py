"""leakwatch's own gc passes, with what they bring out kept apart from the host.

A full gc pass finalises every garbage cycle in the heap, including objects
an earlier test (or earlier code) left unclosed in a cycle.  Their
finalisers warn (``ResourceWarning: unclosed <socket ...>``) or raise into
``sys.unraisablehook``, and pytest charges either to whatever test is
running -- under ``filterwarnings = error``, as an error with a traceback
ending in leakwatch.  Neither belongs to the running code: the object was
left by whoever made it, and without leakwatch the same warning would come
out at some later, natural collection.

So every gc pass leakwatch runs goes through :func:`collect`: the warnings
and unraisable exceptions it causes are caught, turned into plain data at
once (never keeping the objects), and returned as :class:`Collected`
findings -- "closed only by the garbage collector" -- with the creation
record leakwatch kept for the object when it has one.  Code must not call
``gc.collect()`` directly elsewhere in leakwatch.

What this cannot separate: a warning another thread raises during the few
milliseconds of the pass is caught with the rest (``warnings`` filters are
process-wide before Python 3.14).
"""

from __future__ import annotations

import gc
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leakwatch._attribution import records as _records
from leakwatch._attribution.referrers import forget
from leakwatch._attribution.stacks import to_origin
from leakwatch._base.model import Leak

#: At most this many findings are kept from one pass (a heap of unclosed
#: files would otherwise make a report of thousands).
MAX_PER_PASS = 50

#: See :func:`name_makers`.
_made_during: Callable[[int], str | None] | None = None


def name_makers(made_during: Callable[[int], str | None] | None) -> None:
    """Who was running when a creation record was made: ``made_during(serial)
    -> a name`` (a suite runner's: the test that left an object a later gc
    pass finalised), or None as the runner ends."""
    global _made_during
    _made_during = made_during


@dataclass(frozen=True)
class Collected:
    """One warning or unraisable exception a leakwatch gc pass brought out."""

    category: str
    message: str
    record: _records.Record | None = None

    def to_leak(self, since: int | None = None) -> Leak:
        """As a report entry (information, never a leak).

        ``since``: the serial the current span started at; a record after it
        means the running code made the object itself.
        """
        kind = "task" if "coroutine" in self.message and "never awaited" in self.message else "fd"
        if self.category not in ("ResourceWarning", "RuntimeWarning"):
            kind = "heap"
        rec = self.record
        details: dict[str, Any] = {
            "collected_by_gc": True,
            "category": self.category,
            "message": self.message,
        }
        if since is not None and rec is not None:
            details["made_here"] = rec.serial > since
        made_during = _made_during
        if rec is not None and made_during is not None:
            try:
                who = made_during(rec.serial)
            except Exception:  # attribution is a bonus
                who = None
            if who:
                details["left_by"] = who
        origin = to_origin(rec.stack, rec.parent) if rec is not None else ()
        title = f"closed only by the garbage collector: {self.category}: {self.message}"
        return Leak(kind=kind, title=title, origin=origin, details=details)


def collect(generation: int = 2) -> list[Collected]:
    """``gc.collect(generation)``, returning what its finalisers warned or raised.
    What the searches remembered (``referrers.remembering``) is let go first:
    a referrer they found may be garbage the pass is there to free."""
    forget()
    found: list[Collected] = []
    old_hook = sys.unraisablehook

    def keep(unraisable: Any) -> None:
        if len(found) < MAX_PER_PASS:
            exc = unraisable.exc_value
            message = f"{unraisable.err_msg or 'Exception ignored in'}: {_repr(unraisable.object)}"
            if exc is not None:
                message += f" ({type(exc).__name__}: {_text(exc)})"
            category = type(exc).__name__ if exc is not None else "unraisable"
            if isinstance(exc, Warning):  # a warning made an error by a filter
                category, message = type(exc).__name__, _text(exc)
            found.append(Collected(category, message, _record_of(unraisable.object)))
        del unraisable

    sys.unraisablehook = keep
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect(generation)
    finally:
        sys.unraisablehook = old_hook
        _forget_older()
    for w in caught[: max(0, MAX_PER_PASS - len(found))]:
        found.append(Collected(w.category.__name__, _text(w.message), _record_of(w.source)))
    caught.clear()
    return found


def older_collections() -> int:
    """How many collections of the older generations have run so far: one
    since a block began may have moved what the block made out of a young
    pass's reach (a cycle still referred to then, dropped later)."""
    return sum(stats.get("collections", 0) for stats in gc.get_stats()[1:])


#: ``gc.get_count()`` as :func:`older_collections` was last read, and its answer.
_LAST_OLDER: tuple[tuple[int, ...], int] | None = None


def older_mark() -> int:
    """:func:`older_collections` or less, cheaply (a watch's start): the
    collector's statistics cost some 15,000 instructions to read, its
    counters little.  Read again only when the counters say an older
    generation may have been collected since (the second generation's
    count moved or is 0, as a full pass leaves it, or the first's fell
    back); else the last answer, which is never more than the count now:
    compared later, a stale one asks for the full pass.  A pass leakwatch
    runs forgets the answer (see :func:`collect`): a full pass leaves the
    counts as it found them after the last one, and each leaky block's
    would have kept the next ones' stale."""
    global _LAST_OLDER
    count, last = gc.get_count(), _LAST_OLDER
    if last is not None and count[2] == last[0][2] != 0 and count[1] >= last[0][1]:
        return last[1]
    value = older_collections()
    _LAST_OLDER = (count, value)
    return value


def _forget_older() -> None:
    global _LAST_OLDER
    _LAST_OLDER = None


def _record_of(obj: Any) -> _records.Record | None:
    """The creation record leakwatch kept for a finalised object, if any."""
    if obj is None:
        return None
    try:
        rec = _records.sockets.get(obj)
    except TypeError:
        rec = None
    if rec is not None:
        return rec
    try:
        fd = obj.fileno()
    except Exception:
        return None
    return _records.fds.get(fd) if isinstance(fd, int) else None


def _text(obj: Any) -> str:
    try:
        return str(obj)
    except Exception:
        return f"<{type(obj).__name__} whose str() failed>"


def _repr(obj: Any) -> str:
    try:
        return repr(obj)
    except Exception:
        return f"<{type(obj).__name__} whose repr() failed>"
