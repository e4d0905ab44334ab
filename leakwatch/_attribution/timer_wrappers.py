"""Where asyncio timers were scheduled: ``call_at`` (and uvloop's ``call_later``)
wrapped once, recording into ``records.timers`` while a watch is on.

A timer that wakes or times out a future (``asyncio.sleep``, ``wait_for``,
``asyncio.timeout``) is not recorded: it lives and dies with what awaits it.
Must not import asyncio: it wraps loop classes it is handed.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

from leakwatch._attribution import recording, records
from leakwatch._attribution.recording import _local, _record


def wrap_timer(loop_cls: Any, name: str) -> None:
    """Record where a timer was scheduled (``call_later``, ``call_at``)."""
    orig = getattr(loop_cls, name)
    if getattr(orig, "__leakwatch__", False):
        return

    @functools.wraps(orig)
    def schedule(self: Any, when: Any, callback: Any, *args: Any, **kwargs: Any) -> Any:
        handle = orig(self, when, callback, *args, **kwargs)
        if recording._active and not getattr(_local, "quiet", False):
            try:
                if not _serves_a_future(callback, args):
                    records.timers[handle] = _record(_callable_name(callback))
                    records.timer_loops[handle] = weakref.ref(self)
            except Exception:
                pass
        return handle

    schedule.__leakwatch__ = True  # type: ignore[attr-defined]
    setattr(loop_cls, name, schedule)


def _is_future(obj: Any) -> bool:
    """``asyncio.isfuture``, without importing asyncio."""
    return getattr(type(obj), "_asyncio_future_blocking", None) is not None and (
        getattr(obj, "_asyncio_future_blocking", None) is not None
    )


def _serves_a_future(callback: Any, args: tuple[Any, ...]) -> bool:
    """A timer that wakes or times out a future (``asyncio.sleep``,
    ``wait_for``, ``asyncio.timeout``): it lives and dies with what awaits it,
    a task the task probe reports."""
    owner = getattr(callback, "__self__", None)
    if owner is not None and (_is_future(owner) or _is_future(getattr(owner, "_task", None))):
        return True
    return any(_is_future(arg) for arg in args)


def _callable_name(obj: Any) -> str:
    try:
        func = getattr(obj, "func", None)  # functools.partial
        target = func if func is not None else obj
        module = getattr(target, "__module__", None) or ""
        name = getattr(target, "__qualname__", None) or type(target).__qualname__
        return f"{module}.{name}" if module else str(name)
    except Exception:
        return "?"
