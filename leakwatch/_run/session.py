"""One ``leakwatch run``: watch, run the program, sample, judge, write.

The order matters and is this::

    check report paths, load the policy, find the program   (fail before it runs)
    sampler.start()  -- first sample, trace windows armed, sampler thread on
    watcher.start()  -- creation stacks on, snapshot of everything
    run the program  -- as python would (leakwatch._run.program)
    sampler.stop()   -- last sample, trace window closed, thread joined
    watcher.stop()   -- settle, diff: what the program left behind
    judge the series (leakwatch._run.trend), apply the policy, write the reports

It all happens when the main module returns and before interpreter shutdown,
so what the program's atexit handlers would close still counts as left
behind.  leakwatch never costs the program its exit status: an internal
error after the run is printed as one line and the program's status stands.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from leakwatch._base.files import display
from leakwatch._base.model import KINDS, Leak, group_resources
from leakwatch._engine.options import Options
from leakwatch._engine.watcher import Watcher
from leakwatch._native import run as native_run
from leakwatch._probes.threads import INTERNAL_PREFIX
from leakwatch._report.report import Report
from leakwatch._report.text import escape
from leakwatch._rules.baseline import PROGRAM_SCOPE, write_baseline
from leakwatch._rules.config import Config
from leakwatch._rules.policy import Policy
from leakwatch._run import dump, program, trend
from leakwatch._run.output import (
    OutputError,
    check_writable,
    summary_lines,
    to_html,
    to_json,
    write_atomic,
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
    sampler.start()
    watcher.start()
    started = time.perf_counter()
    outcome = program.run(prepared)
    duration = time.perf_counter() - started
    if os.getpid() != pid:  # a forked child ran the rest of the program: not ours to judge
        return RunResult(outcome.status)
    _flush(sys.stdout)  # the program's last words come before the report
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
        data = _data(report, target, outcome, duration, pid, sampler, sites)
    except Exception as exc:  # leakwatch failed; the program did not
        sampler.erase()
        _say(err, f"leakwatch: internal error, no report: {type(exc).__name__}: {exc}")
        return RunResult(outcome.status)
    result = RunResult(outcome.status, leaks=sum(leak.count for leak in report.leaks), data=data)
    if report.leaks or not settings.quiet:
        text = "\n".join([report.format(verbose=settings.verbose), *summary_lines(data)])
        _say(err, escape(text))
    _write(settings, report, data, result, err)
    return result


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
    for path, render, what in (
        (settings.json_path, to_json, "JSON report"),
        (settings.html_path, to_html, "HTML report"),
    ):
        if path:
            try:
                write_atomic(path, render(data), what)
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
    """Return ``status``, or end the process now if a thread would hang python's exit.

    Python waits for non-daemon threads when the main module returns; one
    blocked forever would keep ``leakwatch run`` from ever ending.  It was
    reported already; unless ``--wait`` asked to wait as python would, the
    process ends here with :func:`os._exit` (no atexit handlers) after
    flushing, and says so.
    """
    main = threading.main_thread()
    stuck = [
        t
        for t in threading.enumerate()
        if t is not main
        and not t.daemon
        and t.is_alive()
        and not t.name.startswith(INTERNAL_PREFIX)
    ]
    if not stuck or wait:
        return status
    names = ", ".join(repr(t.name) for t in stuck[:5]) + (" ..." if len(stuck) > 5 else "")
    _say(
        sys.__stderr__ or sys.stderr,
        f"leakwatch: {len(stuck)} non-daemon thread(s) still running ({names}) would keep python "
        f"from exiting; ending now with status {status}, without waiting for them or running "
        "atexit handlers (--wait waits, as python would)",
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
