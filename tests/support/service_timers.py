"""A Starlette app under uvicorn for tests/test_service_timers.py and
tests/test_service_asgi3.py: timers scheduled before any request, and what
the middleware passes through.

Run as a script: serves on 127.0.0.1 at a free port, prints ``PORT <n>`` and
serves until stdin closes.  ``SAMPLE`` sets the middleware's rate (default
0), ``LOOP`` uvicorn's loop (default ``asyncio``; ``uvloop``).
At startup (uvicorn's lifespan, before any request) the server's loop gets
a timer kept an hour (``startup_tick``), one cancelled (``cancelled_tick``),
one that runs at once (``ran_tick``) and a task asleep for an hour; a second
loop in the thread ``side-loop`` gets a timer kept an hour (``side_tick``).
``/ready`` answers once ``ran_tick`` ran.  ``/seen`` lists the exceptions
uvicorn saw the app raise (through the middleware, the outermost app);
``/interface`` says how uvicorn took the app (ASGI 3 or 2).  The debug
pages are made on their first request (``debug_app()`` turns recording on).
"""

import asyncio
import contextlib
import logging
import os
import socket
import sys
import threading

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from leakwatch.service import ASGIMiddleware, debug_app

KEEP: list[object] = []
RAN = threading.Event()
SIDE = asyncio.new_event_loop()
RAISED: list[BaseException] = []
SEEN: list[dict] = []
CONFIG: list[uvicorn.Config] = []


def startup_tick() -> None:
    pass


def cancelled_tick() -> None:
    pass


def ran_tick() -> None:
    RAN.set()


def side_tick() -> None:
    pass


def request_tick() -> None:
    pass


@contextlib.asynccontextmanager
async def lifespan(app):
    loop = asyncio.get_running_loop()
    KEEP.append(loop.call_later(3600, startup_tick))
    loop.call_later(3600, cancelled_tick).cancel()
    loop.call_later(0, ran_tick)
    KEEP.append(asyncio.create_task(asyncio.sleep(3600)))
    SIDE.call_soon_threadsafe(lambda: KEEP.append(SIDE.call_later(3600, side_tick)))
    yield


async def ready(request):
    while not RAN.is_set():
        await asyncio.sleep(0.01)
    return PlainTextResponse("ready")


async def leak_timer(request):
    KEEP.append(asyncio.get_running_loop().call_later(3600, request_tick))  # LEAK-TIMER
    return PlainTextResponse("timer")


class Boom(Exception):
    pass


async def boom(request):
    exc = Boom("boom", 7)
    RAISED.append(exc)
    raise exc


async def seen(request):
    return JSONResponse(SEEN)


PAGES: list = []


async def pages(scope, receive, send):
    """The debug pages, made on first use: until then (with SAMPLE=0) leakwatch
    records nothing, and the startup timers are scheduled unrecorded."""
    if not PAGES:
        PAGES.append(debug_app())
    await PAGES[0](scope, receive, send)


async def interface(request):
    """How uvicorn took the app: "asgi3", or "asgi2" had it misread the middleware."""
    return PlainTextResponse(CONFIG[0].interface)


class Seen(logging.Handler):
    """What uvicorn saw the app raise (it logs each with the exception)."""

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            SEEN.append(
                {
                    "raised": type(exc).__name__,
                    "args": list(exc.args),
                    "same": bool(RAISED) and exc is RAISED[-1],
                }
            )


routes = [
    Route("/ready", ready),
    Route("/leak-timer", leak_timer),
    Route("/boom", boom),
    Route("/seen", seen),
    Route("/interface", interface),
    Mount("/debug/leakwatch", app=pages),
]
inner = Starlette(routes=routes, lifespan=lifespan)
app = ASGIMiddleware(inner, sample=float(os.environ.get("SAMPLE", "0")))


def main() -> None:
    side = threading.Thread(target=SIDE.run_forever, name="side-loop", daemon=True)
    side.start()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    loop = os.environ.get("LOOP", "asyncio")
    config = uvicorn.Config(app, log_level="error", lifespan="on", loop=loop)
    CONFIG.append(config)
    logging.getLogger("uvicorn.error").addHandler(Seen())
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-server", daemon=True
    )
    thread.start()
    while not server.started:
        if not thread.is_alive():  # startup failed (the lifespan of an app misread as ASGI 2)
            print("FAILED to start", flush=True)
            return
        threading.Event().wait(0.02)
    print("PORT", sock.getsockname()[1], flush=True)
    sys.stdin.read()  # until the test closes our stdin
    server.should_exit = True
    thread.join(10)
    SIDE.call_soon_threadsafe(SIDE.stop)
    side.join(10)
    SIDE.close()


if __name__ == "__main__":
    main()
