"""The run's findings, whichever runner gathered them: summary, JSON, baseline.

The pytest plugin gathers findings from its reports (and pytest-xdist's
workers), the unittest runner from its result; both hand them here as plain
dicts (``Finding.to_dict``).  Writes the JSON report and the baseline, each
whole or not at all.

Must not judge a test: it only words and writes what the tests' findings carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leakwatch._base.files import display, write_whole
from leakwatch._base.model import KINDS, Leak
from leakwatch._base.wording import plural
from leakwatch._report.forms import render
from leakwatch._report.report import SESSION_SCHEMA
from leakwatch._rules.baseline import write_baseline
from leakwatch._rules.ignore import IgnoreRule
from leakwatch._suite.findings import Finding, created_at
from leakwatch._suite.settings import RunSettings

_SHOWN = 10  # entries per kind in the terminal summary, unless -v


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
        findings = self.findings()
        leaky = [f for f in findings if f.leaks]
        lines: list[str] = []
        if leaky:
            tests = len({f.nodeid for f in leaky if f.fixture is None})
            fixtures = len({f.nodeid for f in leaky if f.fixture is not None})
            who = [plural(tests, "test")] if tests else []
            if fixtures:
                who.append(plural(fixtures, "fixture"))
            total = sum(f.count for f in leaky)
            verb = "recorded" if self.run.update_baseline else "found"
            lines.append(f"{plural(total, 'leak')} {verb} in {' and '.join(who)}:")
            for kind, rows in _rows_by_kind(leaky).items():
                lines.append(f"  {kind}")
                for row in rows[: None if verbose else _SHOWN]:
                    lines.append(f"    {row}")
                if not verbose and len(rows) > _SHOWN:
                    lines.append(f"    ... {len(rows) - _SHOWN} more (-v lists them all)")
        else:
            lines.append("no leaks found")
        for name, title in (
            ("baselined", "in the baseline (not failing)"),
            ("known", "known library leaks (not failing)"),
            ("ignored", "ignored by rules or allowed by a marker (not failing)"),
            ("first_use", "first uses, like a library's one-time initialisation (not failing)"),
        ):
            n = sum(leak.count for f in findings for leak in getattr(f, name))
            if n:
                where = len({f.nodeid for f in findings if getattr(f, name)})
                lines.append(f"{n} {title}, in {plural(where, 'test')}")
                if name == "first_use":  # worth a look: each would fail if it happened again
                    rows = [
                        f"  {f.nodeid}: {leak.title}{created_at(leak)}"
                        for f in findings
                        for leak in f.first_use
                    ]
                    lines += rows[: None if verbose else _SHOWN]
        repeated = _repeated(leaky)
        if repeated:
            lines.append(
                "first uses that happened again while the first was alive (growth: "
                "the first test made one too):"
            )
            lines += [f"  {r['first']}, then {r['again']}: {r['title']}" for r in repeated]
        lines += _collected_lines(findings, verbose=verbose)
        stale = self.unmatched(self.run.config.ignore)
        if stale:
            lines.append("ignore rules that matched nothing (stale?):")
            lines.extend(f"  {rule}" for rule in stale)
        return lines + self.written + [f"error: {e}" for e in self.errors]


def _collected_lines(findings: Sequence[Finding], *, verbose: bool) -> list[str]:
    """Objects leakwatch's gc passes finalised: their warnings belong to whoever left them."""
    rows = []
    for finding in findings:
        for leak in finding.collected:
            made_here = leak.details.get("made_here")
            left_by = leak.details.get("left_by")
            if made_here:
                who = "made by this test"
            elif left_by:
                who = f"left by {left_by}"
            else:
                who = "left by earlier code"
            what = f"{leak.details.get('category', '?')}: {leak.details.get('message', leak.title)}"
            rows.append(f"{finding.nodeid}: {what} ({who}{created_at(leak)})")
    if not rows:
        return []
    lines = [
        f"{plural(len(rows), 'object')} closed only by the garbage "
        "collector in leakwatch's gc passes (not failing; their warnings were kept "
        "out of the running test):"
    ]
    lines += [f"  {row}" for row in rows[: None if verbose else _SHOWN]]
    if not verbose and len(rows) > _SHOWN:
        lines.append(f"  ... {len(rows) - _SHOWN} more (-v lists them all)")
    return lines


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


def _rows_by_kind(findings: Sequence[Finding]) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for finding in findings:
        what = f"{finding.scope} fixture" if finding.fixture is not None else finding.phase
        for leak in finding.leaks:
            text = f"{finding.nodeid} ({what}) x{leak.count}: {leak.title}{created_at(leak)}"
            rows.setdefault(leak.kind, []).append(text)
    order = {kind: i for i, kind in enumerate(KINDS)}
    return dict(sorted(rows.items(), key=lambda kv: order.get(kv[0], len(order))))
