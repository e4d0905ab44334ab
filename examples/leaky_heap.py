"""Leaks memory: a cache that grows for as long as the program runs.

    leakwatch run --interval 0.2 --trace-window 0.3 examples/leaky_heap.py 3

The first argument is how many seconds to run (default 3).
"""

from __future__ import annotations

import sys
import time

CACHE: dict[int, bytes] = {}


def handle(request: int) -> bytes:
    if request not in CACHE:
        CACHE[request] = b"x" * 100_000  # leaks: every request is cached, nothing is evicted
    return CACHE[request]


def main(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    request = 0
    while time.monotonic() < deadline:
        handle(request)
        request += 1
        time.sleep(0.02)
    print(f"served {request} requests, cache holds {len(CACHE)}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)
