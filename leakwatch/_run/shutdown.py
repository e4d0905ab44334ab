"""The program's own shutdown, as python does it, up to leakwatch's final look.

When the main module returns (or raises, or calls ``sys.exit``), python
shuts down in this order: ``threading._shutdown`` waits for every
non-daemon thread, then the ``atexit`` handlers run, last registered first.
leakwatch takes its final look inside that order, where what is left is
what the program left:

1. :func:`join_threads` waits for the program's non-daemon threads, as
   python would, for at most ``--join-timeout`` seconds.  A thread that
   ends meanwhile is not a leak (python waits for it too); one still
   running then is judged (it keeps python from exiting), and the
   ``atexit`` handlers are not run early (python would not have reached
   them either).
2. :meth:`ExitHandlers.run_programs` runs the handlers the program
   registered itself (``atexit.register`` called from its own code), in
   python's order, as ``atexit`` would (an exception is printed through
   ``sys.unraisablehook`` and the next one runs), and takes them out of
   ``atexit`` so they run once.  What they close is not a leak: it is the
   program's own clean-up.  It stops at the first handler a library
   registered (multiprocessing terminating pools, logging closing its
   files, ``weakref.finalize``): those are safety nets for what the
   program did not close, and they run after the final look, with the
   program's handlers registered before them, in python's order.
3. The final look, the report; then python's own shutdown goes on:
   threads still running are waited for as python would, the remaining
   handlers run, and the process exits with leakwatch's status.

``threading._register_atexit`` hooks (``concurrent.futures`` stopping idle
executors) are such safety nets too: they run in python's shutdown, after
the final look.
"""

from __future__ import annotations

import atexit
import functools
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any

from leakwatch._base.paths import is_user_file
from leakwatch._base.pyversion import atexit_unraisable
from leakwatch._probes.threads import INTERNAL_PREFIX
from leakwatch._run.program import is_runner_file


def running_non_daemon() -> list[threading.Thread]:
    main = threading.main_thread()
    return [
        t
        for t in threading.enumerate()
        if t is not main
        and not t.daemon
        and t.is_alive()
        and not t.name.startswith(INTERNAL_PREFIX)
    ]


def join_threads(patience: float) -> list[threading.Thread]:
    """Wait for non-daemon threads (and those they start) for at most ``patience``
    seconds; return those still running.  Ctrl-C ends the wait."""
    deadline = time.monotonic() + patience
    try:
        while True:
            pending = running_non_daemon()
            left = deadline - time.monotonic()
            if not pending or left <= 0:
                return pending
            pending[0].join(left)
    except KeyboardInterrupt:
        return running_non_daemon()


@dataclass
class _Handler:
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    by: str  # "program", "library" or "leakwatch"


@dataclass
class ExitHandlers:
    """Records ``atexit.register`` calls made while the program runs."""

    handlers: list[_Handler] = field(default_factory=list)
    _real: dict[str, Any] | None = None
    _hook_args: type | None = None

    def install(self) -> None:
        names = ("register", "unregister", "_clear", "_run_exitfuncs")
        real: dict[str, Any] = {name: getattr(atexit, name, None) for name in names}
        self._real = real
        self._hook_args = _unraisable_args_type()

        def register(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            result = real["register"](func, *args, **kwargs)
            self.handlers.append(_Handler(func, args, kwargs, _who(sys._getframe(1))))
            return result

        def unregister(func: Callable[..., Any], /) -> None:
            real["unregister"](func)
            self.handlers = [h for h in self.handlers if not _same(h.func, func)]

        def forget_all(name: str) -> Callable[[], None]:
            def call() -> None:
                self.handlers.clear()  # cleared, or all run: none left to run early
                real[name]()

            return call

        wrappers: dict[str, Callable[..., Any]] = {"register": register, "unregister": unregister}
        wrappers.update({name: forget_all(name) for name in names[2:] if real[name] is not None})
        for name, wrapper in wrappers.items():
            setattr(atexit, name, functools.wraps(real[name])(wrapper))

    def uninstall(self) -> None:
        if self._real is not None:
            for name, func in self._real.items():
                if func is not None:
                    setattr(atexit, name, func)
            self._real = None

    def run_programs(self) -> int:
        """Run the program's own handlers due before any library's; return how many ran.

        Each is taken out of ``atexit`` (``unregister``, which takes out every
        equal one) before it runs: one registered more than once stops here,
        since python's order could not be kept."""
        if self._real is None:
            return 0
        unregister = self._real["unregister"]
        ran = 0
        for handler in reversed(list(self.handlers)):
            if handler.by == "leakwatch":
                continue
            if handler.by != "program":
                break
            try:
                if sum(_same(h.func, handler.func) for h in self.handlers) != 1:
                    break
                unregister(handler.func)
            except Exception:
                break
            self.handlers.remove(handler)
            self._call(handler)
            ran += 1
        return ran

    def _call(self, handler: _Handler) -> None:
        try:
            handler.func(*handler.args, **handler.kwargs)
        except BaseException as exc:  # as atexit does: print it, go on
            tb = exc.__traceback__
            exc.__traceback__ = tb.tb_next if tb is not None else None  # not leakwatch's frame
            self._unraisable(exc, handler.func)
            del exc

    def _unraisable(self, exc: BaseException, func: Any) -> None:
        message, obj = atexit_unraisable(func)
        tb: TracebackType | None = exc.__traceback__
        if self._hook_args is None:
            sys.stderr.write(f"{message}{f': {obj!r}' if obj is not None else ''}\n")
            import traceback

            traceback.print_exception(type(exc), exc, tb)
            return
        args = self._hook_args((type(exc), exc, tb, message, obj))
        try:
            sys.unraisablehook(args)
        except BaseException:
            sys.__unraisablehook__(args)


def _who(frame: FrameType | None) -> str:
    filename = frame.f_code.co_filename if frame is not None else ""
    if is_runner_file(filename):
        return "leakwatch"
    return "program" if is_user_file(filename) else "library"


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


def _unraisable_args_type() -> type | None:
    """``sys.UnraisableHookArgs``, which python does not name: seen once, by a
    ``__del__`` that raises while a hook of leakwatch's own is in place."""
    seen: list[Any] = []
    old = sys.unraisablehook
    sys.unraisablehook = seen.append

    class _Raises:
        def __del__(self) -> None:
            raise RuntimeError

    try:
        _Raises()
    finally:
        sys.unraisablehook = old
    kind = type(seen[0]) if seen else None
    # Its traceback reaches this frame and the callers': let go of it now, not
    # at a gc pass (the program's __main__ would outlive its place in shutdown).
    seen.clear()
    return kind
