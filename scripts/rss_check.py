"""RSS over N ``leakwatch.check()`` calls on a clean function, in four quarters.

    python scripts/rss_check.py [N]

Prints the Python version, RSS before and after each quarter of the calls,
the total growth, the time taken and whether tracemalloc was left running.
Nothing is asserted: run it on each interpreter to compare (before 3.12.5,
CPython leaks tracemalloc's tracebacks at every stop; see leakwatch/_probes/heap.py).
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc

import psutil

import leakwatch


def clean() -> None:
    data = [bytearray(64) for _ in range(50)]
    del data


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    proc = psutil.Process()
    for _ in range(20):  # warm-up: imports, caches and first-use arenas
        leakwatch.check(clean, on_leak="report")
    gc.collect()
    mib = 1024 * 1024
    rss = [proc.memory_info().rss / mib]
    t0 = time.perf_counter()
    for quarter in range(4):
        for _ in range(n // 4):
            leakwatch.check(clean, on_leak="report")
        gc.collect()
        rss.append(proc.memory_info().rss / mib)
        del quarter
    seconds = time.perf_counter() - t0
    version = ".".join(map(str, sys.version_info[:3]))
    steps = " -> ".join(f"{r:.1f}" for r in rss)
    print(
        f"python {version}: {n} check() calls, RSS MiB {steps} ({rss[-1] - rss[0]:+.1f} MiB) "
        f"in {seconds:.0f} s; tracemalloc left running: {tracemalloc.is_tracing()}"
    )


if __name__ == "__main__":
    main()
