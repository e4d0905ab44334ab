"""``watch()``, ``check()`` and ``check_async()``: thin shells over the engine.

leakwatch must never break the program it watches: the block's own result
and exception pass through untouched, a block that raised is reported but
not judged (its traceback pins frames), and an internal error becomes a
:class:`LeakwatchInternalWarning`, never a crash.
"""

from __future__ import annotations

import functools
import inspect
import traceback
import warnings
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Literal, TypeVar

from leakwatch._engine import Options, Watcher
from leakwatch._errors import LeakError, LeakWarning, LeakwatchInternalWarning
from leakwatch._growth import run_check, run_check_async
from leakwatch._model import RESOURCE_KINDS, Report
from leakwatch._settings import options_for

OnLeak = Literal["raise", "warn", "report"]
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
_ON_LEAK = ("raise", "warn", "report")


def _internal_error(where: str, exc: BaseException) -> Report:
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    warnings.warn(
        f"leakwatch: internal error in {where}, nothing judged ({detail})",
        LeakwatchInternalWarning,
        stacklevel=4,
    )
    return Report(notes=[f"internal error in {where}: {detail}"])


def _judge(report: Report, on_leak: str, stacklevel: int = 3) -> None:
    if report.clean or report.block_failed:
        return
    if on_leak == "raise":
        raise LeakError(report)
    if on_leak == "warn":
        warnings.warn(LeakWarning(report), stacklevel=stacklevel)


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

    # -- context manager ---------------------------------------------------------

    def _start(self) -> None:
        self.report = None
        try:
            self._watcher = Watcher(self._options)
            self._watcher.start()
        except Exception as exc:
            self._watcher = None
            self.report = _internal_error("watch start", exc)

    def __enter__(self) -> watch:
        self._start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is None:
            return
        try:
            self.report = watcher.stop(block_failed=exc_type is not None)
        except Exception as err:
            self.report = _internal_error("watch stop", err)
        if exc_type is None:
            _judge(self.report, self.on_leak)

    async def __aenter__(self) -> watch:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is None:
            return
        try:
            self.report = await watcher.stop_async(block_failed=exc_type is not None)
        except Exception as err:
            self.report = _internal_error("watch stop", err)
        if exc_type is None:
            _judge(self.report, self.on_leak)

    # -- decorator -----------------------------------------------------------

    def _fresh(self) -> watch:
        clone: watch = object.__new__(watch)
        clone._options, clone.on_leak = self._options, self.on_leak
        clone.report, clone._watcher = None, None
        return clone

    def __call__(self, fn: F) -> F:
        """Decorate a function: each call runs under its own watch."""
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


def _check_options(on_leak: OnLeak | None, kinds: Any) -> tuple[Options, str]:
    options: dict[str, Any] = {}
    if on_leak is not None:
        options["on_leak"] = on_leak
    growth = ("heap", "native", "state")
    options["kinds"] = tuple(kinds) if kinds is not None else (*RESOURCE_KINDS, *growth)
    return options_for(options, label=None)


def check(
    fn: Callable[..., Any],
    *args: Any,
    repeat: int = 5,
    warmup: int = 1,
    on_leak: OnLeak | None = None,
    kinds: tuple[str, ...] | None = None,
    **kwargs: Any,
) -> Report:
    """Call ``fn(*args, **kwargs)`` ``warmup`` times unjudged, then ``repeat``
    times judged; report resources that outlive the calls, and heap, object
    types and global state that grow on every judged call.

    ``repeat``, ``warmup``, ``on_leak`` and ``kinds`` are leakwatch's own;
    to pass arguments of those names to ``fn``, use :func:`functools.partial`.
    """
    options, policy = _check_options(on_leak, kinds)
    call = functools.partial(fn, *args, **kwargs)  # its own exceptions pass through
    report = run_check(call, options.with_(label=_name(fn)), repeat, warmup)
    _judge(report, policy)
    return report


async def check_async(
    fn: Callable[..., Awaitable[Any]],
    *args: Any,
    repeat: int = 5,
    warmup: int = 1,
    on_leak: OnLeak | None = None,
    kinds: tuple[str, ...] | None = None,
    **kwargs: Any,
) -> Report:
    """:func:`check` for a coroutine function, awaited in the running loop."""
    options, policy = _check_options(on_leak, kinds)
    call = functools.partial(fn, *args, **kwargs)
    report = await run_check_async(call, options.with_(label=_name(fn)), repeat, warmup)
    _judge(report, policy)
    return report


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
