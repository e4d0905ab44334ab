"""A Starlette app under uvicorn with leaky and clean routes, for tests/test_service.py.

Run as a script: serves on 127.0.0.1 at a free port, prints ``PORT <n>`` and
serves until stdin closes.  Lines marked ``# LEAK-...`` are what the tests
expect the per-request report to name.
"""

import asyncio
import concurrent.futures
import os
import socket
import sys
import tempfile
import threading

import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from leakwatch.service import ASGIMiddleware, debug_app

KEEP: list[object] = []
STOP = threading.Event()


async def forever() -> None:
    await asyncio.sleep(3600)


async def leak_socket(request):
    KEEP.append(socket.socket())  # LEAK-SOCKET
    return PlainTextResponse("socket")


async def leak_thread(request):
    threading.Thread(target=STOP.wait, daemon=True).start()  # LEAK-THREAD
    return PlainTextResponse("thread")


async def leak_task(request):
    KEEP.append(asyncio.get_running_loop().create_task(forever()))  # LEAK-TASK
    return PlainTextResponse("task")


async def leak_all(request):
    KEEP.append(socket.socket())  # ALL-SOCKET
    threading.Thread(target=STOP.wait, daemon=True).start()  # ALL-THREAD
    KEEP.append(asyncio.create_task(forever()))  # ALL-TASK
    return PlainTextResponse("all")


def _open_and_keep() -> None:
    KEEP.append(socket.socket())  # THREAD-SOCKET


async def leak_in_thread(request):
    t = threading.Thread(target=_open_and_keep)
    t.start()
    t.join()
    return PlainTextResponse("made in a thread")


async def leak_to_thread(request):
    await asyncio.to_thread(_keep_pipe)
    return PlainTextResponse("to_thread")


def _keep_pipe() -> None:
    KEEP.append(os.pipe())  # TO-THREAD-PIPE


POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1)  # one worker, every job


def _keep_socket_a() -> None:
    KEEP.append(socket.socket())  # EXEC-A


def _keep_socket_b() -> None:
    KEEP.append(socket.socket())  # EXEC-B


async def exec_a(request):
    await asyncio.get_running_loop().run_in_executor(POOL, _keep_socket_a)
    return PlainTextResponse("a")


async def exec_b(request):
    await asyncio.get_running_loop().run_in_executor(POOL, _keep_socket_b)
    return PlainTextResponse("b")


async def clean(request):
    s = socket.socket()
    s.close()
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    await asyncio.create_task(asyncio.sleep(0.01))
    with tempfile.TemporaryFile() as f:
        f.write(b"x")
    return PlainTextResponse("clean")


def clean_sync(request):
    # Runs in the server's worker threads (started by whichever request came first).
    with open(__file__, "rb") as f:
        f.read(10)
    return PlainTextResponse("clean sync")


async def _later() -> None:
    await asyncio.sleep(0.05)


async def clean_background(request):
    return PlainTextResponse("clean background", background=BackgroundTask(_later))


async def clean_slow(request):
    await asyncio.sleep(0.2)
    return PlainTextResponse("clean slow")


async def boom(request):
    raise ValueError("boom")


routes = [
    Route("/leak-socket", leak_socket),
    Route("/leak-thread", leak_thread),
    Route("/leak-task", leak_task),
    Route("/leak-all", leak_all),
    Route("/leak-in-thread", leak_in_thread),
    Route("/leak-to-thread", leak_to_thread),
    Route("/exec-a", exec_a),
    Route("/exec-b", exec_b),
    Route("/clean", clean),
    Route("/clean-sync", clean_sync),
    Route("/clean-background", clean_background),
    Route("/clean-slow", clean_slow),
    Route("/items/{n:int}", clean),
    Route("/boom", boom),
    Mount("/debug/leakwatch", app=debug_app()),
]
app = ASGIMiddleware(Starlette(routes=routes), sample=float(os.environ.get("SAMPLE", "1.0")))


def _stop_on_eof(server, sock) -> None:
    while not server.started:
        threading.Event().wait(0.02)
    print("PORT", sock.getsockname()[1], flush=True)
    sys.stdin.read()
    server.should_exit = True
    STOP.set()


def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    if os.environ.get("MAIN_THREAD"):
        # As ``uvicorn.run(app)`` in a user's script: the user's frames are
        # under every request's stack.
        threading.Thread(target=_stop_on_eof, args=(server, sock), daemon=True).start()
        server.run(sockets=[sock])
        return
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    print("PORT", sock.getsockname()[1], flush=True)
    sys.stdin.read()  # until the test closes our stdin
    server.should_exit = True
    STOP.set()
    thread.join(10)


if __name__ == "__main__":
    main()
