"""The ``leakwatch`` fixture: a test's own watch and check, with the run's settings.

Must not change the run's settings: the fixture's watches are the test's own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from leakwatch._report.errors import LeakError
from leakwatch._report.report import Report
from leakwatch._rules.ignore import IgnoreRule, ignore
from leakwatch._watch.checks import Check, checked, checked_async, name_of
from leakwatch._watch.watch import OnLeak, watch

#: The run's settings a fixture passes on to its watches and checks.
_PASSED_ON = (
    "kinds",
    "settle_budget",
    "settle_attempts",
    "tracemalloc_depth",
    "ignore",
    "known_leaks",
)

RUN_SETTINGS = pytest.StashKey[dict[str, Any]]()


class LeakwatchFixture:
    """A test's own leakwatch: watch a block, check a callable for growth.

    ::

        def test_client(leakwatch):
            with leakwatch.watch():                   # LeakError here if the block leaks
                fetch(url)
            leakwatch.check(fetch, url, repeat=5)     # heap or state growing per call fails

            async def serve_once(): ...
            await leakwatch.check_async(serve_once)   # in an async test

    It works whether or not ``--leakwatch`` is on.  When it is, the run's
    settings (command line, ini, environment, config file) are the defaults;
    otherwise the config file's and the environment's.  Keyword options
    override them, as for :func:`leakwatch.watch` and :func:`leakwatch.check`.
    Every watch's and check's report is kept in :attr:`reports`: the plugin
    counts the leaks of one that failed the test in its summary and JSON.
    """

    ignore: Callable[..., IgnoreRule] = staticmethod(ignore)

    def __init__(self, nodeid: str, defaults: dict[str, Any]) -> None:
        self.nodeid = nodeid
        self.reports: list[Report] = []
        self._defaults = defaults

    def watch(
        self, *, on_leak: OnLeak | None = None, kinds: tuple[str, ...] | None = None, **options: Any
    ) -> watch:
        """:func:`leakwatch.watch` labelled with this test."""
        merged = {**self._defaults, **options}
        if kinds is not None:
            merged["kinds"] = tuple(kinds)
        watcher = watch(on_leak=on_leak, label=self.nodeid, **merged)
        watcher._sink = self.reports.append
        return watcher

    def check(
        self,
        fn: Callable[..., Any],
        *args: Any,
        repeat: int = 5,
        warmup: int = 1,
        on_leak: OnLeak | None = None,
        kinds: tuple[str, ...] | None = None,
        **kwargs: Any,
    ) -> Report:
        """:func:`leakwatch.check` with the run's settings, labelled with this test."""
        __tracebackhide__ = True
        report, error = checked(self._asked(fn, args, kwargs, repeat, warmup, on_leak, kinds))
        if error is not None:
            raise error
        return report

    async def check_async(
        self,
        fn: Callable[..., Awaitable[Any]],
        *args: Any,
        repeat: int = 5,
        warmup: int = 1,
        on_leak: OnLeak | None = None,
        kinds: tuple[str, ...] | None = None,
        **kwargs: Any,
    ) -> Report:
        """:func:`leakwatch.check_async` with the run's settings, labelled with this test."""
        __tracebackhide__ = True
        asked = self._asked(fn, args, kwargs, repeat, warmup, on_leak, kinds)
        report, error = await checked_async(asked)
        if error is not None:
            raise error
        return report

    def _asked(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        repeat: int,
        warmup: int,
        on_leak: OnLeak | None,
        kinds: tuple[str, ...] | None,
    ) -> Check:
        """The check as the test asked it, with the run's settings, labelled
        with the test, its report kept."""
        return Check(
            fn,
            args,
            kwargs,
            repeat,
            warmup,
            on_leak,
            kinds,
            defaults=self._defaults,
            label=f"{self.nodeid} ({name_of(fn)})",
            sink=self.reports.append,
        )


def failed_by(
    item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException] | None
) -> Report | None:
    """The report of the test's own fixture watch or check that failed it, if one did."""
    exc = excinfo.value if excinfo is not None else None
    if not isinstance(exc, LeakError):
        return None
    fixture = getattr(item, "funcargs", {}).get("leakwatch")
    if isinstance(fixture, LeakwatchFixture) and any(r is exc.report for r in fixture.reports):
        return exc.report
    return None


def defaults_for(config: pytest.Config) -> dict[str, Any]:
    """The run's settings to pass on, when the plugin is enabled."""
    settings: dict[str, Any] = config.stash.get(RUN_SETTINGS, {})
    return dict(settings)


def remember(config: pytest.Config, settings: Any) -> None:
    config.stash[RUN_SETTINGS] = {key: getattr(settings, key) for key in _PASSED_ON}
