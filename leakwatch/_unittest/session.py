"""The run's watches under unittest: a span per test, per class and per module.

A test is watched from ``startTest`` (before ``setUp``) until its
``TestCase.run`` has returned: ``setUp``, the test, ``tearDown``, cleanups
and, for an ``IsolatedAsyncioTestCase``, the close of its event loop are
one window (``call``, as the pytest plugin words a unittest test's).  A task
still pending as that loop shuts down is the test's leak.  A class is
watched from before ``setUpClass`` to after ``tearDownClass``, a module
from before ``setUpModule`` to after ``tearDownModule``: what they make is
theirs, judged when they end, never the first test's.  The stack of spans
(:class:`leakwatch._suite.spans.Stack`) keeps each one's windows apart.

Only ids and labels are kept between steps, and the test being judged.
Must not report: :mod:`leakwatch._unittest.result` puts verdicts on the result.
"""

from __future__ import annotations

import bisect
import sys
from dataclasses import dataclass, field
from typing import Any

from leakwatch._engine import collect as _collect
from leakwatch._probes import departures as _departures
from leakwatch._report.errors import internal_error
from leakwatch._report.report import Report
from leakwatch._suite.findings import Finding, split
from leakwatch._suite.firstuse import FirstUse
from leakwatch._suite.marker_policy import TestPolicy
from leakwatch._suite.results import Results
from leakwatch._suite.settings import FIXTURE_KINDS, RunSettings
from leakwatch._suite.spans import SpanWatcher, Stack


@dataclass
class TestWatch:
    """One test's span and how the test went; dropped once judged."""

    __test__ = False  # not a test class, whatever its name says to pytest

    test_id: str
    span: SpanWatcher | None
    failed: bool = False
    #: Outcome calls held back until the test's run has returned: (name, args).
    held: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    #: Window label -> the ``subTest`` it was (the object unittest reports).
    subtests: dict[str, Any] = field(default_factory=dict)


def _no_wider(span: SpanWatcher, asks: list[Any]) -> set[Any]:
    """A unittest class or module holds nothing a test's window made: what
    another thread made in the test's window is the test's."""
    return set()


class Session:
    """Watches and verdicts for one unittest run (``python -m leakwatch.unittest``,
    or Django's ``manage.py test``)."""

    def __init__(self, run: RunSettings, *, verbose: bool = False) -> None:
        self.run = run
        self.verbose = verbose
        self.fail = not run.update_baseline  # recording a baseline accepts every leak
        options = run.engine_options().with_(freeze_gc=False, info=False, singletons="judge")
        self.run_policy = options.policy
        self.first_use = FirstUse()
        self.test_policy = policy = TestPolicy(self.run_policy, first_use=self.first_use)
        # Heap per test needs what should die with a test (the pytest plugin's
        # fixture values); here heap and native are not judged per test.
        kinds = tuple(k for k in options.kinds if k not in ("heap", "native"))
        self.test_options = options.with_(kinds=kinds, policy=policy)
        self.fixture_options = options.with_(
            kinds=tuple(k for k in kinds if k in FIXTURE_KINDS), strict_state=False, policy=policy
        )
        self.stack = Stack()
        self.results = Results(run, verbose=verbose)
        self.classes: dict[type, SpanWatcher] = {}
        self.modules: dict[str, SpanWatcher] = {}
        self.test_starts: list[tuple[int, str]] = []
        self.current: TestWatch | None = None
        #: The result the run reports to (set as its first test starts).
        self.result: Any = None

    # -- the run -------------------------------------------------------------------

    def open(self) -> None:
        _collect.name_makers(self._made_during)
        _departures.ask_suite(floor=self._oldest_judging, expected=self.test_policy.expected)

    def close(self) -> None:
        """The end of the run: drop what was never judged, write the outputs."""
        _collect.name_makers(None)
        _departures.ask_suite()
        for span in [*self.classes.values(), *self.modules.values(), *self.stack.spans]:
            span.abort()
        self.classes.clear()
        self.modules.clear()
        self.stack.spans.clear()
        self.result = None
        hits = getattr(self.run_policy, "hits", {})
        self.results.matched |= {
            i for i, rule in enumerate(self.run.config.ignore) if hits.get(rule)
        }
        self.results.write_outputs()
        if self.run.update_baseline:
            self.results.write_baseline(self.run.baseline_out)

    def _made_during(self, serial: int) -> str | None:
        at = bisect.bisect_right(self.test_starts, (serial, "\uffff")) - 1
        return self.test_starts[at][1] if at >= 0 else None

    def _oldest_judging(self) -> int:
        watch = self.current
        if watch is not None and watch.span is not None:
            return watch.span.since
        return 1 << 62

    # -- a test ----------------------------------------------------------------------

    def begin_test(self, test_id: str) -> TestWatch:
        span = SpanWatcher(self.test_options, label=test_id, own="call", other="fixture", keep=None)
        span.wider = _no_wider
        tasks = span.probes.get("task")
        if tasks is not None:
            tasks.foreign = True  # type: ignore[attr-defined]
        watch = TestWatch(test_id, span if self._start(span, test_id) else None)
        if watch.span is not None:
            self.test_starts.append((watch.span.since, test_id))
        self.current = watch
        return watch

    def judge_test(self, watch: TestWatch) -> list[tuple[Finding, Any]]:
        """The test's findings, each with the ``subTest`` it was made in (or
        None); none when it failed and failed tests are not judged."""
        span, watch.span = watch.span, None
        if self.current is watch:
            self.current = None
        subtests, watch.subtests = watch.subtests, {}
        if span is None:
            return []
        self.stack.discard(span)
        if watch.failed and not self.run.config.check_failed:
            span.abort()
            return []
        report = _stop(span, watch.test_id)
        out: list[tuple[Finding, Any]] = []
        for finding in split(report, watch.test_id, default="call"):
            subtest = subtests.get(finding.phase)
            if subtest is not None:  # a subtest's window: its own id, worded as a call
                finding.nodeid, finding.phase = subtest.id(), "call"
            elif finding.phase not in ("call", "fixture"):
                finding.phase = "call"
            out.append((finding, subtest))
        self.results.entries.extend(f.to_dict() for f, _ in out)
        return out

    def subtest(self, subtest: Any) -> str | None:
        """A ``subTest`` of the running test begins: its window's label, or None."""
        watch = self.current
        if watch is None or watch.span is None or subtest is None:
            return None
        label = f"subtest {id(subtest)}"
        watch.subtests[label] = subtest
        self.stack.transition()
        parent, watch.span.own = watch.span.own, label
        return parent

    def subtest_end(self, parent: str) -> None:
        watch = self.current
        if watch is not None and watch.span is not None:
            self.stack.transition()
            watch.span.own = parent

    # -- classes and modules ------------------------------------------------------------

    def begin_fixture(self, label: str) -> SpanWatcher | None:
        span = SpanWatcher(self.fixture_options, label=label, own="fixture", keep=("fixture",))
        return span if self._start(span, label) else None

    def set_up(self, span: SpanWatcher) -> None:
        """Its setUp step ended: what comes next (the tests) is someone else's."""
        self.stack.pop(span)

    def tear_down(self, span: SpanWatcher) -> None:
        """Its tearDown step begins: what that makes and leaves is its own again;
        what was made since its setUp ended (the tests) is not."""
        span.close_window(False, span.mark())
        self.stack.push(span)

    def judge_fixture(self, span: SpanWatcher, label: str, name: str, scope: str) -> list[Finding]:
        self.stack.pop(span)
        report = _stop(span, label)
        findings = split(report, label, "fixture", fixture=name, scope=scope)
        for finding in findings:
            finding.phase = "fixture"
        self.results.entries.extend(f.to_dict() for f in findings)
        return findings

    def _start(self, span: SpanWatcher, what: str) -> bool:
        self.stack.push(span)
        try:
            span.start()
        except Exception as exc:
            self.stack.discard(span)
            span.abort()
            internal_error(f"starting the watch of {what}", exc)
            return False
        return True


def _stop(span: SpanWatcher, label: str) -> Report:
    """Judge a span; leakwatch failing must never fail the suite."""
    try:
        return span.stop()
    except Exception as exc:
        span.abort()
        internal_error(f"judging {label}", exc)
        return Report(label=label)


def loop_closing(test: Any) -> None:
    """Python 3.10's ``IsolatedAsyncioTestCase`` cancels what is left on its
    loop itself: tell the task probe first, as a runner's shutdown does."""
    if sys.version_info >= (3, 11):
        return
    loop = getattr(test, "_asyncioTestLoop", None)
    if loop is None:
        return
    from leakwatch._attribution import shutdowns

    shutdowns.closing(loop)
