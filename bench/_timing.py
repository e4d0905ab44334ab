"""Shared timing helpers for the benchmarks: medians of interleaved rounds."""

from __future__ import annotations

import functools
import os
import statistics
import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], rounds: int = 15, number: int = 1) -> float:
    """Median seconds per call of ``fn`` over ``rounds`` rounds of ``number`` calls."""
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return statistics.median(samples)


def side_by_side(
    plain: Callable[[], object], other: Callable[[], object], rounds: int = 9
) -> tuple[float, float]:
    """Interleave plain and other round by round (noisy machines), return medians."""
    a, b = [], []
    for _ in range(rounds):
        for fn, out in ((plain, a), (other, b)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return statistics.median(a), statistics.median(b)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.3f} ms"


@functools.cache
def cpus() -> tuple[set[int], set[int]]:
    """(the servers' CPUs, the load generator's) for the service benchmarks:
    apart when there are two or more, so the generator never takes the
    server's CPU from it mid-round (on a shared CPU, the same mode's CPU per
    request varied by 10% run to run).  ``PIN=0``: every CPU for both.  Asked
    once, of the CPUs the benchmark started with: it pins itself later."""
    mine = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(mine) < 2 or os.environ.get("PIN", "1") == "0":
        return set(mine), set(mine)
    return {mine[0]}, set(mine[1:])


#: Environment variables that would switch leakwatch or a plugin on in a child run.
DROPPED_ENV = (
    "LEAKWATCH",
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "PYTHONDEVMODE",
    "PYTHONTRACEMALLOC",
)


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment for a counted child: leakwatch's and
    pytest's switches dropped, string hashing fixed (a count must repeat)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV)}
    env["PYTHONHASHSEED"] = "0"
    env.update(extra)
    return env


def callgrind_summary(path: str | os.PathLike[str]) -> int:
    """The instructions a callgrind output file counted (its ``summary:`` line)."""
    with open(path) as f:
        for line in f:
            if line.startswith("summary:"):
                return int(line.split()[1])
    return 0
