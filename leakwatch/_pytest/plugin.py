"""The hooks, as one object registered only when leakwatch is enabled.

Per test: a span starts before setup and is judged after teardown, once the
test's function-scoped fixtures are gone; each leftover is charged to the
phase that made it (see ``spans``).  Asyncio tasks are judged as the test
returns, inside its loop (see ``calls``).  A fixture of a wider scope gets
its own span, from its setup to its finalisation; what it made is its own,
never the test's that happened to set it up.

Where the verdict lands: pytest logs each phase's report as soon as it is
made, but a test's leaks are only known after teardown.  So, like
pytest-rerunfailures, the plugin runs a test's protocol with logging
deferred, then puts a leak made in call on the call report (``FAILED``,
with the leak as the failure text) and a leak made in setup or teardown, or
by a wider fixture, on the teardown report (``ERROR at teardown``).  If
another plugin runs the protocol itself, everything lands on the teardown
report instead.  A test that failed (or was skipped) is not judged unless
``check_failed``: its traceback pins frames and the objects they hold.
"""

from __future__ import annotations

import bisect
from collections.abc import Generator, Hashable
from dataclasses import dataclass, field
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from leakwatch._base.model import group_resources
from leakwatch._engine import collect as _collect
from leakwatch._engine.options import Options
from leakwatch._pytest.calls import GROWTH_KINDS, Found, Plan, instrument
from leakwatch._pytest.escapes import Escapes, Watched
from leakwatch._pytest.findings import Finding, attach, split
from leakwatch._pytest.firstuse import FirstUse
from leakwatch._pytest.policy import TestPolicy
from leakwatch._pytest.session import SessionResults
from leakwatch._pytest.settings import (
    NO_MARKER,
    MarkerError,
    RunSettings,
    TestSettings,
    marker_settings,
)
from leakwatch._pytest.spans import SpanWatcher, Stack, reachable_from
from leakwatch._report.errors import internal_error
from leakwatch._report.report import Report

#: Kinds a fixture's span watches.  Tasks die with their loop (and their span
#: would change coroutine origin tracking out of order); heap and state are
#: whole-process views that cannot be split between overlapping spans.
FIXTURE_KINDS = ("fd", "thread", "process", "tempfile")
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


@dataclass
class FixtureSpan:
    span: SpanWatcher
    label: str
    name: str
    scope: str


_TEST = pytest.StashKey[TestState]()
_DEFERRED = pytest.StashKey[bool]()


class LeakwatchPlugin:
    def __init__(self, config: pytest.Config, run: RunSettings, results: SessionResults) -> None:
        self.config = config
        self.run = run
        self.verbose = config.option.verbose > 0
        self.fail = not run.update_baseline  # recording a baseline accepts every leak
        # Read once for the whole run (the baseline too).  No gc.freeze(): a span
        # lasts a whole test, and a test that collects an older object on
        # purpose (weakref callbacks, __del__) must see the collector it expects.
        # No info: a test's findings keep only what is judged (findings.split),
        # so heap retained after each test (a full gc pass per test) and state
        # changes not judged would be computed only to be dropped.
        self.options = run.engine_options().with_(freeze_gc=False, info=False, singletons="judge")
        self.run_policy = self.options.policy
        self.first_use = FirstUse()
        #: (serial at its start, nodeid) of each test, in order: who made what
        #: a later gc pass finalised (see ``_collect.made_during``).
        self.test_starts: list[tuple[int, str]] = []
        _collect.made_during = self._made_during
        self.test_policy = TestPolicy(self.run_policy, first_use=self.first_use)
        # Heap, per test, is what should have died with it (escapes), never
        # tracemalloc around every test; tracing runs only for repeat=N.
        self.escapes = Escapes()
        self.test_options = self.options.with_(policy=self.test_policy)
        self.plan = self._plan(self.test_options, NO_MARKER)
        self.test_options, self.test_heap = _split_heap(self.test_options)
        fixture_kinds = tuple(k for k in self.options.kinds if k in FIXTURE_KINDS)
        self.fixture_options = self.options.with_(
            kinds=fixture_kinds, strict_state=False, policy=self.test_policy
        )
        self.stack = Stack()
        self.fixtures: dict[object, FixtureSpan] = {}
        self.pending: list[Finding] = []
        self.results = results
        self._owns_protocol: bool | None = None

    # -- settings per test ---------------------------------------------------------

    def _start_span(self, span: SpanWatcher, what: str) -> bool:
        """Push and start ``span``; False (with a warning) if leakwatch failed:
        leakwatch failing must not fail the test or fixture it watches."""
        span.elsewhere = self._elsewhere
        span.claims = self._claims
        self.stack.push(span)
        try:
            span.start()
        except Exception as exc:
            self.stack.discard(span)
            span.abort()
            internal_error(f"starting the watch of {what}", exc)
            return False
        return True

    def _elsewhere(self, span: SpanWatcher, ident: int) -> bool:
        """Whether a live wider fixture other than ``span`` started the thread ``ident``."""
        live = [entry.span for entry in self.fixtures.values()] + self.stack.spans
        return any(
            other is not span and other.own == "fixture" and other.thread_window(ident) == "fixture"
            for other in live
        )

    def _claims(self, leftovers: list[tuple[str, Hashable, Any]]) -> dict[int, str]:
        """Leftovers a live wider fixture's value holds (a get-or-create cache in
        a session fixture): that fixture's, adopted by its span, judged when it
        is finalised.  ``id(obj) -> "the session fixture 'name'"``."""
        roots = []
        for fixturedef, entry in self.fixtures.items():
            cached = getattr(fixturedef, "cached_result", None)
            if cached is not None and cached[0] is not None:
                roots.append((cached[0], entry))
        if not roots or not leftovers:
            return {}
        found = reachable_from([value for value, _ in roots], [obj for _, _, obj in leftovers])
        out: dict[int, str] = {}
        for kind, key, obj in leftovers:
            at = found.get(id(obj))
            if at is None:
                continue
            entry = roots[at][1]
            if kind in entry.span.probes:
                entry.span.adopted.setdefault(kind, set()).add(key)
            out[id(obj)] = f"the {entry.scope} fixture {entry.name!r}"
        return out

    def _begin(self, item: pytest.Item) -> TestState:
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
        if marker is NO_MARKER:  # most tests: the run's settings, made once
            options, state.check_failed = self.test_options, self.run.config.check_failed
            state.plan, state.heap = self.plan, self.test_heap
        else:
            options, state.check_failed = self._marked_options(marker)
            state.plan = self._plan(options, marker)
            options, state.heap = _split_heap(options)
        span = SpanWatcher(
            options, label=item.nodeid, own="setup", other="fixture", keep=TEST_PHASES
        )
        if not self._start_span(span, item.nodeid):
            return state
        self.test_starts.append((span.since, item.nodeid))
        state.span = span
        return state

    def _made_during(self, serial: int) -> str | None:
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

    # -- the protocol, with logging deferred ---------------------------------------

    def _protocol_is_ours(self, item: pytest.Item) -> bool:
        if self._owns_protocol is None:
            others = [
                impl
                for impl in item.config.hook.pytest_runtest_protocol.get_hookimpls()
                if not (impl.hookwrapper or getattr(impl, "wrapper", False))
                and impl.plugin is not self
                and getattr(impl.plugin, "__name__", "") != "_pytest.runner"
            ]
            self._owns_protocol = not others
        return self._owns_protocol

    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        if not self._protocol_is_ours(item):
            return None  # e.g. pytest-rerunfailures: verdicts go on teardown reports
        item.stash[_DEFERRED] = True
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        try:
            reports = runtestprotocol(item, log=False, nextitem=nextitem)
        except BaseException:
            if _TEST in item.stash:  # interrupted: drop the watch, keep nothing of the test
                del item.stash[_TEST]
            raise
        self._deliver(item, reports)
        for report in reports:
            ihook.pytest_runtest_logreport(report=report)
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    def _deliver(self, item: pytest.Item, reports: list[pytest.TestReport]) -> None:
        state = item.stash.get(_TEST, None)
        if state is None:
            return
        del item.stash[_TEST]
        by_when = {report.when: report for report in reports}
        teardown = by_when.get("teardown") or reports[-1]
        call = by_when.get("call")
        for finding in state.final:
            target = call if finding.phase == "call" and call is not None else teardown
            attach(target, [finding], fail=self.fail, verbose=self.verbose)
        attach(teardown, state.fixtures, fail=self.fail, verbose=self.verbose)

    # -- the phases ------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, object, object]:
        __tracebackhide__ = True  # a test's traceback is as without leakwatch
        state = self._begin(item)
        try:
            result = yield
        finally:
            self._phase_end(state, "call")
        if state.heap is not None:
            state.watched = self.escapes.watch(item)
        if state.error is not None:
            # Only now: the other plugins' setup ran, so their teardown finds what it expects.
            pytest.fail(state.error, pytrace=False)
        return result

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, object, object]:
        __tracebackhide__ = True
        state = item.stash.get(_TEST, None)
        undo = None
        if state is not None and state.plan is not None:
            undo = instrument(item, state.plan, state.found)
        try:
            return (yield)
        finally:
            if undo is not None:
                undo()
            if state is not None:
                self._phase_end(state, "teardown")

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        __tracebackhide__ = True
        state = item.stash.get(_TEST, None)
        raised = False
        try:
            return (yield)
        except BaseException:
            raised = True
            raise
        finally:
            if state is not None:
                self._judge(state, failed=state.failed or raised)
                if state.watched:
                    self._judge_escapes(item, state, failed=state.failed or raised)

    def _phase_end(self, state: TestState, next_phase: str) -> None:
        span = state.span
        if span is not None:
            self.stack.transition()
            span.own = next_phase
        self._collect_fixtures(state)

    def _collect_fixtures(self, state: TestState) -> None:
        if self.pending:
            state.fixtures.extend(self.pending)
            self.pending.clear()

    def _judge(self, state: TestState, *, failed: bool) -> None:
        span, state.span = state.span, None
        if span is not None:
            self.stack.discard(span)
            if failed and not state.check_failed:
                span.abort()
            else:
                span.exclude["task"] = state.found.task_keys
                report = _stop(span, state.nodeid)
                state.final = split(report, state.nodeid, default="call")
        self._collect_fixtures(state)

    def _judge_escapes(self, item: pytest.Item, state: TestState, *, failed: bool) -> None:
        watched, state.watched = state.watched, []
        options = state.heap
        if options is None or (failed and not state.check_failed):
            return
        # pytest drops the fixture values right after this hook; drop them now
        # (a fresh dict: pytest sets it to None next, a rerun makes a new one).
        if getattr(item, "funcargs", None):
            item.funcargs = {}  # type: ignore[attr-defined]
        try:
            budget = options.why_alive_budget if options.why_alive else None
            resources = self.escapes.judge(watched, state.nodeid, budget)
            collected, self.escapes.collected = self.escapes.collected, []
            if not resources and not collected:
                return
            report = Report(label=state.nodeid, leaks=group_resources(resources))
            report.info.extend(c.to_leak() for c in collected)
            if options.policy is not None:
                options.policy.apply(report)
        except Exception as exc:
            internal_error(f"judging the heap of {state.nodeid}", exc)
            return
        state.final.extend(split(report, state.nodeid, "setup", judged="escaped"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        state = item.stash.get(_TEST, None)
        if state is None:
            return report
        if report.when in ("setup", "call") and not report.passed:
            state.failed = True
        if report.when == "call":
            found = state.found
            state.found = Found(label=state.nodeid, task_keys=found.task_keys)
            findings = _call_findings(found, state.nodeid)
            attach(report, findings, fail=self.fail, verbose=self.verbose)
        elif report.when == "teardown" and not state.deferred:
            del item.stash[_TEST]
            attach(report, state.final + state.fixtures, fail=self.fail, verbose=self.verbose)
        return report

    # -- wider fixtures -----------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        __tracebackhide__ = True
        if fixturedef.scope == "function":
            return (yield)
        stale = self.fixtures.pop(fixturedef, None)
        if stale is not None:
            stale.span.abort()
        node_id = getattr(request.node, "nodeid", "")
        label = "::".join(part for part in (node_id, fixturedef.argname) if part)
        span = SpanWatcher(self.fixture_options, label=label, own="fixture", keep=("fixture",))
        if not self._start_span(span, f"fixture {label}"):
            return (yield)
        try:
            result = yield
        except BaseException:
            self.stack.pop(span)
            span.abort()
            raise
        self.stack.pop(span)
        self.fixtures[fixturedef] = FixtureSpan(span, label, fixturedef.argname, fixturedef.scope)
        return result

    def pytest_fixture_post_finalizer(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> None:
        entry = self.fixtures.pop(fixturedef, None)
        if entry is None:
            return
        report = _stop(entry.span, entry.label)
        for finding in split(report, entry.label, "fixture", fixture=entry.name, scope=entry.scope):
            finding.phase = "fixture"
            self.pending.append(finding)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.run.config.strict_state:
            # pytest makes its temp root lazily, in the first test asking for
            # tmp_path, registering an atexit handler as it does: do it now, so
            # strict state does not charge that test with pytest's own change.
            factory = getattr(session.config, "_tmp_path_factory", None)
            if factory is not None:
                factory.getbasetemp()

    # -- the end ---------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)  # after pytest tears down what is left of the fixtures
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        _collect.made_during = None
        for entry in self.fixtures.values():
            entry.span.abort()  # never finalised (an interrupted run): nothing to judge
        self.fixtures.clear()
        for span in self.stack.spans:
            span.abort()
        self.stack.spans.clear()
        orphans = [f.to_dict() for f in self.pending]
        self.pending.clear()
        hits = getattr(self.run_policy, "hits", {})
        matched = {i for i, rule in enumerate(self.run.config.ignore) if hits.get(rule)}
        self.results.finish(session, orphans, matched)


def _stop(span: SpanWatcher, label: str) -> Report:
    """Judge a span; leakwatch failing must never fail the test suite."""
    try:
        return span.stop()
    except Exception as exc:
        span.abort()
        internal_error(f"judging {label}", exc)
        return Report(label=label)


def _split_heap(options: Options) -> tuple[Options, Options | None]:
    """The span's options without heap, and the options heap is judged with (or None)."""
    if "heap" not in options.kinds:
        return options, None
    return options.with_(kinds=tuple(k for k in options.kinds if k != "heap")), options


def _call_findings(found: Found, nodeid: str) -> list[Finding]:
    findings: list[Finding] = []
    if found.tasks is not None:
        findings += split(found.tasks, nodeid, "call", judged="return")
    if found.growth is not None:
        findings += split(found.growth, nodeid, "call", judged="repeat")
    return findings
