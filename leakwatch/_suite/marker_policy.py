"""A test's policy: its marker's rules and allowed kinds, then the run's policy.

The engine calls ``policy.apply(report)`` at the end of each watch; this
puts the marker's ``ignore`` rules and ``allow`` kinds in front of the run's
ignore rules, known library leaks and baseline.

Must not change the run's policy: a marker's rules apply to its test alone.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Any

from leakwatch._base.model import Leak
from leakwatch._engine.options import Judging
from leakwatch._report.report import Report
from leakwatch._rules.ignore import IgnoreRule
from leakwatch._rules.policy import Policy
from leakwatch._suite.firstuse import FirstUse

# pytest makes ``<tmp>/pytest-of-<user>`` the first time any test on the
# machine asks for tmp_path and keeps it across runs on purpose.
_PYTEST_TEMP_ROOT = os.path.join(tempfile.gettempdir(), "pytest-of-")


class TestPolicy:
    __test__ = False  # not a test class, whatever its name says to pytest

    def __init__(
        self,
        run: Judging | None,
        rules: tuple[IgnoreRule, ...] = (),
        allow: frozenset[str] = frozenset(),
        first_use: FirstUse | None = None,
    ) -> None:
        self.run = run
        self.local = Policy(rules, known=False) if rules else None
        self.allow = allow
        self.first_use = first_use

    def expected(self, leak: Leak) -> bool:
        """Whether this policy takes ``leak`` out (see ``Settler._park_expected``)."""
        if leak.kind in self.allow:
            return True
        if self.local is not None and self.local.expected(leak):
            return True
        return self.run is not None and self.run.expected(leak)

    def apply(self, report: Report, scope: str | None = None) -> Report:
        if self.local is not None:
            self.local.apply(report, scope)
        kept: list[Leak] = []
        for leak in report.leaks:
            if leak.kind in self.allow:
                reason = "allowed by @pytest.mark.leakwatch(allow=...)"
                report.ignored.append(_noted(leak, "ignored_because", reason))
            elif leak.kind == "tempfile" and _is_pytest_temp_root(leak):
                reason = "pytest's own temporary directory root, kept across runs by design"
                report.info.append(_noted(leak, "benign", reason))
            elif leak.kind == "state" and _only_imports(leak):
                # Some test is always the first to import a module; that is not
                # a change the next test could trip over.  Growth is --repeat's job.
                reason = "modules imported for the first time: lazy imports happen once"
                report.info.append(_noted(leak, "benign", reason))
            else:
                kept.append(leak)
        report.leaks = kept
        if self.run is not None:
            self.run.apply(report, scope)
        if self.first_use is not None:
            self.first_use.apply(report)
        return report


def _is_pytest_temp_root(leak: Leak) -> bool:
    path = str(leak.details.get("path", ""))
    return path.startswith(_PYTEST_TEMP_ROOT) and os.sep not in path[len(_PYTEST_TEMP_ROOT) :]


def _only_imports(leak: Leak) -> bool:
    details = leak.details
    counts = details.get("counts") or {}
    return (
        details.get("probe") == "sys.modules"
        and not counts.get("removed")
        and not counts.get("changed")
        and "growth_per_call" not in details
    )


def _noted(leak: Leak, key: str, note: Any) -> Leak:
    return dataclasses.replace(leak, details={**leak.details, key: note})
