"""``watch()``: a thin shell over the engine (``check()`` is in :mod:`.checks`).

leakwatch must never break the program it watches: the block's own result
and exception pass through untouched, a block that raised is reported but
not judged (its traceback pins frames), and an internal error becomes a
note in the report and a :class:`LeakwatchInternalWarning` shown (never
raised, whatever the warnings filters say), never a crash.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from types import TracebackType
from typing import Any, Literal, TypeVar

from leakwatch._engine.watcher import Watcher
from leakwatch._report.errors import (
    LeakError,
    LeakWarning,
    internal_error_report,
    warn_at_caller,
)
from leakwatch._report.report import Report
from leakwatch._rules.precedence import options_for

OnLeak = Literal["raise", "warn", "report"]
F = TypeVar("F", bound=Callable[..., Any])


#: unittest leaves out of its tracebacks the frames of modules that say this.
__unittest = True

#: Entering and leaving watch objects: a watch object is entered once at a time.
_ENTRY = threading.Lock()


def _judge(report: Report, on_leak: str) -> LeakError | None:
    """The error to raise for this report, or None; warns when ``on_leak="warn"``.

    Returned, not raised: the caller raises it, so a traceback shows one
    leakwatch frame (hidden from pytest's), at the user's ``with`` or call.
    """
    if report.clean or report.block_failed:
        return None
    if on_leak == "raise":
        return LeakError(report)
    if on_leak == "warn":
        warn_at_caller(LeakWarning(report))  # at the user's line, never leakwatch's
    return None


class watch:
    """Watch a block; fail if it leaves resources behind.

    ::

        with leakwatch.watch() as w:
            client.fetch(url)
        w.report              # a leakwatch.Report

        async with leakwatch.watch(on_leak="warn"):
            await serve_once()

        @leakwatch.watch(kinds=("fd", "thread"))
        def test_upload(): ...

    ``on_leak`` is ``"raise"`` (default: :class:`LeakError`), ``"warn"``
    (:class:`LeakWarning`) or ``"report"`` (only fill in :attr:`report`).
    ``kinds`` chooses the probes (default: fd, thread, task, process,
    tempfile; add ``"heap"`` and ``"state"`` for information on what one call
    retained or changed).  Other keyword options are those of the
    ``[tool.leakwatch]`` configuration (``settle_budget``, ``ignore``, ...),
    which they override.
    """

    report: Report | None

    def __new__(cls, fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        if fn is not None:  # ``@leakwatch.watch`` without parentheses
            if not callable(fn):
                raise TypeError("watch() takes keyword options only (or decorates a function)")
            return cls(**options)(fn)
        return super().__new__(cls)

    def __init__(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        on_leak: OnLeak | None = None,
        kinds: tuple[str, ...] | list[str] | None = None,
        label: str | None = None,
        **options: Any,
    ) -> None:
        if kinds is not None:
            options["kinds"] = tuple(kinds)
        if on_leak is not None:
            options["on_leak"] = on_leak
        self._options, self.on_leak = options_for(options, label=label)
        self.report = None
        self._watcher: Watcher | None = None
        self._busy = False
        #: Told each report as the block ends (the pytest fixture keeps them).
        self._sink: Callable[[Report], None] | None = None

    # -- context manager ---------------------------------------------------------

    def _start(self) -> None:
        with _ENTRY:
            if self._busy:
                raise RuntimeError(
                    "leakwatch: this watch() is already watching a block (entered again, "
                    "nested or from another thread); use one watch() object per block"
                )
            self._busy = True
        self.report = None
        watcher = None
        try:
            watcher = Watcher(self._options)
            watcher.start()
            self._watcher = watcher
        except Exception as exc:
            if watcher is not None:
                watcher.abort()  # what start() turned on goes off again
            self.report = internal_error_report("watch start", exc)

    def _take(self) -> Watcher | None:
        with _ENTRY:
            watcher, self._watcher = self._watcher, None
            self._busy = False
        return watcher

    def __enter__(self) -> watch:
        self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True
        watcher = self._take()
        if watcher is None:
            return
        try:
            self.report = watcher.stop(block_failed=exc_type is not None)
        except Exception as err:
            self.report = internal_error_report("watch stop", err)
        if self._sink is not None:
            self._sink(self.report)
        error = _judge(self.report, self.on_leak) if exc_type is None else None
        if error is not None:
            raise error

    async def __aenter__(self) -> watch:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True
        watcher = self._take()
        if watcher is None:
            return
        try:
            self.report = await watcher.stop_async(block_failed=exc_type is not None)
        except Exception as err:
            self.report = internal_error_report("watch stop", err)
        if self._sink is not None:
            self._sink(self.report)
        error = _judge(self.report, self.on_leak) if exc_type is None else None
        if error is not None:
            raise error

    # -- decorator -----------------------------------------------------------

    def _fresh(self) -> watch:
        clone: watch = object.__new__(watch)
        clone._options, clone.on_leak = self._options, self.on_leak
        clone.report, clone._watcher, clone._busy = None, None, False
        clone._sink = self._sink
        return clone

    def __call__(self, fn: F) -> F:
        """Decorate a function: each call runs under its own watch.

        A generator or async generator function is watched from its call to
        the end of its iteration: what it makes while it yields counts, and so
        does what its consumer makes meanwhile.  One closed before its end (or
        that raised) is reported, not judged, like a block that raised.
        """
        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
                # Inline, not ``async for``: asend/athrow/aclose reach fn's generator.
                async with self._fresh():
                    agen = fn(*args, **kwargs)
                    try:
                        item = await agen.__anext__()
                    except StopAsyncIteration:
                        return
                    while True:
                        try:
                            sent = yield item
                        except GeneratorExit:
                            await agen.aclose()
                            raise
                        except BaseException as exc:
                            try:
                                item = await agen.athrow(exc)
                            except StopAsyncIteration:
                                return
                        else:
                            try:
                                item = await agen.asend(sent)
                            except StopAsyncIteration:
                                return

            return agen_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
                with self._fresh():
                    return (yield from fn(*args, **kwargs))

            return gen_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with self._fresh():
                    return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
