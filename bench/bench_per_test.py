"""The pytest plugin's fixed cost per test, and where it goes.

Writes 2,000 trivial tests (``def test_i(): pass``) into a temp dir and runs
them as pytest subprocesses, plain (``-p no:leakwatch``) and under
``--leakwatch`` (default kinds), interleaved round by round so a noisy
machine slows both alike.  Prints the median wall and CPU time of each, and
the difference per test in milliseconds.  A tenth as many tests run the same
way, so the difference splits into what a session pays once (importing and
setting up leakwatch: the intercept) and what each test pays (the slope).

Then one more ``--leakwatch`` session runs in a child process with the parts
of a test's watch wrapped in ``perf_counter_ns`` accumulators, and prints
each part's own time (its callees' excluded) per test: the snapshots per
kind, the light marks at phase changes, creation stacks (origins), the
span's construction, start, settle, describe, and the plugin's hooks.
Wrapping costs time of its own, so the parts add up to more than the
subprocess difference; they say where the time goes, not how much it is.
Asserts nothing.

Run: ``python bench/bench_per_test.py [--rounds N] [--tests N] [--no-breakdown]``;
``--code DIR`` (repeated) measures leakwatch source trees side by side, round
by round (a change against the code before it).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

COMMON = ("-q", "-p", "no:cacheprovider", "-p", "no:randomly")
MODES = {"plain": ("-p", "no:leakwatch"), "leakwatch": ("--leakwatch",)}


def _write_tests(where: Path, count: int, name: str = "test_trivial.py") -> Path:
    path = where / name
    path.write_text("".join(f"def test_{i}():\n    pass\n" for i in range(count)))
    return path


def _env() -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE too: the warm runs write each file's bytecode,
    # else every run compiles what has none (a tree given with --code).
    drop = (
        "LEAKWATCH",
        "PYTEST_ADDOPTS",
        "PYTEST_PLUGINS",
        "PYTHONDEVMODE",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONTRACEMALLOC",
    )
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(
    where: Path, args: tuple[str, ...], name: str = "test_trivial.py", code: str | None = None
) -> tuple[float, float]:
    """One pytest process: wall and CPU seconds.  ``code``: a leakwatch
    source tree to run instead of the installed one."""
    argv = [sys.executable, "-m", "pytest", *COMMON, *args, name]
    env = _env()
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [code, env.get("PYTHONPATH")]))
    cpu, t0 = _child_cpu(), time.perf_counter()
    done = subprocess.run(argv, cwd=where, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _child_cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"pytest {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return wall, cpu


def _overhead(where: Path, rounds: int, tests: int, codes: list[str]) -> None:
    small = max(1, tests // 10)
    _write_tests(where, small, "test_small.py")
    files = {tests: "test_trivial.py", small: "test_small.py"}
    # (mode, pytest arguments, source tree): plain, then leakwatch once per tree.
    modes: list[tuple[str, tuple[str, ...], str | None]] = [("plain", MODES["plain"], None)]
    modes += [(f"leakwatch {c}", MODES["leakwatch"], c) for c in codes] or [
        ("leakwatch", MODES["leakwatch"], None)
    ]
    samples: dict[tuple[str, int], list[tuple[float, float]]] = {
        (m, n): [] for m, _, _ in modes for n in files
    }
    for _ in range(2):  # warm the bytecode caches and the page cache
        for _, args, code in modes:
            _run(where, args, code=code)
    for r in range(rounds):
        for mode, args, code in modes if r % 2 == 0 else modes[::-1]:
            for n, name in files.items():
                samples[(mode, n)].append(_run(where, args, name, code))
    wall = {k: statistics.median(s[0] for s in v) for k, v in samples.items()}
    cpu = {k: statistics.median(s[1] for s in v) for k, v in samples.items()}
    print(f"{tests} (and {small}) trivial tests, medians of {rounds} interleaved rounds:")
    for mode, _, _ in modes:
        print(
            f"  {mode:<10} wall {wall[(mode, tests)]:6.3f} s   cpu {cpu[(mode, tests)]:6.3f} s"
            f"   ({small} tests: wall {wall[(mode, small)]:6.3f} s)"
        )
    for mode, _, _ in modes[1:]:
        extra = {n: cpu[(mode, n)] - cpu[("plain", n)] for n in files}
        extra_wall = {n: wall[(mode, n)] - wall[("plain", n)] for n in files}
        per_wall = extra_wall[tests] / tests * 1000
        per_cpu = extra[tests] / tests * 1000
        slope = (extra[tests] - extra[small]) / (tests - small)
        once = (extra[small] - slope * small) * 1000
        print(
            f"  {mode}: per test, all included: {per_wall:.3f} ms wall, {per_cpu:.3f} ms cpu; "
            f"per test (slope): {slope * 1000:.3f} ms cpu; once per session (intercept, "
            f"importing and setting up leakwatch): {once:.0f} ms cpu"
        )


# -- the breakdown (in a child process: the wrappers stay out of this one) --------


#: (part, owner, attribute): what each part's wrapped functions are.
def _targets() -> list[tuple[str, Any, str]]:
    from leakwatch._attribution import origins, recording
    from leakwatch._engine import describe, settle, watcher
    from leakwatch._probes import fds, processes, tasks, tempfiles, threads, timers
    from leakwatch._pytest import calls, per_test, plugin
    from leakwatch._suite import spans

    out: list[tuple[str, Any, str]] = [
        ("snapshot fd", fds.FdProbe, "snapshot"),
        ("snapshot fd", fds.FdProbe, "mark"),
        ("snapshot thread", threads.ThreadProbe, "snapshot"),
        ("snapshot task", tasks.TaskProbe, "snapshot"),
        ("snapshot timer", timers.TimerProbe, "snapshot"),
        ("snapshot process", processes.ProcessProbe, "snapshot"),
        ("snapshot tempfile", tempfiles.TempfileProbe, "snapshot"),
        ("light marks", spans.SpanWatcher, "mark"),
        ("stacks (origins on/off)", origins, "activate"),
        ("stacks (origins on/off)", recording, "deactivate"),
        ("span construction", spans.SpanWatcher, "__init__"),
        ("start", watcher.Watcher, "start"),
        ("settle", watcher.Watcher, "stop"),
        ("settle", settle.Settler, "_settle"),
        ("describe", watcher.Watcher, "_finish"),
        ("describe", describe.Describer, "_describe"),
        ("hooks: begin", per_test.PerTest, "begin"),
        ("hooks: instrument", calls, "instrument"),
    ]
    for name in (
        "pytest_runtest_protocol",
        "pytest_runtest_setup",
        "pytest_runtest_call",
        "pytest_runtest_teardown",
        "pytest_runtest_makereport",
        "_phase_end",
        "_judge",
        "_deliver",
    ):
        out.append((f"hooks: {name}", plugin.LeakwatchPlugin, name))
    return out


class _Clock:
    """Own time per part: a call's time minus its wrapped callees'."""

    def __init__(self) -> None:
        self.own: dict[str, int] = {}
        self.stack: list[int] = []  # callees' time of each open call

    def enter(self) -> None:
        self.stack.append(0)

    def leave(self, part: str, took: int) -> None:
        inner = self.stack.pop()
        self.own[part] = self.own.get(part, 0) + took - inner
        if self.stack:
            self.stack[-1] += took


class _TimedGen:
    """A generator (a hook wrapper, settling) timed each time it resumes."""

    def __init__(self, gen: Any, part: str, clock: _Clock) -> None:
        self.gen, self.part, self.clock = gen, part, clock

    def __iter__(self) -> Iterator[Any]:
        return self

    def _step(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.clock.enter()
        t0 = time.perf_counter_ns()
        try:
            return fn(*args)
        finally:
            self.clock.leave(self.part, time.perf_counter_ns() - t0)

    def __next__(self) -> Any:
        return self._step(self.gen.__next__)

    def send(self, value: Any) -> Any:
        return self._step(self.gen.send, value)

    def throw(self, *args: Any) -> Any:
        return self._step(self.gen.throw, *args)

    def close(self) -> None:
        self.gen.close()


def _wrap(fn: Callable[..., Any], part: str, clock: _Clock) -> Callable[..., Any]:
    import inspect

    if inspect.isgeneratorfunction(fn):
        # Still a generator function: pluggy checks that of a hook wrapper.
        @functools.wraps(fn)
        def timed_gen(*args: Any, **kwargs: Any) -> Any:
            return (yield from _TimedGen(fn(*args, **kwargs), part, clock))

        return timed_gen

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        clock.enter()
        t0 = time.perf_counter_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            clock.leave(part, time.perf_counter_ns() - t0)

    return timed


def _breakdown_child(where: str, tests: int) -> None:
    import pluggy
    import pytest
    from _pytest import nodes

    from leakwatch._pytest import plugin

    clock = _Clock()
    for part, owner, name in _targets():
        setattr(owner, name, _wrap(owner.__dict__[name], part, clock))
    # pytest's own hook calls (and the other plugins') are not leakwatch's time.
    caller = pluggy.HookCaller
    caller.__call__ = _wrap(caller.__call__, "pytest", clock)  # type: ignore[method-assign]
    # The protocol leakwatch runs with logging deferred is pytest's own work.
    plugin.runtestprotocol = _wrap(plugin.runtestprotocol, "pytest", clock)
    # So is working out an item's location, which leakwatch's protocol asks first.
    location = nodes.Item.__dict__["location"]
    location.func = _wrap(location.func, "pytest", clock)
    os.chdir(where)
    with contextlib.redirect_stdout(io.StringIO()):
        code = pytest.main([*COMMON, "--leakwatch", "test_trivial.py"])
    if code != 0:
        sys.exit(f"pytest --leakwatch failed ({code})")
    clock.own.pop("pytest", None)
    total = sum(clock.own.values())
    print(f"\nwhere leakwatch's time goes, per test (own time, wrapped; {tests} tests):")
    for part, ns in sorted(clock.own.items(), key=lambda kv: -kv[1]):
        print(f"  {part:<34}{ns / tests / 1000:8.1f} us  {100 * ns / total:5.1f} %")
    print(f"  {'total':<34}{total / tests / 1000:8.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument(
        "--code",
        action="append",
        default=[],
        metavar="DIR",
        help="a leakwatch source tree to measure (repeat to compare trees side by side); "
        "the breakdown is of the installed leakwatch",
    )
    parser.add_argument("--breakdown-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.breakdown_child:
        _breakdown_child(args.breakdown_child, args.tests)
        return
    with tempfile.TemporaryDirectory(prefix="leakwatch-bench-") as tmp:
        where = Path(tmp)
        _write_tests(where, args.tests)
        if args.rounds > 0:
            _overhead(where, args.rounds, args.tests, [str(Path(c).resolve()) for c in args.code])
        if not args.no_breakdown:
            sys.stdout.flush()
            child = [__file__, "--breakdown-child", tmp, "--tests", str(args.tests)]
            subprocess.run([sys.executable, *child], env=_env(), check=False)


if __name__ == "__main__":
    main()
