"""The benchmark's service: Starlette under uvicorn, ``/hello`` and ``/items`` (sqlite).

``python bench/service_app.py MODE`` with MODE ``none`` (no middleware),
or a sample rate (``0.01``, ``1.0``): serves on 127.0.0.1 at a free port,
prints ``PORT <n>``, serves until stdin closes.  The sqlite route opens a
connection per request, reads ten rows and closes it (in the server's
worker threads, as a plain ``def`` endpoint runs).
"""

import os
import socket
import sqlite3
import sys
import tempfile
import threading

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

DB = os.path.join(tempfile.mkdtemp(prefix="lw-bench-"), "items.db")


def _init() -> None:
    with sqlite3.connect(DB) as c:
        c.execute("create table items (id integer primary key, name text)")
        c.executemany("insert into items (name) values (?)", [(f"item {i}",) for i in range(1000)])
    c.close()


async def hello(request):
    return PlainTextResponse("Hello, world!")


def items(request):
    c = sqlite3.connect(DB)
    try:
        rows = c.execute("select id, name from items order by id limit 10").fetchall()
    finally:
        c.close()
    return JSONResponse([{"id": i, "name": n} for i, n in rows])


def main() -> None:
    _init()
    app = Starlette(routes=[Route("/hello", hello), Route("/items", items)])
    mode = sys.argv[1]
    if mode != "none":
        from leakwatch.service import ASGIMiddleware

        app = ASGIMiddleware(app, sample=float(mode))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="error", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    print("PORT", sock.getsockname()[1], flush=True)
    sys.stdin.read()
    server.should_exit = True
    thread.join(10)
    for name in os.listdir(os.path.dirname(DB)):
        os.unlink(os.path.join(os.path.dirname(DB), name))
    os.rmdir(os.path.dirname(DB))


if __name__ == "__main__":
    main()
