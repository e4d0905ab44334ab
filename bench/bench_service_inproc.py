"""The service middleware's own cost per request, to a tenth of a microsecond.

``bench_service.py`` measures a real server under load, but one server
process runs a few percent faster or slower than another for as long as it
lives, more than the 2% a 1% sample may cost.  This puts every mode in one
process: uvicorn's own HTTP/1.1 protocol (h11) on a real uvloop loop, the
benchmark's Starlette app (``service_app.py``'s ``/hello``), fed requests
in-process on one keep-alive connection (no sockets, no load generator:
the transport only counts what is written).  Modes: no middleware,
``sample=0.0``, ``0.01`` and ``1.0``, in interleaved rounds; each round
waits until the judge has judged the last one's requests, so recording is
off as a round starts.  Prints the median CPU per request of the loop's
thread and of the whole process (the judge's thread included), against no
middleware.  Asserts nothing.

    python bench/bench_service_inproc.py [rounds] [requests]

It runs on one CPU (``PIN=0``: wherever the kernel puts it), as the
servers of ``bench_service.py`` do.

The creation wrappers stay installed once a sampled request turned recording
on (they cannot be taken out); with recording off each costs one global
read, which the "no middleware" rounds after the first pay too.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from typing import Any

import uvloop
from _timing import cpus
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from leakwatch._attribution import recording
from leakwatch.service import ASGIMiddleware

MODES = ("none", "0.0", "0.01", "1.0")
REQUEST = b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n"


async def hello(request: Any) -> PlainTextResponse:
    return PlainTextResponse("Hello, world!")


class Transport(asyncio.Transport):
    """A connection's transport that keeps nothing: what a server writes is counted."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def config(mode: str) -> Config:
    app: Any = Starlette(routes=[Route("/hello", hello)])
    if mode != "none":
        app = ASGIMiddleware(app, sample=float(mode))
    made = Config(app, http="h11", lifespan="off", access_log=False, log_level="error")
    made.load()
    return made


async def serve(made: Config, n: int) -> None:
    """``n`` requests on one connection, each sent once the last is answered."""
    protocol = H11Protocol(made, ServerState(), {}, asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)
    for _ in range(n):
        protocol.data_received(REQUEST)
        # Answered: uvicorn schedules its keep-alive timer once the response is done.
        while protocol.timeout_keep_alive_task is None:
            await asyncio.sleep(0)
    protocol.connection_lost(None)


def one_round(made: Config, n: int) -> tuple[float, float]:
    """(loop thread, process) CPU microseconds per request."""
    while recording.is_recording():  # the judge still has the last round's requests
        time.sleep(0.05)
    loop = uvloop.new_event_loop()
    try:
        thread0, process0 = time.thread_time(), time.process_time()
        loop.run_until_complete(serve(made, n))
        thread1 = time.thread_time()
        while recording.is_recording():  # the judge's batch is this round's cost
            time.sleep(0.05)
        process1 = time.process_time() - (time.thread_time() - thread1)
    finally:
        loop.close()
    return (thread1 - thread0) / n * 1e6, (process1 - process0) / n * 1e6


def pin() -> str:
    """Run on the servers' CPU, as ``bench_service.py`` runs its servers.
    Unpinned, every wake of the judge's thread on another CPU costs the busy
    loop thread about 10 ms of CPU (its caches go cold as the GIL moves
    across CPUs): a thread waking every 50 ms cost it a fifth of its speed."""
    server = cpus()[0]
    if server:
        os.sched_setaffinity(0, server)
    return f"on CPU {sorted(server)}"


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    where = pin()
    configs = {mode: config(mode) for mode in MODES}
    for mode in MODES:  # warm-up: imports, the first sampled request's hooks
        one_round(configs[mode], n // 4)
    thread: dict[str, list[float]] = {m: [] for m in MODES}
    process: dict[str, list[float]] = {m: [] for m in MODES}
    for r in range(rounds):
        for mode in MODES if r % 2 == 0 else MODES[::-1]:
            t, p = one_round(configs[mode], n)
            thread[mode].append(t)
            process[mode].append(p)
    base_t, base_p = statistics.median(thread["none"]), statistics.median(process["none"])
    print(f"/hello in-process: {rounds} rounds of {n} requests, uvicorn h11 on uvloop, {where}")
    for mode in MODES:
        t, p = statistics.median(thread[mode]), statistics.median(process[mode])
        label = "no middleware" if mode == "none" else f"sample {float(mode):.0%}"
        print(
            f"  {label:<14} loop thread {t:6.1f} us/req ({t / base_t - 1:+6.1%})"
            f"   process {p:6.1f} us/req ({p / base_p - 1:+6.1%})"
        )


if __name__ == "__main__":
    main()
