"""Where things were created: hooks installed once, recording only while a watch is on.

CPython raises audit events for some creations (``open``, ``socket.__new__``,
``subprocess.Popen``, ``os.fork``, ``tempfile.mkstemp``/``mkdtemp``,
``os.mkdir``); an audit hook can't be removed, so it is installed once and
gated by a counter.  Calls with no event (``os.pipe``, ``os.dup``,
``os.openpty``, ``os.eventfd``, ``select.epoll``, ``_thread.start_new_thread``)
and ``threading.Thread.start`` are wrapped once, the same way.  So are the
calls whose descriptor number is known only once they return (``os.open``,
``open``/``io.open``): the open's record is then filed by number, and the
path table stays for opens no wrapper sees (C code, ``io.FileIO``).  A
socket's record lives with the socket object; ``socket.detach()`` moves it
to the descriptor number, which outlives the object.  ``Thread.__init__``
records where a thread was made, beside where it was started; asyncio's
``BaseEventLoop.create_task`` (which ``create_task``, ``ensure_future``,
``gather``, ``as_completed`` and task groups all reach) records where a task
was made, wrapped once asyncio is imported, as is ``call_at`` (and
uvloop's ``call_later``), where a timer was scheduled; coroutine origin tracking
(``cr_origin``) remains for the rest.

The counter that gates it all is changed under a lock (watches start and
end in many threads at once); the hooks read it without one.

Each record is a :class:`Record`: a serial number (creation order), the raw
stack (plain strings and ints) and the stack that started the thread it was
created in, so a resource made inside a library's worker thread still points
at the user's line.  Tables are bounded; nothing holds the user's objects
except through weak references.

The parts: :mod:`~leakwatch._attribution.records` (the records and the
tables), :mod:`~leakwatch._attribution.recording` (the gate, the audit hook,
making a record), :mod:`~leakwatch._attribution.wrappers` (the wrapped
calls); this module installs them once and turns them on.  Must not be
imported for its tables: ask ``records``.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile

from leakwatch._attribution import asyncio_wrappers, pool_jobs, recording, shutdowns, wrappers
from leakwatch._attribution.recording import _audit, _install_lock
from leakwatch._attribution.wrappers import (
    _fd_wrapper,
    _fileno,
    _one,
    _OpenWrapper,
    _pair,
    _wrap_detach,
    _wrap_epoll,
    _wrap_handover,
    _wrap_thread_start,
)
from leakwatch._base.identity import identity

_installed = False


def install() -> None:
    """Install the hooks (once per process)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        recording._tempdir = tempfile.gettempdir()
        sys.addaudithook(_audit)
        if not isinstance(os.open, _OpenWrapper):
            os.open = _OpenWrapper(os.open, int, "os")
        import builtins

        if not isinstance(builtins.open, _OpenWrapper):
            opener = _OpenWrapper(builtins.open, _fileno, "io")
            builtins.open = opener
            io.open = opener
        for name, fds_of in (
            ("pipe", _pair),
            ("pipe2", _pair),
            ("openpty", _pair),
            ("dup", _one),
            ("dup2", None),  # the result, unless stdio (0-2) was redirected
            ("eventfd", _one),
            ("memfd_create", _one),
        ):
            orig = getattr(os, name, None)
            if orig is not None and not hasattr(orig, "__wrapped__"):
                setattr(os, name, _fd_wrapper(orig, fds_of))
        _wrap_epoll()
        _wrap_thread_start()
        _wrap_detach()
        _installed = True


#: The modules whose import the hooks wait for (asyncio's loops, tasks and
#: runners, uvloop's loop, anyio's runner): see :func:`_imports_changed`.
_AWAITED = ("asyncio.base_events", "asyncio.tasks", "uvloop", *shutdowns.RUNNER_MODULES)
_awaited_seen: tuple[int, ...] = ()


def _imports_changed() -> bool:
    """Whether one of :data:`_AWAITED` was imported (or dropped) since the
    last watch started: the wrappers that wait for an import need a look
    only then.  By identity, holding no module; under pytest a watch starts
    per test."""
    global _awaited_seen
    seen = tuple(map(identity, map(sys.modules.get, _AWAITED)))
    if seen == _awaited_seen:
        return False
    _awaited_seen = seen
    return True


def activate(full: bool = True) -> None:
    """One more watch is on: install the hooks if needed, then count it.
    ``full=False``: only sampled requests' creations are recorded for it."""
    if _imports_changed() or not _installed:
        install()
        if not wrappers._handover_wrapped:
            _wrap_handover()
        if not asyncio_wrappers.asyncio_wrapped:
            asyncio_wrappers.wrap_asyncio()
        shutdowns.install()
    if not full:  # sampled requests: their jobs in thread pools are theirs
        pool_jobs.wrap_pool_jobs()
    recording.count_on(full)
