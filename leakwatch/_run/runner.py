"""One ``leakwatch run``: watch, run the program, sample, judge, write.

The order matters and is this::

    check report paths, load the policy, find the program   (fail before it runs)
    sampler.start()  -- first sample, trace windows armed, sampler thread on
    watcher.start()  -- creation stacks on, snapshot of everything
    run the program  -- as python would (leakwatch._run.program)
    its shutdown     -- non-daemon threads end, its own atexit handlers run
                        (leakwatch._run.shutdown)
    sampler.stop()   -- last sample, trace window closed, thread joined
    watcher.stop()   -- settle, diff: what the program left behind
    judge the series (leakwatch._run.trend), apply the policy, write the reports
    return the status -- python's own shutdown goes on: threads still running,
                        the atexit handlers left (libraries' safety nets)

So the final look is where the program's own clean-up is done and before
the safety nets that would close what it forgot.  leakwatch never costs the
program its exit status: an internal error after the run is printed as one
line and the program's status stands.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from leakwatch._base.files import display, write_whole
from leakwatch._base.model import KINDS, Leak, group_resources
from leakwatch._engine.options import Options
from leakwatch._engine.watcher import Watcher
from leakwatch._native import run as native_run
from leakwatch._report.document_text import run_summary_lines
from leakwatch._report.errors import OutputError
from leakwatch._report.forms import FormName, render
from leakwatch._report.report import Report
from leakwatch._report.text import escape
from leakwatch._rules.baseline import PROGRAM_SCOPE, write_baseline
from leakwatch._rules.config import Config
from leakwatch._rules.policy import Policy
from leakwatch._run import dump, program, shutdown, terminate, trend
from leakwatch._run.output import (
    check_writable,
    write_text,
)
from leakwatch._run.sampler import Sampler
from leakwatch._run.windows import GrowthSite, TraceWindows


@dataclass(frozen=True)
class RunSettings:
    """Everything ``leakwatch run`` was asked to do."""

    target: program.Target
    config: Config
    interval: float = 1.0
    trace_window: float = 1.0
    trace_all: bool = False
    quiet: bool = False
    verbose: bool = False
    json_path: str | None = None
    html_path: str | None = None
    update_baseline: str | None = None  # the baseline file to (re)write, if asked
    join_timeout: float = 2.0  # how long non-daemon threads may take to end before judging


@dataclass
class RunResult:
    """How the program ended and what was found, for the exit status."""

    status: int  # the program's own
    leaks: int = 0
    write_failed: bool = False
    data: dict[str, Any] = field(default_factory=dict, repr=False)


def check_outputs(settings: RunSettings) -> None:
    """Raise :class:`OutputError` now for a report that could never be written."""
    for path, what in (
        (settings.json_path, "JSON report"),
        (settings.html_path, "HTML report"),
        (settings.update_baseline, "baseline"),
    ):
        if path:
            check_writable(path, what)


def run(settings: RunSettings, prepared: program.Prepared, policy: Policy) -> RunResult:
    """Run the prepared program under watch; report on ``sys.stderr`` as it was before."""
    err = sys.stderr
    target = settings.target
    kinds = tuple(k for k in settings.config.kinds if k != "heap")  # heap: trace windows
    windows = TraceWindows(
        settings.trace_window, settings.config.tracemalloc_depth, trace_all=settings.trace_all
    )
    sampler = Sampler(settings.interval, windows, live=not settings.quiet and _isatty(err))
    watcher = Watcher(
        Options(
            kinds=kinds,
            settle_budget=settings.config.settle_budget,
            settle_attempts=settings.config.settle_attempts,
            tracemalloc_depth=settings.config.tracemalloc_depth,
            strict_state=settings.config.strict_state,
            freeze_gc=False,  # the whole program is the block: nothing older to hide
        )
    )
    pid = os.getpid()
    program.install(prepared)
    remove_handler = dump.install(
        lambda frame: dump.describe_state(target.label, sampler.elapsed(), sampler.counts(), frame),
        sampler.erase,
    )
    exits = shutdown.ExitHandlers()
    started = time.perf_counter()

    def finish(outcome: program.Outcome, stats: dict[str, Any], duration: float) -> RunResult:
        try:
            sampler.stop()
            report = watcher.stop(block_failed=outcome.raised)
            remove_handler()  # after the final state snapshot, which saw it installed
            sites = windows.growth()
            _judge(report, settings, policy, sampler, sites, kinds)
            report.stats["trace_mode"] = windows.mode + (
                " (already running)" if windows.external else ""
            )
            report.stats["trace_windows"] = windows.spans()
            report.stats["growth_measured"] = windows.when()
            report.stats["shutdown"] = stats
            if outcome.how == "terminated":
                report.stats["not_judged"] = "terminated by SIGTERM"
            data = _data(report, target, outcome, duration, pid, sampler, sites)
        except Exception as exc:  # leakwatch failed; the program did not
            sampler.erase()
            _say(err, f"leakwatch: internal error, no report: {type(exc).__name__}: {exc}")
            return RunResult(outcome.status)
        return _report(settings, report, data, outcome, err)

    term = terminate.Terminate(
        lambda: finish(
            program.Outcome(terminate.TERMINATED, "terminated"), {}, time.perf_counter() - started
        ),
        pid,
    )
    term.install()
    sampler.start()
    watcher.start()
    exits.install()
    started = time.perf_counter()
    outcome = program.run(prepared)
    ran = time.perf_counter() - started
    if os.getpid() != pid:  # a forked child ran the rest of the program: not ours to judge
        return RunResult(outcome.status)
    exit_stats = _program_shutdown(exits, settings.join_timeout)
    term.judging = True
    _flush(sys.stdout)  # the program's last words come before the report
    result = finish(outcome, exit_stats, ran)
    term.finished()
    return result


def _report(
    settings: RunSettings,
    report: Report,
    data: dict[str, Any],
    outcome: program.Outcome,
    err: TextIO,
) -> RunResult:
    """Print the report and write its files."""
    result = RunResult(outcome.status, leaks=sum(leak.count for leak in report.leaks), data=data)
    if report.leaks or not settings.quiet:
        text = "\n".join([report.format(verbose=settings.verbose), *run_summary_lines(data)])
        _say(err, escape(text))
    _write(settings, report, data, result, err)
    return result


def _program_shutdown(exits: shutdown.ExitHandlers, patience: float) -> dict[str, Any]:
    """The part of python's shutdown that is the program's: its non-daemon
    threads ending, then its own atexit handlers (see ``_run.shutdown``)."""
    began = time.perf_counter()
    stats: dict[str, Any] = {"threads_running": [], "atexit_run": 0}
    try:
        stuck = shutdown.join_threads(patience)
        stats["threads_running"] = [t.name for t in stuck]
        if not stuck:
            stats["atexit_run"] = exits.run_programs()
    except Exception as exc:  # leakwatch's part failed: python's shutdown still runs them
        stats["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        exits.uninstall()
    stats["waited"] = round(time.perf_counter() - began, 3)
    return stats


def _judge(
    report: Report,
    settings: RunSettings,
    policy: Policy,
    sampler: Sampler,
    sites: list[GrowthSite],
    kinds: tuple[str, ...],
) -> None:
    """Add what grew over the run to the leftovers, then apply the policy."""
    leftover = {leak.kind for leak in report.leaks}
    when = sampler.windows.when()
    leaks, info = trend.judge(sampler.series, sites, kinds=kinds, leftover=leftover, when=when)
    leaks = native_run.judge(sampler.series, leaks, sampler.windows)
    report.leaks += group_resources(leaks)
    report.info += group_resources(info)
    report.leaks.sort(key=lambda leak: KINDS.index(leak.kind) if leak.kind in KINDS else 99)
    report.leaks, report.info = _own_frames_only(report.leaks), _own_frames_only(report.info)
    report.label = settings.target.label
    policy.apply(report, scope=PROGRAM_SCOPE)
    report.notes += [f"ignore rule matched nothing: {rule}" for rule in policy.unmatched()]
    report.notes += sampler.errors + sampler.windows.native.errors
    report.stats.update(interval=settings.interval, samples=len(sampler.series["t"]))


def _write(
    settings: RunSettings, report: Report, data: dict[str, Any], result: RunResult, err: TextIO
) -> None:
    """The baseline, JSON and HTML files asked for; a failure is one line each."""
    if settings.update_baseline:
        result.leaks = 0  # what the new baseline lists is accepted from now on
        where = display(settings.update_baseline)
        accepted = report.leaks + report.baselined
        try:
            write_baseline(settings.update_baseline, {PROGRAM_SCOPE: accepted})
            _say(err, f"leakwatch: baseline {where} now lists {len(accepted)} leak(s)")
        except OSError as exc:
            result.write_failed = True
            _say(err, f"leakwatch: cannot write baseline {where}: {exc.strerror or exc}")
    outputs: tuple[tuple[str | None, FormName, str], ...] = (
        (settings.json_path, "json", "JSON report"),
        (settings.html_path, "html", "HTML report"),
    )
    for path, form, what in outputs:
        if path:
            try:
                text = render(form, data)
                write_whole(path, text, what=what, error=OutputError)
            except OutputError as exc:
                result.write_failed = True
                _say(err, str(exc))


def _own_frames_only(leaks: list[Leak]) -> list[Leak]:
    return [replace(leak, origin=program.strip_runner_frames(leak.origin)) for leak in leaks]


def _data(
    report: Report,
    target: program.Target,
    outcome: program.Outcome,
    duration: float,
    pid: int,
    sampler: Sampler,
    sites: list[GrowthSite],
) -> dict[str, Any]:
    data = report.to_dict()
    data["program"] = {
        "argv": target.argv,
        "exit_status": outcome.status,
        "ended_by": outcome.how,
        "duration": round(duration, 3),
        "python": platform.python_version(),
        "executable": sys.executable,
        "pid": pid,
        "cwd": os.getcwd(),
    }
    data["timeseries"] = sampler.series
    data["growth"] = [site.to_dict() for site in sites]
    return data


def end(status: int, *, wait: bool) -> int:
    """Return ``status`` for python's own shutdown to exit with, or end now.

    Non-daemon threads still running were reported; python's shutdown waits
    for them as it would without leakwatch, then runs the atexit handlers
    left (said on stderr).  ``wait=False`` (``--no-wait``) ends the process
    here instead, with :func:`os._exit` (no atexit handlers) after flushing.
    """
    stuck = shutdown.running_non_daemon()
    if not stuck:
        return status
    names = ", ".join(repr(t.name) for t in stuck[:5]) + (" ..." if len(stuck) > 5 else "")
    err = sys.__stderr__ or sys.stderr
    if wait:
        _say(
            err,
            f"leakwatch: python waits for {len(stuck)} non-daemon thread(s) still running "
            f"({names}) before it exits, and so does this run (--no-wait ends it now)",
        )
        return status
    _say(
        err,
        f"leakwatch: {len(stuck)} non-daemon thread(s) still running ({names}) would keep python "
        f"from exiting; ending now with status {status}, without waiting for them or running "
        "atexit handlers (--no-wait)",
    )
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        _flush(stream)
    os._exit(status)


def _say(stream: TextIO, text: str) -> None:
    try:
        write_text(stream, text)
    except Exception:  # the program closed it: the status still tells
        pass


def _flush(stream: Any) -> None:
    try:
        stream.flush()
    except Exception:
        pass


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty() and stream.fileno() == 2
    except Exception:
        return False
