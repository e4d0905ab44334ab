"""Spans of wider fixtures: each module, class or session fixture watched from its
setup to its finalisation, so what it made is its own, never the test's that
happened to set it up.

Also what a live wider fixture's value holds (a get-or-create cache in a
session fixture): that fixture's, adopted by its span.  Must not judge a
test: its findings wait in ``pending`` for the test that saw the fixture go.
"""

from __future__ import annotations

from collections.abc import Generator, Hashable
from dataclasses import dataclass
from typing import Any

import pytest

from leakwatch._engine.options import Options
from leakwatch._pytest.findings import Finding, split
from leakwatch._pytest.spans import SpanWatcher, Stack, reachable_from
from leakwatch._report.errors import internal_error
from leakwatch._report.report import Report

#: Kinds a fixture's span watches.  Tasks die with their loop (and their span
#: would change coroutine origin tracking out of order); heap and state are
#: whole-process views that cannot be split between overlapping spans.
FIXTURE_KINDS = ("fd", "thread", "process", "tempfile")


@dataclass
class FixtureSpan:
    span: SpanWatcher
    label: str
    name: str
    scope: str


def _stop(span: SpanWatcher, label: str) -> Report:
    """Judge a span; leakwatch failing must never fail the test suite."""
    try:
        return span.stop()
    except Exception as exc:
        span.abort()
        internal_error(f"judging {label}", exc)
        return Report(label=label)


class FixtureSpans:
    """Spans of wider fixtures: from setup to finalisation, and what their values hold."""

    stack: Stack
    fixtures: dict[object, FixtureSpan]
    fixture_options: Options
    pending: list[Finding]

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
