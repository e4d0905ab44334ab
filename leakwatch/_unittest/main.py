"""``python -m leakwatch.unittest [leakwatch options] [unittest's arguments]``.

unittest's own ``main`` runs the suite, with unittest's own discovery,
options and output; its ``TextTestRunner`` gets a result class that watches
every test (:mod:`leakwatch._unittest.result`).  After unittest's summary
come leakwatch's: the leaks found, per kind, and what was written.  The exit
status is unittest's: 1 when a test failed, leaks included.
"""

from __future__ import annotations

import sys
import unittest
from collections.abc import Sequence
from typing import Any

from leakwatch._report.errors import UsageError
from leakwatch._unittest.options import run_settings, split_argv, usage
from leakwatch._unittest.result import watched_result, watching
from leakwatch._unittest.session import Session

PROG = "python -m leakwatch.unittest"


def summary(session: Session, stream: Any) -> None:
    """leakwatch's summary, after unittest's."""
    lines = session.results.summary_lines(verbose=session.verbose)
    stream.writeln("-" * 70)
    stream.writeln("leakwatch: " + lines[0])
    for line in lines[1:]:
        stream.writeln(line)


class WatchedRunner(unittest.TextTestRunner):
    """unittest's ``TextTestRunner`` with every test watched."""

    session: Session

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["resultclass"] = watched_result(
            kwargs.get("resultclass") or unittest.TextTestResult, self.session
        )
        super().__init__(*args, **kwargs)

    def run(self, test: Any) -> Any:
        with watching(self.session):
            result = super().run(test)
        summary(self.session, self.stream)
        return result


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("--leakwatch-help",):
        print(usage())
        return 0
    try:
        options, rest = split_argv(args)
        run = run_settings(options)
    except UsageError as exc:
        print(f"{exc}", file=sys.stderr)
        return 2
    verbose = any(a in ("-v", "--verbose") for a in rest)
    session = Session(run, verbose=verbose)
    runner = type("WatchedRunner", (WatchedRunner,), {"session": session})
    sys.argv[0] = PROG
    program = unittest.main(module=None, argv=[PROG, *rest], testRunner=runner, exit=False)
    result = program.result
    if not result.wasSuccessful():
        return 1
    if result.testsRun == 0 and not result.skipped and sys.version_info >= (3, 12):
        return 5  # unittest's "no tests ran"
    return 0
