"""The command line's service parts: ``leakwatch diff``, and ``run --serve``'s address.

``leakwatch diff A.json B.json`` prints what B has that A has not (see
:mod:`leakwatch._service.diff`).  Exit status: 0 when B has nothing A has
not, 1 when it has (as ``diff`` does), 2 when a file cannot be read or is
not a leakwatch snapshot or report (one line says which and why).
"""

from __future__ import annotations

import argparse
import sys

from leakwatch._report.errors import DiffError
from leakwatch._report.forms import render
from leakwatch._report.text import escape
from leakwatch._service.diff import diff, diff_doc, format_diff, load

EXIT_SAME = 0
EXIT_NEW = 1
EXIT_BAD = 2


def host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6; port 0: any free port), for argparse."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT (say 127.0.0.1:8790; port 0: any free port), got {text!r}"
        )
    return host, int(port)


class DiffCommand:
    """Show what snapshot B has that snapshot A has not, by kind and creating line."""

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("base", metavar="A.json", help="the earlier snapshot (or report)")
        parser.add_argument("other", metavar="B.json", help="the later snapshot (or report)")
        parser.add_argument(
            "--json", action="store_true", help="print the difference as JSON (leakwatch.diff/1)"
        )
        parser.add_argument(
            "-v", "--verbose", action="store_true", help="show every frame of every stack"
        )
        parser.epilog = "exit status: 0 nothing new in B, 1 something new, 2 bad input"

    def run(self, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
        try:
            a, b = load(args.base), load(args.other)
        except DiffError as exc:
            print(escape(str(exc)), file=sys.stderr)
            return EXIT_BAD
        new = diff(a, b)
        if args.json:
            sys.stdout.write(render("json", diff_doc(new, args.base, args.other)))
        else:
            print(format_diff(new, args.base, args.other, verbose=args.verbose))
        return EXIT_NEW if new else EXIT_SAME
