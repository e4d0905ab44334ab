"""A test's watch: its settings (the run's, or its marker's) and its span.

:class:`PerTest` is a helper the plugin holds (its hooks call it): the span
starts before setup; :class:`TestState` carries it, and what the test's call
found, until its reports are out.  Must not attach verdicts to reports:
:mod:`leakwatch._pytest.plugin` does, after teardown.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import pytest

from leakwatch._base.model import GROWTH_KINDS
from leakwatch._engine.options import Options
from leakwatch._probes import all_probes
from leakwatch._probes.protocol import Probe
from leakwatch._pytest.calls import Found, Plan
from leakwatch._pytest.escapes import Watched
from leakwatch._pytest.fixture_spans import FixtureSpans
from leakwatch._pytest.pytest_settings import (
    NO_MARKER,
    RunSettings,
    TestSettings,
    marker_settings,
)
from leakwatch._report.errors import MarkerError
from leakwatch._suite.findings import Finding
from leakwatch._suite.firstuse import FirstUse
from leakwatch._suite.marker_policy import TestPolicy
from leakwatch._suite.spans import SpanWatcher

TEST_PHASES = ("setup", "call", "teardown")


@dataclass
class TestState:
    """One test's watch; dropped once its reports are out."""

    __test__ = False  # not a test class, whatever its name says to pytest

    nodeid: str
    check_failed: bool = False
    span: SpanWatcher | None = None
    plan: Plan | None = None
    found: Found = field(default_factory=Found)
    failed: bool = False
    deferred: bool = False
    error: str | None = None
    #: The span's verdict, per phase of creation, set after teardown.
    final: list[Finding] = field(default_factory=list)
    #: Wider fixtures finalised while this test ran.
    fixtures: list[Finding] = field(default_factory=list)
    #: Heap: the options it is judged with, and what should die with the test.
    heap: Options | None = None
    watched: list[Watched] = field(default_factory=list)


_TEST = pytest.StashKey[TestState]()


_DEFERRED = pytest.StashKey[bool]()


def _split_heap(options: Options) -> tuple[Options, Options | None]:
    """The span's options without heap, and the options heap is judged with (or None)."""
    if "heap" not in options.kinds:
        return options, None
    return options.with_(kinds=tuple(k for k in options.kinds if k != "heap")), options


def _test_probes(kinds: tuple[str, ...]) -> dict[str, Probe]:
    """Probes for tests' spans (one test after another may share them)."""
    probes = {k: p for k, p in all_probes().items() if k in kinds}
    for kind in ("fd", "thread"):
        probe = probes.get(kind)
        if probe is not None:
            # A test's first look follows the previous test's last, with only
            # pytest's reporting run in between (see FdProbe.light).
            probe.light = True  # type: ignore[attr-defined]
    tasks = probes.get("task")
    if tasks is not None:
        # Tasks on a wider fixture's loop (a module-scoped TestClient's
        # portal) are the test's unless that fixture's world holds them.
        tasks.foreign = True  # type: ignore[attr-defined]
    return probes


class PerTest:
    """A test's watch: its settings (run, marker) and its span, started before setup.

    ``options``: the run's engine options; ``test_policy``: the run's rules
    as a test applies them; ``first_use``: the session's first uses (a
    marker's own policy shares it); ``wide``: the wider fixtures' spans,
    which a test's span asks what they hold."""

    def __init__(
        self,
        run: RunSettings,
        options: Options,
        test_policy: TestPolicy,
        first_use: FirstUse,
        wide: FixtureSpans,
    ) -> None:
        self.run = run
        self.options = options
        self.run_policy: Any = options.policy
        self.first_use = first_use
        self.test_policy = test_policy
        self.wide = wide
        #: (serial at its start, nodeid) of each test, in order: who made what
        #: a later gc pass finalised (see ``collect.name_makers``).
        self.test_starts: list[tuple[int, str]] = []
        test_options = options.with_(policy=test_policy)
        self.plan: Plan = self._plan(test_options, NO_MARKER)
        self.test_options, self.test_heap = _split_heap(test_options)
        #: The probes of tests with no marker: one set, each test's in turn.
        self._probes: dict[str, Probe] | None = None

    def begin(self, item: pytest.Item) -> TestState:
        """The test's state, in its stash, and its span started (unless off)."""
        state = TestState(item.nodeid, deferred=item.stash.get(_DEFERRED, False))
        state.found.label = item.nodeid
        item.stash[_TEST] = state
        try:
            marker = marker_settings(item)
        except MarkerError as exc:
            state.error = f"leakwatch: @pytest.mark.leakwatch on {item.nodeid}: {exc}"
            return state
        if not marker.enabled:
            return state
        if marker is NO_MARKER:  # most tests: the run's settings and probes, made once
            options, state.check_failed = self.test_options, self.run.config.check_failed
            state.plan, state.heap = self.plan, self.test_heap
            probes = self._probes
            if probes is None:
                probes = self._probes = _test_probes(options.kinds)
        else:
            options, state.check_failed = self._marked_options(marker)
            state.plan = self._plan(options, marker)
            options, state.heap = _split_heap(options)
            probes = _test_probes(options.kinds)
        span = SpanWatcher(
            options,
            label=item.nodeid,
            own="setup",
            other="fixture",
            keep=TEST_PHASES,
            probes=probes,
        )
        span.wider = self.wide.wider
        if not self.wide.start_span(span, item.nodeid):
            return state
        self.test_starts.append((span.since, item.nodeid))
        state.span = span
        return state

    def made_during(self, serial: int) -> str | None:
        """The test that was running when creation record ``serial`` was made."""
        at = bisect.bisect_right(self.test_starts, (serial, "\uffff")) - 1
        return self.test_starts[at][1] if at >= 0 else None

    def _plan(self, options: Options, marker: TestSettings) -> Plan:
        # The span judges state changes; the call's own watches must not judge them twice.
        kinds = options.kinds
        return Plan(
            tasks=options.with_(kinds=("task",), strict_state=False) if "task" in kinds else None,
            growth=options.with_(kinds=GROWTH_KINDS, strict_state=False) if marker.repeat else None,
            repeat=marker.repeat,
            warmup=marker.warmup,
        )

    def _marked_options(self, marker: TestSettings) -> tuple[Options, bool]:
        kinds = marker.kinds or self.run.config.kinds
        strict = (
            self.run.config.strict_state if marker.strict_state is None else marker.strict_state
        )
        if strict and "state" not in kinds:
            kinds = (*kinds, "state")
        changes: dict[str, Any] = {"kinds": kinds, "strict_state": strict}
        if marker.settle is not None:
            changes["settle_budget"] = marker.settle
        if marker.ignore or marker.allow:
            changes["policy"] = TestPolicy(
                self.run_policy, marker.ignore, marker.allow, first_use=self.first_use
            )
        else:
            changes["policy"] = self.test_policy
        check_failed = self.run.config.check_failed
        if marker.check_failed is not None:
            check_failed = marker.check_failed
        return self.options.with_(**changes), check_failed
