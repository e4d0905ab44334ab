"""Does leakwatch leak itself?  Memory growth over many ``check()`` and ``watch()`` calls.

Each row runs in a fresh process: 20 calls of warm-up, then N calls, and
prints the growth over those N of RSS (/proc), of the bytes malloc holds
(glibc's mallinfo2, where there is one), of Python's allocated blocks, and
of tracemalloc's traced memory when the bench itself keeps tracemalloc
running (``traced`` rows: leakwatch then compares samples of the whole
heap instead of starting and stopping tracing, seconds per check: these
rows make at most :data:`TRACED_CALLS` calls).  The ``bare`` rows are what the same number
of tracemalloc start/stop cycles around an empty call cost: on Python 3.10
to 3.12.4, ``tracemalloc.stop()`` leaks every traceback it recorded (CPython
gh-121390), and leakwatch's stops leak what its own sampling recorded, up to
``leakwatch._probes.heap.STOP_LEAK_BUDGET`` (then it keeps tracing).
Asserts nothing.  Run: ``python bench/bench_self_leak.py [N ...]`` (default
1000 10000; 10,000 checks take minutes).
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

SCENARIOS = ("bare", "check", "watch", "check traced", "watch traced")
TRACED_CALLS = 100


def empty() -> None:
    pass


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _malloc() -> int | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        info = libc.mallinfo2
    except (OSError, AttributeError):
        return None

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (n, ctypes.c_size_t) for n in ("a", "b", "c", "d", "e", "f", "g", "used", "h", "i")
        ]

    info.restype = MallInfo2
    return int(info().used)


def _traced() -> int | None:
    if not tracemalloc.is_tracing():
        return None
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    return sum(stat.size for stat in snap.statistics("filename"))


def _call(scenario: str) -> Callable[[], object]:
    import leakwatch

    if scenario == "bare":

        def bare() -> None:
            tracemalloc.start(16)
            empty()
            tracemalloc.stop()

        return bare
    if scenario.startswith("check"):
        return lambda: leakwatch.check(empty, repeat=2, warmup=0, on_leak="report")

    def watched() -> None:
        with leakwatch.watch(on_leak="report"):
            empty()

    return watched


def measure(scenario: str, n: int) -> dict[str, object]:
    """In this process: warm up, then ``n`` calls; the growth of each measure."""
    if scenario.endswith("traced"):
        tracemalloc.start(16)
    call = _call(scenario)
    for _ in range(20):
        call()
    gc.collect()
    before = (_rss(), _malloc(), sys.getallocatedblocks(), _traced())
    t0 = time.perf_counter()
    for _ in range(n):
        call()
    seconds = time.perf_counter() - t0
    gc.collect()
    after = (_rss(), _malloc(), sys.getallocatedblocks(), _traced())
    grown = [None if a is None or b is None else b - a for a, b in zip(before, after, strict=True)]
    return dict(zip(("rss", "malloc", "blocks", "traced"), grown, strict=True), seconds=seconds)


def _size(value: object) -> str:
    if not isinstance(value, int):
        return "-"
    return f"{value / 2**20:+.2f} MiB" if abs(value) >= 2**20 else f"{value / 1024:+.0f} KiB"


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        print(json.dumps(measure(sys.argv[2], int(sys.argv[3]))))
        return
    counts = [int(a) for a in sys.argv[1:]] or [1000, 10000]
    print(f"Python {sys.version.split()[0]}: growth over N calls after 20 of warm-up")
    print(f"{'':<16}{'N':>7}{'RSS':>13}{'malloc':>13}{'blocks':>9}{'traced':>12}{'seconds':>9}")
    for n in counts:
        for scenario in SCENARIOS:
            calls = min(n, TRACED_CALLS) if scenario.endswith("traced") else n
            out = subprocess.run(
                [sys.executable, __file__, "--one", scenario, str(calls)],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            blocks = row["blocks"]
            print(
                f"{scenario:<16}{calls:>7}{_size(row['rss']):>13}{_size(row['malloc']):>13}"
                f"{blocks if blocks is not None else '-':>9}{_size(row['traced']):>12}"
                f"{row['seconds']:>9.1f}"
            )


if __name__ == "__main__":
    main()
