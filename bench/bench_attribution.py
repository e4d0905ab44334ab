"""Cost of attribution (creation stacks, tracemalloc) against off, per watched block.

Workloads: allocation-heavy (json.dumps of small dicts), thread-heavy (start
and join 200 threads), fd-heavy (open and close 2,000 sockets and files).
Each is timed plain, watched with creation stacks off, with them on, and
with heap tracing too; rounds are interleaved.  Prints ratios to plain;
asserts nothing.  Run: ``python bench/bench_attribution.py``.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(__file__))

from leakwatch._base.model import RESOURCE_KINDS
from leakwatch._engine.options import Options
from leakwatch._engine.watcher import Watcher


def alloc_heavy() -> None:
    for i in range(20_000):
        json.dumps({"i": i, "name": "x", "tags": [1, 2, 3]})


def thread_heavy() -> None:
    threads = [threading.Thread(target=lambda: None) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def fd_heavy() -> None:
    for _ in range(1000):
        s = socket.socket()
        s.close()
        with open(os.devnull) as f:
            f.fileno()


MODES: dict[str, Options | None] = {
    "plain": None,
    "stacks off": Options(origins=False),
    "stacks on": Options(),
    "stacks+heap": Options(kinds=(*RESOURCE_KINDS, "heap")),
}


def run(workload: Callable[[], None], options: Options | None) -> float:
    t0 = time.perf_counter()
    if options is None:
        workload()
    else:
        w = Watcher(options)
        w.start()
        workload()
        w.stop()
    return time.perf_counter() - t0


def main() -> None:
    print(f"Python {sys.version.split()[0]}; medians of interleaved rounds; ratio to plain")
    print(f"{'workload':<16}" + "".join(f"{m:>14}" for m in MODES))
    for name, workload, rounds in (
        ("alloc-heavy", alloc_heavy, 7),
        ("thread-heavy", thread_heavy, 9),
        ("fd-heavy", fd_heavy, 9),
    ):
        times: dict[str, list[float]] = {m: [] for m in MODES}
        run(workload, Options())  # warm up hooks and caches
        for _ in range(rounds):
            for mode, options in MODES.items():
                times[mode].append(run(workload, options))
        plain = statistics.median(times["plain"])
        cells = [f"{plain * 1000:9.1f} ms  "]
        cells += [f"{statistics.median(times[m]) / plain:12.2f}x " for m in list(MODES)[1:]]
        print(f"{name:<16}" + "".join(cells))


if __name__ == "__main__":
    main()
