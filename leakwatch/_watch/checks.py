"""``check()`` and ``check_async()``: call a function again and again, judge what grows.

Thin shells over :mod:`leakwatch._watch.growth`'s repeat rule, shared with
the ``leakwatch`` fixture (:func:`checked`: the same options, skip and warn
rules, with the run's settings as defaults).  As with ``watch()``, the
function's own result and exceptions pass through untouched.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from leakwatch._base.model import GROWTH_KINDS, RESOURCE_KINDS
from leakwatch._engine.options import Options
from leakwatch._report.errors import LeakError
from leakwatch._report.report import Report
from leakwatch._rules.precedence import options_for
from leakwatch._watch.growth import run_check, run_check_async
from leakwatch._watch.watch import OnLeak, _judge

#: unittest leaves out of its tracebacks the frames of modules that say this.
__unittest = True


def check_options(
    on_leak: OnLeak | None, kinds: Any, defaults: Mapping[str, Any] | None = None
) -> tuple[Options, str]:
    """One check's options and its ``on_leak``: ``defaults`` (the ``leakwatch``
    fixture's: the run's settings) under the call's own keywords.  With no
    kinds asked: the defaults' kinds (or every resource kind) and every
    growth kind."""
    options: dict[str, Any] = dict(defaults or {})
    if on_leak is not None:
        options["on_leak"] = on_leak
    if kinds is None:
        base = options.get("kinds", RESOURCE_KINDS)
        kinds = (*base, *(kind for kind in GROWTH_KINDS if kind not in base))
    options["kinds"] = tuple(kinds)
    return options_for(options, label=None, caller="check")


@dataclass(frozen=True)
class Check:
    """One ``check()`` as asked: the function and its arguments, leakwatch's
    own keywords, and, for the ``leakwatch`` fixture, the run's settings as
    defaults, the report's label and where each report also goes."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    repeat: int = 5
    warmup: int = 1
    on_leak: OnLeak | None = None
    kinds: Any = None
    defaults: Mapping[str, Any] | None = None
    label: str | None = None
    sink: Callable[[Report], None] | None = None

    def prepared(self) -> tuple[Callable[[], Any], Options, str]:
        """(the call, the options, the ``on_leak`` policy)."""
        options, policy = check_options(self.on_leak, self.kinds, self.defaults)
        call = functools.partial(self.fn, *self.args, **self.kwargs)  # its exceptions pass
        return call, options.with_(label=self.label or name_of(self.fn)), policy

    def judged(self, report: Report, policy: str) -> tuple[Report, LeakError | None]:
        """The report (handed to ``sink`` too) and the error to raise, if any."""
        if self.sink is not None:
            self.sink(report)
        return report, _judge(report, policy)


def checked(asked: Check) -> tuple[Report, LeakError | None]:
    """:func:`check`'s work, shared with the ``leakwatch`` fixture: the report
    and the error its caller raises, if any."""
    call, options, policy = asked.prepared()
    return asked.judged(run_check(call, options, asked.repeat, asked.warmup), policy)


async def checked_async(asked: Check) -> tuple[Report, LeakError | None]:
    """:func:`checked` for a coroutine function, awaited in the running loop."""
    call, options, policy = asked.prepared()
    report = await run_check_async(call, options, asked.repeat, asked.warmup)
    return asked.judged(report, policy)


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
    __tracebackhide__ = True
    report, error = checked(Check(fn, args, kwargs, repeat, warmup, on_leak, kinds))
    if error is not None:
        raise error
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
    __tracebackhide__ = True
    asked = Check(fn, args, kwargs, repeat, warmup, on_leak, kinds)
    report, error = await checked_async(asked)
    if error is not None:
        raise error
    return report


def name_of(fn: Callable[..., Any]) -> str:
    """How a check names the function it calls, in its report's label."""
    return getattr(fn, "__qualname__", None) or repr(fn)
