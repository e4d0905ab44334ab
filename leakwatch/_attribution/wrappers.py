"""Wrappers for creations that raise no audit event, installed once per process.

``os.pipe``, ``os.dup``, ``os.openpty``, ``os.eventfd``, ``select.epoll``,
``_thread.start_new_thread``, ``threading.Thread.start``/``__init__``,
``socket.detach``, asyncio's ``create_task`` and
``run_coroutine_threadsafe``; and ``os.open``/``open``, whose descriptor
number is known only once they return.  Each records through
:mod:`leakwatch._attribution.recording` only while a watch is on.

A wrapper must never change what the wrapped call returns or raises, nor
how it looks (name, docstring, pickling, ``isinstance``).
"""

from __future__ import annotations

import _thread
import functools
import select
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from leakwatch._attribution import recording, records, tags
from leakwatch._attribution.recording import (
    _CLAIMING,
    _local,
    _record,
    _recording,
)
from leakwatch._attribution.records import (
    fds,
    handovers,
    native_owners,
    native_threads,
    sockets,
    thread_inits,
    thread_starts,
    threads,
)
from leakwatch._base.platform import fd_target

# -- wrappers for creations without an audit event ------------------------------


def _fd_wrapper(orig: Callable[..., Any], fds_of: Callable[[Any], tuple[int, ...]] | None) -> Any:
    """``orig`` wrapped to file a record under each descriptor it makes:
    ``fds_of(result)`` says which; None for ``os.dup2``, whose result is the
    one it made unless it is 0-2 (stdio redirected: pytest's capture does it
    a dozen times a test, so that is asked first, inline)."""
    made_by = getattr(orig, "__name__", "")

    if fds_of is None:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True  # pytest shows the caller's traceback as without leakwatch
            result = orig(*args, **kwargs)
            if recording._active and result > 2:
                _file_fds(made_by, (result,))
            return result

    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True  # pytest shows the caller's traceback as without leakwatch
            result = orig(*args, **kwargs)
            if recording._active:
                try:
                    new_fds = fds_of(result)
                except Exception:  # recording must never break the watched program
                    return result
                _file_fds(made_by, new_fds)
            return result

    wrapper.__name__ = getattr(orig, "__name__", "wrapper")
    wrapper.__qualname__ = getattr(orig, "__qualname__", "wrapper")
    wrapper.__doc__ = getattr(orig, "__doc__", None)
    wrapper.__wrapped__ = orig  # type: ignore[attr-defined]
    return wrapper


def _file_fds(made_by: str, new_fds: tuple[int, ...]) -> None:
    """File one record under each descriptor a wrapped call made."""
    if not new_fds or _local.quiet:  # leakwatch's own: not counted
        return
    try:
        recording._epoch += 1
        rec = _record(made_by=made_by)
        for fd in new_fds:
            # What the number is now (``pipe:[ino]``): a C-made
            # descriptor reusing it later must not take this line.
            fds[fd] = replace(rec, extra=fd_target(fd) or "")
    except Exception:  # recording must never break the watched program
        pass


class _OpenWrapper:
    """Stands in for ``os.open`` or ``open``: files the open's record by number.

    An object rather than a function: like the builtin it replaces, it never
    binds as a method (``class C: opener = open`` keeps working).  The audit
    hook records the open (the number is not known yet) and leaves the
    record in ``_local.opened``; this files it under the number returned, so
    two descriptors on one path never swap their lines.  Only opens no
    wrapper sees go to the path table.
    """

    def __init__(self, orig: Callable[..., Any], fd_of: Callable[[Any], int], module: str) -> None:
        self.__wrapped__ = orig
        self._fd_of = fd_of
        for name in ("__name__", "__qualname__", "__doc__"):
            setattr(self, name, getattr(orig, name, None))
        self.__module__ = module  # where it is installed: pickle finds it there

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # pytest shows the caller's traceback as without leakwatch
        if not recording._active:
            return self.__wrapped__(*args, **kwargs)
        _local.opened = _CLAIMING
        try:
            result = self.__wrapped__(*args, **kwargs)
        except BaseException:
            _local.opened = None
            raise
        rec = _local.opened
        _local.opened = None
        if rec is not _CLAIMING and rec is not None:
            try:
                fds[self._fd_of(result)] = rec
            except Exception:  # recording must never break the watched program
                pass
        return result

    def __repr__(self) -> str:
        return repr(self.__wrapped__)

    def __reduce__(self) -> str:
        return str(getattr(self.__wrapped__, "__qualname__", ""))  # by name, like the builtin


def _fileno(obj: Any) -> int:
    return int(obj.fileno())


def _one(r: Any) -> tuple[int, ...]:
    return (r,)


def _pair(r: Any) -> tuple[int, ...]:
    return (r[0], r[1])


class _EpollMeta(type):
    """``isinstance(x, select.epoll)`` keeps working for real epoll objects."""

    real: type

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls.real)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls.real)


def _wrap_epoll() -> None:
    found = getattr(select, "epoll", None)
    if found is None or isinstance(found, _EpollMeta):
        return
    real: Any = found

    class epoll(metaclass=_EpollMeta):
        __doc__ = real.__doc__

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            obj = real(*args, **kwargs)
            recording._epoch += 1
            if recording._active and not _local.quiet:
                fds[obj.fileno()] = _record()
            return obj

        fromfd = staticmethod(real.fromfd)

    epoll.real = real
    select.epoll = epoll  # type: ignore[misc]
    # selectors (and so asyncio) captured the class at import time.
    selectors = sys.modules.get("selectors")
    poller = getattr(selectors, "EpollSelector", None)
    if poller is not None and getattr(poller, "_selector_cls", None) is real:
        poller._selector_cls = epoll


def _wrap_thread_start() -> None:
    orig_start = threading.Thread.start
    if getattr(orig_start, "__leakwatch__", False):
        return

    def start(self: threading.Thread) -> None:
        rec = None
        if _recording():
            recording._epoch += 1
            try:
                target = getattr(self, "_target", None)
                name = getattr(target, "__qualname__", "") if target is not None else ""
                rec = threads[self] = _record(name)
                thread_starts[self] = time.monotonic()
            except Exception:
                pass
        if rec is None or not rec.tag:
            orig_start(self)
            return
        # What this thread makes is the request's (see recording._untagged),
        # from its first line: it may run before start() returns.
        tags.starting[id(self)] = rec.tag
        try:
            orig_start(self)
            native = getattr(self, "native_id", None)
            if self.ident is not None and native is not None:
                if len(tags.thread_tags) >= 4096:
                    tags.thread_tags.pop(next(iter(tags.thread_tags)))
                tags.thread_tags[self.ident] = (native, rec.tag)
        finally:
            tags.starting.pop(id(self), None)

    start.__leakwatch__ = True  # type: ignore[attr-defined]
    start.__doc__ = orig_start.__doc__
    threading.Thread.start = start  # type: ignore[method-assign]

    orig_init = threading.Thread.__init__

    @functools.wraps(orig_init)
    def __init__(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
        orig_init(self, *args, **kwargs)
        if recording._active and _recording():
            try:
                thread_inits[self] = _record()
            except Exception:
                pass

    __init__.__leakwatch__ = True  # type: ignore[attr-defined]
    threading.Thread.__init__ = __init__  # type: ignore[method-assign]

    orig_new = _thread.start_new_thread

    def start_new_thread(function: Any, args: Any, kwargs: Any = None) -> int:
        if not _recording():
            return orig_new(function, args, kwargs or {})
        recording._epoch += 1
        rec = _record(getattr(function, "__qualname__", ""))
        owner = getattr(function, "__self__", None)
        said = _thread.allocate_lock()
        said.acquire()

        def run(*a: Any, **kw: Any) -> Any:
            try:
                tid = threading.get_native_id()
                native_threads[tid] = rec
                if owner is not None and not isinstance(owner, type):
                    try:
                        native_owners[tid] = weakref.ref(owner)
                    except TypeError:  # not weak-referenceable
                        pass
            finally:
                said.release()
            return function(*a, **kw)

        ident = orig_new(run, args, kwargs or {})
        # The OS lists the thread from here on, but only it can say its native
        # id: wait until it has (as Thread.start waits), or a look right after
        # this, on a busy machine, finds a thread whose start was "not seen".
        if not sys.is_finalizing():  # a thread started now may never run
            said.acquire(timeout=30)
        return ident

    _thread.start_new_thread = start_new_thread


def _wrap_handover() -> None:
    """Record ``asyncio.run_coroutine_threadsafe`` hand-overs (once asyncio is imported)."""
    global _handover_wrapped
    tasks_mod = sys.modules.get("asyncio.tasks")
    if _handover_wrapped or tasks_mod is None:
        return
    _handover_wrapped = True
    orig = getattr(tasks_mod, "run_coroutine_threadsafe", None)
    if orig is None or getattr(orig, "__leakwatch__", False):
        return

    def run_coroutine_threadsafe(coro: Any, loop: Any) -> Any:
        if _recording():
            try:
                handovers[coro] = _record()
            except TypeError:  # not weak-referenceable
                pass
        return orig(coro, loop)

    run_coroutine_threadsafe.__leakwatch__ = True  # type: ignore[attr-defined]
    run_coroutine_threadsafe.__doc__ = orig.__doc__
    run_coroutine_threadsafe.__wrapped__ = orig  # type: ignore[attr-defined]
    for module in (tasks_mod, sys.modules.get("asyncio")):
        if getattr(module, "run_coroutine_threadsafe", None) is orig:
            setattr(module, "run_coroutine_threadsafe", run_coroutine_threadsafe)  # noqa: B010 - mypy: a module of unknown type


_handover_wrapped = False


def _wrap_detach() -> None:
    orig = socket.socket.detach
    if getattr(orig, "__leakwatch__", False):
        return

    @functools.wraps(orig)
    def detach(self: socket.socket) -> int:
        fd = orig(self)
        if recording._active:
            try:
                # The object may die now while the descriptor lives on: file
                # its record under the number.
                rec = sockets.get(self)
                if rec is not None and fd >= 0:
                    target = fd_target(fd)
                    made = records.wrapped(fd, rec, target)
                    fds[fd] = replace(made, made_by="socket", extra=target or "")
            except Exception:
                pass
        return fd

    detach.__leakwatch__ = True  # type: ignore[attr-defined]
    socket.socket.detach = detach  # type: ignore[method-assign,assignment]
