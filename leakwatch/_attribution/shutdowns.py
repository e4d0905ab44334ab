"""Loop shutdowns: the tasks and timers still pending when an event loop is shut down.

``asyncio.run``, ``asyncio.Runner`` (pytest-asyncio's loops, anyio's and a
``TestClient`` portal's, uvloop's ``run``) cancel every task left on their
loop before closing it, and ``loop.close()`` drops what is left.  A task
pending at that moment was never finished by whoever made it: goleak's and
pyleak's leak, invisible afterwards; so is a timer still scheduled when
its loop is closed.  So the runners' ``_cancel_all_tasks`` and
``BaseEventLoop.close`` (and uvloop's) are wrapped once asyncio (or anyio's
backport of the runner) is imported, and each listener is told of the
pending tasks before they are cancelled, and of the loop as it closes,
before the timers on it are dropped -- only while a watch is on, and not
when the loop is shut down by an exception escaping it (a failed block is
not judged).

A wrapper calls the original with the same arguments and returns or raises
what it does; a listener that fails is ignored.  Must not describe or judge:
listeners (the task and timer probes) do.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from leakwatch._attribution import recording
from leakwatch._attribution.recording import _install_lock, _local

#: ``listener(loop, pending_tasks)``, called before they are cancelled.
listeners: list[Callable[[Any, list[Any]], None]] = []

#: ``listener(loop)``, called as ``loop.close()`` begins, before it drops the
#: timers still scheduled on it.
close_listeners: list[Callable[[Any], None]] = []

#: Where a runner's ``_cancel_all_tasks(loop)`` lives: asyncio's, and the
#: backports of ``asyncio.Runner`` that run Python 3.10's loops (anyio's own;
#: ``backports.asyncio.runner``, pytest-asyncio's).
RUNNER_MODULES = (
    "asyncio.runners",
    "anyio._backends._asyncio",
    "backports.asyncio.runner.runner",
)


def _listening(to: list[Any]) -> bool:
    if not recording._active or _local.quiet or not to:
        return False
    # Shut down by an exception escaping the runner (the program was
    # interrupted, its main coroutine raised): a block that failed is not
    # judged, and neither is what it left on its loop.
    return sys.exc_info()[0] is None


def _tell(loop: Any) -> None:
    if not _listening(listeners):
        return
    try:
        import asyncio

        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    except Exception:
        return
    if not pending:
        return
    for listener in list(listeners):
        try:
            listener(loop, pending)
        except Exception:  # a listener must never change the program's shutdown
            continue


def closing(loop: Any) -> None:
    """Tell the listeners of the tasks still pending on ``loop``, which is
    about to cancel them itself (a runner that does not go through
    ``_cancel_all_tasks``: unittest's ``IsolatedAsyncioTestCase`` on 3.10)."""
    _tell(loop)


def _wrap_cancel_all(module: Any) -> None:
    orig = getattr(module, "_cancel_all_tasks", None)
    if orig is None or getattr(orig, "__leakwatch__", False):
        return

    @functools.wraps(orig)
    def _cancel_all_tasks(loop: Any) -> Any:
        _tell(loop)
        return orig(loop)

    _cancel_all_tasks.__leakwatch__ = True  # type: ignore[attr-defined]
    module._cancel_all_tasks = _cancel_all_tasks


def _wrap_close(loop_cls: Any) -> None:
    orig = loop_cls.close
    if getattr(orig, "__leakwatch__", False):
        return

    @functools.wraps(orig)
    def close(self: Any) -> Any:
        try:
            ending = not self.is_running() and not self.is_closed()
        except Exception:
            ending = False
        if ending:
            _tell(self)
            if _listening(close_listeners):
                for listener in list(close_listeners):
                    try:
                        listener(self)
                    except Exception:  # never change the program's shutdown
                        continue
        return orig(self)

    close.__leakwatch__ = True  # type: ignore[attr-defined]
    loop_cls.close = close


def install() -> None:
    """Wrap what is imported and not yet wrapped (cheap when all is done)."""
    modules = [sys.modules.get(name) for name in RUNNER_MODULES]
    base_events = sys.modules.get("asyncio.base_events")
    loop_classes = [
        cls
        for cls in (
            getattr(base_events, "BaseEventLoop", None),
            getattr(sys.modules.get("uvloop"), "Loop", None),  # a Python subclass of its C loop
        )
        if cls is not None and not getattr(cls.close, "__leakwatch__", False)
    ]
    todo = [m for m in modules if m is not None and _unwrapped(m)]
    if not todo and not loop_classes:
        return
    with _install_lock:
        for module in modules:
            if module is not None:
                _wrap_cancel_all(module)
        for loop_cls in loop_classes:
            _wrap_close(loop_cls)


def _unwrapped(module: Any) -> bool:
    orig = getattr(module, "_cancel_all_tasks", None)
    return orig is not None and not getattr(orig, "__leakwatch__", False)
