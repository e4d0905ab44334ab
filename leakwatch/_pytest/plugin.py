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

from collections.abc import Generator
from typing import Any

import pytest

# pytest's private API, on purpose: the plugin runs a test's three phases
# itself (log=False) so that a leak found at teardown can still fail the call
# report before any report is logged, and pytest offers no public hook that
# runs the protocol without logging.  pytest-rerunfailures relies on the same
# function for the same reason.
from _pytest.runner import runtestprotocol

from leakwatch._base.model import group_resources
from leakwatch._engine import collect as _collect
from leakwatch._probes import departures as _departures
from leakwatch._pytest.calls import Found, instrument
from leakwatch._pytest.escapes import Escapes
from leakwatch._pytest.findings import attach, record
from leakwatch._pytest.fixture import failed_by
from leakwatch._pytest.fixture_spans import FIXTURE_KINDS, FixtureSpans, _stop
from leakwatch._pytest.per_test import _DEFERRED, _TEST, PerTest, TestState
from leakwatch._pytest.pytest_settings import RunSettings
from leakwatch._pytest.session_results import SessionResults
from leakwatch._report.errors import internal_error
from leakwatch._report.report import Report
from leakwatch._suite.findings import Finding, split
from leakwatch._suite.firstuse import FirstUse
from leakwatch._suite.marker_policy import TestPolicy
from leakwatch._suite.spans import Stack


class LeakwatchPlugin:
    """Every hook of the plugin; a test's watch is the helper ``self.tests``
    (``per_test``), the wider fixtures' spans the helper ``self.wide``
    (``fixture_spans``)."""

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
        # A task or timer a wider fixture's world holds as its loop shuts down
        # is that fixture's machinery, not a leak of the test whose window made it.
        self.test_policy = TestPolicy(self.run_policy, first_use=self.first_use)
        _departures.ask_suite(
            holders=lambda kind, objs: self.wide.claims([(kind, id(o), o) for o in objs]),
            floor=self._oldest_judging,
            expected=self.test_policy.expected,
        )
        # Heap, per test, is what should have died with it (escapes), never
        # tracemalloc around every test; tracing runs only for repeat=N.
        self.escapes = Escapes()
        fixture_kinds = tuple(k for k in self.options.kinds if k in FIXTURE_KINDS)
        fixture_options = self.options.with_(
            kinds=fixture_kinds, strict_state=False, policy=self.test_policy
        )
        self.stack = Stack()
        self.wide = FixtureSpans(self.stack, fixture_options)
        self.tests = PerTest(run, self.options, self.test_policy, self.first_use, self.wide)
        _collect.name_makers(self.tests.made_during)
        self.results = results
        self._owns_protocol: bool | None = None

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
        if not (state.final or state.fixtures):  # most tests
            return
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
        state = self.tests.begin(item)
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
            undo = instrument(
                item, state.plan, state.found, lambda tasks: self.wide.held_by_fixtures(item, tasks)
            )
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
            self.stack.transition(within_test=True)
            span.own = next_phase
        self._collect_fixtures(state)

    def _collect_fixtures(self, state: TestState) -> None:
        if self.wide.pending:
            state.fixtures.extend(self.wide.pending)
            self.wide.pending.clear()

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
        own = failed_by(item, call.excinfo) if report.failed else None
        if own is not None:  # the test's own watch or check failed it: count its leaks
            record(report, split(own, state.nodeid, report.when, judged="fixture"))
        if report.when == "call":
            found = state.found
            if found.tasks is not None or found.growth is not None:  # most calls: nothing
                state.found = Found(label=state.nodeid, task_keys=found.task_keys)
                findings = _call_findings(found, state.nodeid)
                attach(report, findings, fail=self.fail, verbose=self.verbose)
        elif report.when == "teardown" and not state.deferred:
            del item.stash[_TEST]
            attach(report, state.final + state.fixtures, fail=self.fail, verbose=self.verbose)
        return report

    # -- wider fixtures (their spans: the helper ``self.wide``) ---------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        __tracebackhide__ = True
        return (yield from self.wide.setup(fixturedef, request))

    def pytest_fixture_post_finalizer(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> None:
        self.wide.finalized(fixturedef)

    def _oldest_judging(self) -> int:
        """The start of the oldest test span still watching (the running test's)."""
        tests = [span.since for span in self.stack.spans if span.wider is not None]
        return min(tests) if tests else 1 << 62

    # -- the start -------------------------------------------------------------------------

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
        _collect.name_makers(None)
        _departures.ask_suite()
        for entry in self.wide.fixtures.values():
            entry.span.abort()  # never finalised (an interrupted run): nothing to judge
        self.wide.fixtures.clear()
        for span in self.stack.spans:
            span.abort()
        self.stack.spans.clear()
        orphans = [f.to_dict() for f in self.wide.pending]
        self.wide.pending.clear()
        hits = getattr(self.run_policy, "hits", {})
        matched = {i for i, rule in enumerate(self.run.config.ignore) if hits.get(rule)}
        self.results.finish(session, orphans, matched)


def _call_findings(found: Found, nodeid: str) -> list[Finding]:
    findings: list[Finding] = []
    if found.tasks is not None:
        findings += split(found.tasks, nodeid, "call", judged="return")
    if found.growth is not None:
        findings += split(found.growth, nodeid, "call", judged="repeat")
    return findings
