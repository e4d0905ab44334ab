"""The run's findings under pytest: collected from reports, summarised, written.

Findings arrive through ``pytest_runtest_logreport``, so under pytest-xdist
the controller receives every worker's (they ride on the reports).  Fixture
leaks found outside any test, and which ignore rules matched, come from each
worker's ``workeroutput``.  Only the controller (or a run without workers)
writes the JSON report and the baseline, each whole or not at all.

Must not judge a test: it only gathers what the tests' reports carry.
"""

from __future__ import annotations

from typing import Any

import pytest

from leakwatch._pytest.pytest_settings import RunSettings
from leakwatch._report.text import escape
from leakwatch._suite.results import Results


class SessionResults(Results):
    """The run-wide hooks: header, findings from reports, summary, outputs."""

    def __init__(self, config: pytest.Config, run: RunSettings) -> None:
        super().__init__(run, verbose=config.option.verbose > 0)
        self.config = config
        self.is_worker = hasattr(config, "workerinput")

    # -- hooks ----------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return self.run.header()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, "leakwatch", None)
        if data and not self.is_worker:
            self.entries.extend(dict(d) for d in data)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """pytest-xdist: a worker's findings outside tests, and its ignore rule hits."""
        output = getattr(node, "workeroutput", {}).get("leakwatch")
        if output:
            self.orphans.extend(output.get("orphans", ()))
            self.matched.update(output.get("matched", ()))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.is_worker:
            return
        terminalreporter.write_sep("=", "leakwatch")
        for line in self.summary_lines(verbose=self.verbose):
            terminalreporter.write_line(escape(line))

    def finish(
        self, session: pytest.Session, orphans: list[dict[str, Any]], matched: set[int]
    ) -> None:
        """The end of the run, once the checker let go of everything."""
        if self.is_worker:  # the controller reports; it gets this through workeroutput
            output: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
            output["leakwatch"] = {"orphans": orphans, "matched": sorted(matched)}
            return
        self.orphans.extend(orphans)
        self.matched |= matched
        leaked = any(o.get("leaks") for o in self.orphans)
        if leaked and not self.run.update_baseline and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self.write_outputs()
        if self.run.update_baseline:
            self.write_baseline(self.run.baseline_out)
