"""How fast the service's debug pages answer: ``threads`` with 50 and 200
threads, ``fds`` with 1,000 open descriptors, the overview, and ``timers``
with 1,000 timers scheduled on a loop running in another thread (never
recorded: found on the loop itself).

Starts ``leakwatch.service.serve()`` in this process, makes the threads
(each waiting on an event) and descriptors, and times GETs over loopback
(connect, page, read), median and worst of 20 after one warm-up.  Asserts
nothing.  Run: ``python bench/bench_pages.py``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
import urllib.request

from leakwatch.service import serve


def timed(url: str, rounds: int = 20) -> tuple[float, float]:
    def once() -> float:
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as resp:
            resp.read()
        return time.perf_counter() - t0

    once()
    samples = [once() for _ in range(rounds)]
    return statistics.median(samples), max(samples)


def _tick() -> None:
    pass


def main() -> None:
    server = serve()
    stop = threading.Event()
    threads: list[threading.Thread] = []
    fds: list[int] = []
    try:
        print(f"{'page':<34} {'median':>9} {'worst':>9}")
        for count in (50, 200):
            while len(threads) < count:
                t = threading.Thread(target=stop.wait, name=f"worker-{len(threads)}")
                t.start()
                threads.append(t)
            for page in ("threads.json", "threads"):
                med, worst = timed(server.url + page)
                label = f"{page} ({count} threads)"
                print(f"{label:<34} {med * 1000:7.1f} ms {worst * 1000:7.1f} ms", flush=True)
        fds.extend(os.open(os.devnull, os.O_RDONLY) for _ in range(1000))
        for page in ("fds.json", ""):
            med, worst = timed(server.url + page)
            label = f"{page or 'overview'} (1,000 fds, 200 threads)"
            print(f"{label:<34} {med * 1000:7.1f} ms {worst * 1000:7.1f} ms", flush=True)
        loop = asyncio.new_event_loop()
        ticker = threading.Thread(target=loop.run_forever, name="bench-loop")
        ticker.start()
        scheduled = threading.Event()

        def schedule() -> None:
            for i in range(1000):
                loop.call_later(3600 + i, _tick)
            scheduled.set()

        loop.call_soon_threadsafe(schedule)
        scheduled.wait(10)
        for page in ("timers.json", "timers"):
            med, worst = timed(server.url + page)
            label = f"{page} (1,000 timers)"
            print(f"{label:<34} {med * 1000:7.1f} ms {worst * 1000:7.1f} ms", flush=True)
        loop.call_soon_threadsafe(loop.stop)
        ticker.join()
        loop.close()
    finally:
        stop.set()
        for t in threads:
            t.join()
        for fd in fds:
            os.close(fd)
        server.close()


if __name__ == "__main__":
    main()
