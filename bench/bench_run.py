"""``leakwatch run`` overhead: whole programs under plain python and under leakwatch.

Two scripts, each a few seconds long: a CPU-bound one (recursive Fibonacci,
pure Python) and an allocation-bound one (``json.dumps`` of small dicts).
Each runs as ``python script.py`` and as ``python -m leakwatch run --quiet
script.py`` (default sampling), interleaved round by round so that a noisy
machine slows both alike; the figures are medians of wall time, start-up
included.  Prints ratios; asserts nothing.  Run: ``python bench/bench_run.py
[rounds]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(__file__))

from _timing import side_by_side

CPU_BOUND = """
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

for _ in range(140):
    fib(27)
"""

ALLOC_BOUND = """
import json

for i in range(1_500_000):
    json.dumps({"i": i, "name": "x", "tags": [1, 2, 3]})
"""


def _runner(argv: list[str]) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    return run


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    print(f"Python {sys.version.split()[0]}; {rounds} interleaved rounds; medians of wall time")
    print(f"{'script':<14}{'python':>10}{'leakwatch run':>16}{'ratio':>9}")
    with tempfile.TemporaryDirectory(prefix="lw-bench-") as tmp:
        for name, source in (("cpu-bound", CPU_BOUND), ("alloc-bound", ALLOC_BOUND)):
            script = os.path.join(tmp, f"{name}.py")
            with open(script, "w", encoding="utf-8") as f:
                f.write(source)
            plain = _runner([sys.executable, script])
            watched = _runner([sys.executable, "-m", "leakwatch", "run", "--quiet", script])
            watched()  # warm the page cache and bytecode caches once
            a, b = side_by_side(plain, watched, rounds=rounds)
            print(f"{name:<14}{a:>9.2f}s{b:>15.2f}s{b / a:>8.3f}x")


if __name__ == "__main__":
    main()
