"""Cost of ``check(fn, repeat=5, warmup=1)`` on a clean function.

Prints the time of one check and the overhead per judged call, for a
function that does nothing and for one doing real work (json round trips),
with and without a large heap (the gc.freeze trick keeps gc passes
proportional to what the calls allocate).  Asserts nothing.
Run: ``python bench/bench_check.py``.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _timing import median_time, ms

import leakwatch


def empty() -> None:
    pass


def work() -> None:
    for i in range(200):
        json.loads(json.dumps({"i": i, "tags": [1, 2, 3]}))


def row(name: str, fn: object) -> None:
    plain = median_time(fn, rounds=9)  # type: ignore[arg-type]
    checked = median_time(lambda: leakwatch.check(fn, repeat=5, warmup=1), rounds=5)  # type: ignore[arg-type]
    per_call = (checked - 6 * plain) / 6
    print(f"{name:<34}{ms(checked)} per check   {ms(per_call)} overhead per call")


def main() -> None:
    print(f"Python {sys.version.split()[0]}: check(fn, repeat=5, warmup=1), medians")
    leakwatch.check(empty, repeat=5, warmup=1)  # first use: hooks, lazy imports
    row("empty function", empty)
    row("json round trips (200)", work)
    heap = [{"i": i} for i in range(1_000_000)]
    row("empty function, 1M-object heap", empty)
    del heap


if __name__ == "__main__":
    main()
