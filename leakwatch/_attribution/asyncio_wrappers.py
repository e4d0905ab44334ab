"""asyncio's loops, wrapped once asyncio (or uvloop) is imported: where a task
was made (``create_task``, into ``records.tasks``), where a timer was
scheduled (``call_at``, and uvloop's ``call_later``, into ``records.timers``)
and when a loop was made (``records.loop_births``), recorded while a watch
is on.

A timer that wakes or times out a future (``asyncio.sleep``, ``wait_for``,
``asyncio.timeout``) is not recorded: it lives and dies with what awaits it.
When only sampled requests are recorded, a task or timer no request is
charged for is not recorded at all (a record of no request's is of no use
there): that is asked before anything else.
Must not import asyncio: it wraps loop classes it is handed.
"""

from __future__ import annotations

import functools
import sys
import weakref
from typing import Any

from leakwatch._attribution import recording, records, tags
from leakwatch._attribution.recording import _install_lock, _record, wanted

asyncio_wrapped = False

#: Read in the wrappers before ``recording.wanted()``, whose answer it gives at no
#: call for what no sampled request made (most of a service's tasks and
#: timers): no tag in the context, and no thread or pool job tagged at all.
#: That gate is written out in each wrapper, not called: a call there would
#: cost what it saves.
_tag = tags.request_tag


def wrap_asyncio() -> None:
    """Wrap ``create_task`` of asyncio's loops, and of uvloop's once it is
    imported (never import either): called as each watch starts."""
    global asyncio_wrapped
    base_events = sys.modules.get("asyncio.base_events")
    classes = [getattr(base_events, "BaseEventLoop", None)]
    uvloop = sys.modules.get("uvloop")
    classes.append(getattr(uvloop, "Loop", None))  # a Python subclass of uvloop's C loop
    todo = [c for c in classes if c is not None and not _task_wrapped(c)]
    if not todo:
        asyncio_wrapped = classes[0] is not None and classes[1] is not None
        return
    with _install_lock:
        for loop_cls in todo:
            _wrap_init(loop_cls)
            _wrap_create_task(loop_cls)
            # asyncio's call_later goes through call_at; uvloop's does not.
            names = ("call_at",) if loop_cls is classes[0] else ("call_at", "call_later")
            for name in names:
                wrap_timer(loop_cls, name)
        asyncio_wrapped = classes[0] is not None and classes[1] is not None


def _task_wrapped(loop_cls: Any) -> bool:
    return bool(getattr(loop_cls.create_task, "__leakwatch__", False))


def _wrap_create_task(loop_cls: Any) -> None:
    if _task_wrapped(loop_cls):
        return
    orig = loop_cls.create_task

    @functools.wraps(orig)
    def create_task(self: Any, coro: Any, *args: Any, **kwargs: Any) -> Any:
        # Called without the packed arguments when there are none: a call
        # through ``*args, **kwargs`` costs a request not sampled as much
        # again as the rest of the wrapper.
        task = orig(self, coro, *args, **kwargs) if args or kwargs else orig(self, coro)
        if recording._active and (
            not recording.tag_only
            or _tag.get()
            or tags.thread_tags
            or tags.job_tags
            or tags.starting
        ):
            try:
                if wanted(sys._getframe(1)):
                    rec = _record(charged=True)
                    if rec.tag or not recording.tag_only:
                        records.tasks[task] = rec
            except Exception:
                pass
        return task

    create_task.__leakwatch__ = True  # type: ignore[attr-defined]
    loop_cls.create_task = create_task


def _wrap_init(loop_cls: Any) -> None:
    """Note when each loop is made (``records.loop_births``): a timer its
    close drops is a leak only of a watch the loop is older than."""
    orig = loop_cls.__init__
    if getattr(orig, "__leakwatch__", False):
        return

    @functools.wraps(orig)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        if recording._active:
            try:
                records.loop_births[self] = records.current_serial()
            except Exception:
                pass

    __init__.__leakwatch__ = True  # type: ignore[attr-defined]
    loop_cls.__init__ = __init__


def wrap_timer(loop_cls: Any, name: str) -> None:
    """Record where a timer was scheduled (``call_later``, ``call_at``)."""
    orig = getattr(loop_cls, name)
    if getattr(orig, "__leakwatch__", False):
        return

    @functools.wraps(orig)
    def schedule(self: Any, when: Any, callback: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            handle = orig(self, when, callback, *args, **kwargs)
        else:
            handle = orig(self, when, callback)
        if recording._active and (
            not recording.tag_only
            or _tag.get()
            or tags.thread_tags
            or tags.job_tags
            or tags.starting
        ):
            try:
                # Asked first: the server's own timers inside a sampled
                # request (a keep-alive) cost no more than this.
                if wanted(sys._getframe(1)) and not serves_a_future(callback, args):
                    rec = _record(callable_name(callback), charged=True)
                    if rec.tag or not recording.tag_only:
                        records.timers[handle] = rec
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


def serves_a_future(callback: Any, args: tuple[Any, ...]) -> bool:
    """A timer that wakes or times out a future (``asyncio.sleep``,
    ``wait_for``, ``asyncio.timeout``): it lives and dies with what awaits it,
    a task the task probe reports."""
    owner = getattr(callback, "__self__", None)
    if owner is not None and (_is_future(owner) or _is_future(getattr(owner, "_task", None))):
        return True
    return any(_is_future(arg) for arg in args)


def callable_name(obj: Any) -> str:
    try:
        func = getattr(obj, "func", None)  # functools.partial
        target = func if func is not None else obj
        module = getattr(target, "__module__", None) or ""
        name = getattr(target, "__qualname__", None) or type(target).__qualname__
        return f"{module}.{name}" if module else str(name)
    except Exception:
        return "?"
