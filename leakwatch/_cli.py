"""The ``leakwatch`` command: ``run`` a program under watch, ``report`` a saved run.

::

    leakwatch run [options] script.py [args ...]
    leakwatch run [options] -m module [args ...]
    leakwatch report FILE.json [--html OUT] [-v]
    leakwatch diff A.json B.json [--json] [-v]
    python -m leakwatch ...                       # the same

Options after the script (or after ``-m module``) belong to the program.
One small class per subcommand, each with ``prepare_parser`` and ``run``;
:func:`main` returns the exit status.

Exit status of ``leakwatch run``, decided in :func:`exit_status` and nowhere else:

======  ====================================================================
status  when
======  ====================================================================
N       the program failed with status N (uncaught exception: 1, Ctrl-C:
        130, ``sys.exit(N)``): its own status, whatever leaked
0       the program succeeded and left nothing behind
23      the program succeeded and leaks were found (LeakSanitizer's
        status for leaks; apart from argparse's 2 and python's 1)
4       the program succeeded, but a report or baseline could not be
        written at its end (the message says which)
2       usage error, bad configuration or baseline, a report path that
        cannot be written (all checked before the program starts), or a
        script that cannot be opened (as python)
1       ``-m module`` not found (as python)
143     killed by SIGTERM (the reports written first, not judged): the
        process dies of the signal as python would (``leakwatch._run.terminate``)
======  ====================================================================

``--exit-zero`` returns the program's own status whatever was found.

``leakwatch report FILE`` exits as the run it reads did, decided in
:func:`report_status`, so a saved report can gate CI: 23 when the file lists
leaks (a report's, a session's tests' and fixtures', a service's routes'), 0
when it lists none (a baseline lists accepted leaks: 0); a run that was not
judged (the program raised or was interrupted) exits with the program's own
status as recorded, or 1 for a watched block that raised (nothing recorded);
a run whose program failed with status N exits N; 2 when the file cannot be
read or is not a leakwatch document, or the HTML cannot be written.
``leakwatch diff`` exits 0 (nothing new), 1 (something new) or 2 (bad input).

Must not watch anything itself: it parses arguments, hands over to
:mod:`leakwatch._run`, and owns the exit statuses.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from leakwatch._base.model import kinds_help
from leakwatch._report.errors import ConfigError, OutputError, TargetError
from leakwatch._rules.baseline import PROGRAM_SCOPE
from leakwatch._rules.config import load_config
from leakwatch._rules.policy import Policy
from leakwatch._run import program, runner
from leakwatch._run.report_command import (
    EXIT_CLEAN,
    EXIT_LEAKS,
    EXIT_USAGE,
    EXIT_WRITE_FAILED,
    ReportCommand,
)
from leakwatch._service.cli import DiffCommand, host_port

DEFAULT_BASELINE = "leakwatch-baseline.json"


def exit_status(result: runner.RunResult, *, exit_zero: bool = False) -> int:
    """The one place that turns a run's result into the process's exit status."""
    if result.status != 0 or exit_zero:
        return result.status
    if result.write_failed:
        return EXIT_WRITE_FAILED
    return EXIT_LEAKS if result.leaks else EXIT_CLEAN


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


def _absolute(path: str | None) -> str | None:
    return os.path.abspath(path) if path else None


class RunCommand:
    """Run a program as python would, watch it live, report what it leaves behind."""

    def prepare_parser(self, parser: argparse.ArgumentParser) -> None:
        parser.usage = (
            "%(prog)s [options] script.py [args ...]\n"
            "       %(prog)s [options] -m module [args ...]"
        )
        parser.add_argument(
            "-m",
            dest="module",
            nargs=argparse.REMAINDER,
            metavar="module",
            help="run a library module as a script, as python -m does",
        )
        parser.add_argument("script", nargs="?", help="the program to run")
        parser.add_argument("args", nargs=argparse.REMAINDER, help="the program's arguments")
        out = parser.add_argument_group("reports")
        out.add_argument(
            "--json", metavar="PATH", help="write the report as JSON (leakwatch.report/1)"
        )
        out.add_argument(
            "--html", metavar="PATH", help="write a self-contained HTML report with plots"
        )
        out.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            help="no live status line; print the report only when something leaked",
        )
        out.add_argument(
            "-v", "--verbose", action="store_true", help="show every frame of every stack"
        )
        judge = parser.add_argument_group("judging")
        judge.add_argument(
            "--baseline", metavar="FILE", help="leaks listed in FILE do not fail the run"
        )
        judge.add_argument(
            "--update-baseline",
            action="store_true",
            help=f"write this run's leaks to the baseline (default {DEFAULT_BASELINE})",
        )
        judge.add_argument(
            "--exit-zero",
            action="store_true",
            help="exit with the program's own status whatever leaked",
        )
        judge.add_argument(
            "--kinds",
            metavar="LIST",
            help=f"kinds to check, {kinds_help()}",
        )
        watch = parser.add_argument_group("watching")
        watch.add_argument(
            "--interval",
            type=_seconds,
            default=1.0,
            metavar="SECONDS",
            help="seconds between samples of the counts (default 1.0)",
        )
        watch.add_argument(
            "--trace-window",
            type=_seconds,
            default=1.0,
            metavar="SECONDS",
            help="length of a tracemalloc window, opened while memory grows (default 1.0; 0: off)",
        )
        watch.add_argument(
            "--trace-all",
            action="store_true",
            help="trace the heap for the whole run: exact growth, much slower",
        )
        watch.add_argument(
            "--join-timeout",
            type=_seconds,
            default=2.0,
            metavar="SECONDS",
            help="how long non-daemon threads may take to end after the main module "
            "returns before they are judged (default 2.0)",
        )
        watch.add_argument(
            "--serve",
            type=host_port,
            metavar="HOST:PORT",
            help="serve the debug pages (threads, tasks, descriptors, ...) there while it runs",
        )
        watch.add_argument(
            "--wait",
            action="store_true",
            default=True,
            help="after the report, wait for non-daemon threads as python would (the default)",
        )
        watch.add_argument(
            "--no-wait",
            dest="wait",
            action="store_false",
            help="after the report, end at once: no waiting for non-daemon threads, "
            "no atexit handlers",
        )

    def run(self, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
        if args.module is not None:
            if not args.module:
                parser.error("argument -m: expected a module name")
            target = program.Target(module=args.module[0], args=tuple(args.module[1:]))
        elif args.script:
            target = program.Target(script=args.script, args=tuple(args.args))
        else:
            parser.error("a script or -m module is required")
        if args.interval <= 0:
            parser.error("argument --interval: expected seconds > 0")
        overrides = {"kinds": args.kinds} if args.kinds else {}
        if args.baseline:
            overrides["baseline"] = args.baseline
        try:
            config = load_config(overrides=overrides, overrides_from="--{key}")
            baseline = None
            if args.update_baseline:
                baseline = args.baseline or config.baseline or DEFAULT_BASELINE
            settings = runner.RunSettings(
                target=target,
                config=config,
                interval=args.interval,
                trace_window=args.trace_window,
                trace_all=args.trace_all,
                quiet=args.quiet,
                verbose=args.verbose or config.verbose,
                # Absolute now: the program may change directory before they are written.
                json_path=_absolute(args.json),
                html_path=_absolute(args.html),
                update_baseline=_absolute(baseline),
                join_timeout=args.join_timeout,
            )
            runner.check_outputs(settings)
            policy = Policy.from_config(config, scope=PROGRAM_SCOPE)
        except (ConfigError, OutputError) as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
        try:
            prepared = program.prepare(target)
        except TargetError as exc:
            print(f"leakwatch run: {exc}", file=sys.stderr)
            return exc.status
        server = None
        if args.serve:
            from leakwatch._service.server import serve

            try:
                server = serve(*args.serve)
            except OSError as exc:
                print(
                    f"leakwatch run: --serve {args.serve[0]}:{args.serve[1]}: {exc}",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            print(f"leakwatch: debug pages at {server.url}", file=sys.stderr, flush=True)
        try:
            result = runner.run(settings, prepared, policy)
        finally:
            if server is not None:
                server.close()
        return runner.end(exit_status(result, exit_zero=args.exit_zero), wait=args.wait)


COMMANDS: dict[str, RunCommand | ReportCommand | DiffCommand] = {
    "run": RunCommand(),
    "report": ReportCommand(),
    "diff": DiffCommand(),
}


def get_parser() -> argparse.ArgumentParser:
    from leakwatch._base.version import __version__

    parser = argparse.ArgumentParser(
        prog="leakwatch",
        description="Find what a program leaves behind: descriptors, threads, tasks, "
        "child processes, temp files and a heap that keeps growing.",
    )
    parser.add_argument("--version", action="version", version=f"leakwatch {__version__}")
    sub = parser.add_subparsers(dest="command_name", metavar="command", required=True)
    for name, command in COMMANDS.items():
        doc = (command.__doc__ or "").strip()
        subparser = sub.add_parser(name, help=doc, description=doc)
        command.prepare_parser(subparser)
        subparser.set_defaults(command=command, command_parser=subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``leakwatch command [options]``; returns the exit status."""
    parser = get_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # a command's own usage, not the top level's, names what it takes
            (getattr(args, "command_parser", None) or parser).error(
                f"unrecognized arguments: {' '.join(unknown)}"
            )
        return args.command.run(args, args.command_parser)  # type: ignore[no-any-return]
    except SystemExit as exc:  # --help, --version and usage errors: argparse's status
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
