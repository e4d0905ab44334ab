"""``leakwatch report FILE``: any saved leakwatch JSON rendered again, and the
exit status the run it records had, so a saved report can gate CI.

Also the exit statuses ``leakwatch`` uses (the table is in :mod:`leakwatch._cli`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from leakwatch._base.files import write_whole
from leakwatch._report.document_text import format_document
from leakwatch._report.documents import leak_count
from leakwatch._report.errors import OutputError
from leakwatch._report.forms import render
from leakwatch._report.text import escape
from leakwatch._run.output import (
    load_report,
    write_text,
)

EXIT_CLEAN = 0
EXIT_USAGE = 2
EXIT_WRITE_FAILED = 4
EXIT_LEAKS = 23
EXIT_NOT_JUDGED = 1  # a saved watch whose block raised: no program status recorded


def report_status(data: Mapping[str, Any]) -> int:
    """The exit status of ``leakwatch report`` for a saved document: the status
    ``leakwatch run`` had for it (without ``--exit-zero``)."""
    program = data.get("program")
    status = program.get("exit_status") if isinstance(program, Mapping) else None
    failed = status if isinstance(status, int) and not isinstance(status, bool) else 0
    if failed and not 0 < failed < 256:  # no process exits so; still a failure
        failed = EXIT_NOT_JUDGED
    leaks = leak_count(data)
    if leaks is None or failed:
        return failed or EXIT_NOT_JUDGED
    return EXIT_LEAKS if leaks else EXIT_CLEAN


_REPORT_EPILOG = """\
FILE is any JSON leakwatch writes: a report (leakwatch run --json,
Report.to_dict()), a pytest session (--leakwatch-json), a baseline, or a
service's requests.json.

exit status:
  0   no leaks listed (a baseline's accepted leaks do not count)
  23  leaks listed: the status leakwatch run gives for leaks
  N   the run's program failed with status N, or was not judged because it
      raised or was interrupted (Ctrl-C: 130): the status leakwatch run had
  1   a watched block raised (not judged) and no program status is recorded
  2   FILE missing, unreadable or not a leakwatch document; --html not written
"""


class ReportCommand:
    """Render any saved leakwatch JSON again: text on stdout, HTML if asked; exit 23 on leaks."""

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.epilog = _REPORT_EPILOG
        parser.add_argument(
            "file",
            metavar="FILE.json",
            help="a report, pytest session, baseline or requests JSON written by leakwatch",
        )
        parser.add_argument(
            "--html", metavar="OUT", help="also write it as a self-contained HTML page"
        )
        parser.add_argument(
            "-v", "--verbose", action="store_true", help="show every frame of every stack"
        )

    def run(self, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
        try:
            data = load_report(args.file)
            text = format_document(data, verbose=args.verbose)
            if args.html:
                write_whole(args.html, render("html", data), what="HTML report", error=OutputError)
        except OutputError as exc:
            write_text(sys.stderr, escape(str(exc)))
            return EXIT_USAGE
        write_text(sys.stdout, text)
        return report_status(data)
