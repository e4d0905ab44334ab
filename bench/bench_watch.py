"""Cost of one ``watch()`` around an empty block, and how it grows.

Scenarios: a quiet process; 1,000 open fds; 200 idle threads; 10,000 pending
asyncio tasks; a heap of one million extra objects.  Prints milliseconds per
watch (median); asserts nothing.  Run: ``python bench/bench_watch.py``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))

from _timing import median_time, ms

import leakwatch


def empty_watch() -> None:
    with leakwatch.watch():
        pass


def empty_watch_heap() -> None:
    with leakwatch.watch(kinds=("fd", "thread", "task", "process", "tempfile", "heap")):
        pass


def row(name: str, rounds: int = 15) -> None:
    base = median_time(empty_watch, rounds)
    heap = median_time(empty_watch_heap, max(5, rounds // 3))
    print(f"{name:<28}{ms(base)}   with heap: {ms(heap)}")


def main() -> None:
    print(
        f"leakwatch {leakwatch.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} cpus"
    )
    print(f"{'scenario':<28}{'watch() empty':>11}")
    empty_watch()  # install hooks, warm caches
    row("quiet process")

    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(1000)]
    try:
        row("1,000 open fds")
    finally:
        for fd in fds:
            os.close(fd)

    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait, daemon=True) for _ in range(200)]
    for t in threads:
        t.start()
    try:
        row("200 threads")
    finally:
        stop.set()
        for t in threads:
            t.join()

    async def with_tasks() -> None:
        gate = asyncio.Event()
        tasks = [asyncio.ensure_future(gate.wait()) for _ in range(10_000)]
        await asyncio.sleep(0)
        row("10,000 pending tasks", rounds=7)
        gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(with_tasks())

    heap = [{"i": i} for i in range(1_000_000)]
    try:
        row("1,000,000-object heap", rounds=7)
    finally:
        del heap


if __name__ == "__main__":
    main()
