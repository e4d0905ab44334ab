"""leakwatch.service's cost in a real server: throughput and p99 latency.

Three uvicorn servers run the same Starlette app (bench/service_app.py): no
middleware, ``ASGIMiddleware(sample=0.01)`` and ``ASGIMiddleware(sample=1.0)``,
started afresh each round, on one CPU (the load generator on the others).
A load generator (asyncio, keep-alive HTTP/1.1 connections) sends a bounded
number of requests to one server at a time, round by round and interleaved,
so a noisy machine slows all alike; the figures are medians over rounds
(with the spread of the server's CPU per request).  One server process runs
a few percent faster or slower than another for as long as it lives, which
this cannot take out below about 3%: ``bench_service_inproc.py`` measures
the middleware's own cost to a tenth of a microsecond.
Two routes: ``/hello`` (hello world) and ``/items`` (sqlite: connect, read
ten rows, close, in the server's worker threads).  Prints figures; asserts
nothing.  Run: ``python bench/bench_service.py [rounds] [requests]``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time

from _timing import cpus

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = tuple(os.environ.get("MODES", "none 0.01 1.0").split())
CONNECTIONS = 16


def start(mode: str) -> tuple[subprocess.Popen[str], int]:
    server_cpus = cpus()[0]
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "service_app.py"), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, server_cpus)) if server_cpus else None,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"server {mode} did not start: {line!r}")
    return proc, int(line.split()[1])


async def _client(port: int, path: str, n: int, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
    finally:
        writer.close()
        await writer.wait_closed()


def _ticks(path: str) -> int:
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def cpu_seconds(pid: int) -> float:
    """The server's CPU time so far, all its threads.  ``/proc/PID/stat``
    counts 10 ms ticks (3 us a request over 3,200 requests), so each live
    thread's share is read to the nanosecond (``schedstat``), and only what
    threads that ended used (the process's ticks less the live threads')
    is counted in ticks."""
    hz = os.sysconf("SC_CLK_TCK")
    precise = 0.0
    live_ticks = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
            live_ticks += _ticks(f"/proc/{pid}/task/{tid}/stat")
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile: in the process's ticks
        precise += ns / 1e9
    return precise + max(0, _ticks(f"/proc/{pid}/stat") - live_ticks) / hz


def load(port: int, path: str, total: int) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) for ``total`` requests."""
    latencies: list[float] = []

    async def main() -> float:
        t0 = time.perf_counter()
        per = total // CONNECTIONS
        await asyncio.gather(*(_client(port, path, per, latencies) for _ in range(CONNECTIONS)))
        return time.perf_counter() - t0

    seconds = asyncio.run(main())
    latencies.sort()
    return len(latencies) / seconds, latencies[int(len(latencies) * 0.99)] * 1000


def stop(servers: dict[str, tuple[subprocess.Popen[str], int]]) -> None:
    for proc, _ in servers.values():
        proc.communicate(input="", timeout=30)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 3200
    server_cpus, load_cpus = cpus()
    print(f"servers on CPU {sorted(server_cpus)}, load generator on CPU {sorted(load_cpus)}")
    for path in ("/hello", "/items"):
        rps: dict[str, list[float]] = {m: [] for m in MODES}
        p99: dict[str, list[float]] = {m: [] for m in MODES}
        cpu: dict[str, list[float]] = {m: [] for m in MODES}
        for r in range(rounds):
            # Fresh servers each round: one server process runs a few percent
            # faster or slower than another of the same code for as long as it
            # lives, more than the 1% goal; medians over processes even that out.
            servers = {mode: start(mode) for mode in MODES}
            if load_cpus:
                os.sched_setaffinity(0, load_cpus)
            try:
                for mode in MODES:  # warm-up: imports, pools, the judge's first batch
                    load(servers[mode][1], path, total // 4)
                time.sleep(1.6)
                order = MODES if r % 2 == 0 else MODES[::-1]
                for mode in order:
                    proc, port = servers[mode]
                    before = cpu_seconds(proc.pid)
                    a, b = load(port, path, total)
                    # The judge's last batch: settle and one batch interval.
                    time.sleep(1.6 if mode != "none" else 0)
                    cpu[mode].append((cpu_seconds(proc.pid) - before) / total * 1e6)
                    rps[mode].append(a)
                    p99[mode].append(b)
            finally:
                stop(servers)
        report(path, rounds, total, rps, p99, cpu)


def report(
    path: str,
    rounds: int,
    total: int,
    rps: dict[str, list[float]],
    p99: dict[str, list[float]],
    cpu: dict[str, list[float]],
) -> None:
    base = statistics.median(rps["none"])
    base_cpu = statistics.median(cpu["none"])
    print(f"{path}: {rounds} rounds of {total} requests, {CONNECTIONS} connections")
    for mode in MODES:
        got = statistics.median(rps[mode])
        used = statistics.median(cpu[mode])
        label = "no middleware" if mode == "none" else f"sample {float(mode):.0%}"
        cost = "" if mode == "none" else f"  cost {(1 - got / base):+6.1%}"
        cpu_cost = "" if mode == "none" else f"  cost {(used / base_cpu - 1):+6.1%}"
        tail = statistics.median(p99[mode])
        spread = f"{min(cpu[mode]):.1f}-{max(cpu[mode]):.1f}"
        print(
            f"  {label:<14} {got:8.0f} req/s{cost:<15}  p99 {tail:6.2f} ms"
            f"   server CPU {used:6.1f} us/req ({spread}){cpu_cost}"
        )


if __name__ == "__main__":
    main()
