"""Findings on pytest's reports: as data always, as a failure when they hold leaks.

A finding travels on a ``TestReport`` as ``report.leakwatch`` (a list of
dicts), so it crosses pytest-xdist like any report field and the controller
sees every worker's findings.  Must not judge: it places what was decided.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from leakwatch._report.text import escape
from leakwatch._suite.findings import Finding


def record(report: pytest.TestReport, findings: Iterable[Finding]) -> None:
    """Put findings on a report as data only: for the summary and the JSON."""
    data: list[dict[str, Any]] = list(getattr(report, "leakwatch", None) or ())
    data.extend(f.to_dict() for f in findings)
    report.leakwatch = data  # type: ignore[attr-defined]


def attach(
    report: pytest.TestReport, findings: Iterable[Finding], *, fail: bool, verbose: bool
) -> None:
    """Put findings on a report: as data always, as a failure when they hold leaks."""
    findings = list(findings)
    if not findings:
        return
    record(report, findings)
    failing = [f for f in findings if f.leaks]
    if not failing:
        return
    # A path or a thread name is the program's text: control characters in it
    # are shown as escapes, never sent to the terminal raw.
    text = escape("\n\n".join(f.text(verbose=verbose) for f in failing))
    if fail and report.passed:
        report.outcome = "failed"
        report.longrepr = text
        if hasattr(report, "wasxfail"):  # an xpass that leaked fails like any other test
            del report.wasxfail
    else:
        report.sections.append(("leakwatch", text))
