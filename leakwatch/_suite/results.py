"""The run's findings, whichever runner gathered them: summary, JSON, baseline.

The pytest plugin gathers findings from its reports (and pytest-xdist's
workers), the unittest runner from its result; both hand them here as plain
dicts (``Finding.to_dict``).  Writes the JSON report and the baseline, each
whole or not at all.

Its terminal summary is the session document's, worded in
:mod:`leakwatch._report.session_summary`.  Must not judge a test: it only
gathers and writes what the tests' findings carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leakwatch._base.files import display, write_whole
from leakwatch._base.model import Leak
from leakwatch._report.forms import render
from leakwatch._report.report import SESSION_SCHEMA
from leakwatch._report.session_summary import session_summary_lines
from leakwatch._rules.baseline import write_baseline
from leakwatch._rules.ignore import IgnoreRule
from leakwatch._suite.findings import Finding
from leakwatch._suite.settings import RunSettings


class Results:
    """The findings of a run, and what it wrote."""

    def __init__(self, run: RunSettings, *, verbose: bool = False) -> None:
        self.run = run
        self.verbose = verbose
        self.entries: list[dict[str, Any]] = []
        #: Findings not attached to any test (a fixture finalised after the last one).
        self.orphans: list[dict[str, Any]] = []
        #: Indexes of the run's ignore rules that matched something.
        self.matched: set[int] = set()
        self.written: list[str] = []
        self.errors: list[str] = []

    def findings(self) -> list[Finding]:
        return [Finding.from_dict(d) for d in (*self.entries, *self.orphans)]

    def unmatched(self, rules: Sequence[IgnoreRule]) -> list[IgnoreRule]:
        return [rule for i, rule in enumerate(rules) if i not in self.matched]

    # -- outputs ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        findings = self.findings()
        leaky = [f for f in findings if f.leaks]
        rules = self.run.config.ignore
        return {
            "schema": SESSION_SCHEMA,
            "tests": [*self.entries, *self.orphans],
            "summary": {
                "leaks": sum(f.count for f in leaky),
                "tests": len({f.nodeid for f in leaky if f.fixture is None}),
                "fixtures": len({f.nodeid for f in leaky if f.fixture is not None}),
                "by_kind": _by_kind(leaky),
            },
            "first_uses_repeated": _repeated(leaky),
            "unmatched_ignore_rules": [rule.to_dict() for rule in self.unmatched(rules)],
            "settings": self.run.config.to_dict(),
        }

    def write_outputs(self) -> None:
        """The JSON and HTML reports the settings ask for, from one summary."""
        config = self.run.config
        if config.json or config.html:
            data = self.to_dict()
            if config.json:
                self.write_json(config.json, data)
            if config.html:
                self.write_html(config.html, data)

    def write_json(self, path: str, data: dict[str, Any] | None = None) -> None:
        data = self.to_dict() if data is None else data
        self._write(path, render("json", data), "JSON report")

    def write_html(self, path: str, data: dict[str, Any] | None = None) -> None:
        """The session as the page ``leakwatch run --html`` makes for a run."""
        self._write(path, render("html", self.to_dict() if data is None else data), "HTML report")

    def _write(self, path: str, text: str, what: str) -> None:
        try:
            write_whole(path, text, make_dirs=True)
        except OSError as exc:
            self.errors.append(f"cannot write the {what} {display(path)}: {exc}")
        else:
            self.written.append(f"{what}: {display(path)}")

    def write_baseline(self, path: str) -> None:
        by_scope: dict[str, list[Leak]] = {}
        for finding in self.findings():
            by_scope.setdefault(finding.nodeid, []).extend(finding.leaks + finding.baselined)
        try:
            write_baseline(path, by_scope)
        except OSError as exc:
            self.errors.append(f"cannot write the baseline {display(path)}: {exc}")
        else:
            n = sum(1 for leaks in by_scope.values() if leaks)
            self.written.append(f"baseline written: {display(path)} ({n} scopes with leaks)")

    def summary_lines(self, *, verbose: bool) -> list[str]:
        """The run's summary for the terminal, read from the session document
        the JSON and HTML reports are made of; then what was written."""
        lines = session_summary_lines(
            self.to_dict(),
            verbose=verbose,
            recorded=self.run.update_baseline,
            stale_rules=[str(rule) for rule in self.unmatched(self.run.config.ignore)],
        )
        return lines + self.written + [f"error: {e}" for e in self.errors]


def _repeated(leaky: Sequence[Finding]) -> list[dict[str, str]]:
    """A first use that turned out to repeat: the test that made the first and
    the test that made another while it was alive."""
    return [
        {"first": str(leak.details["first_test"]), "again": f.nodeid, "title": leak.title}
        for f in leaky
        for leak in f.leaks
        if leak.details.get("first_test")
    ]


def _by_kind(findings: Sequence[Finding]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        for leak in finding.leaks:
            counts[leak.kind] = counts.get(leak.kind, 0) + leak.count
    return counts
