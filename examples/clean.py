"""Uses every kind of resource and cleans up after each: leakwatch finds nothing.

leakwatch run examples/clean.py
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading


def sockets() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        conn, _ = server.accept()
        with client, conn:
            client.sendall(b"ping")
            conn.recv(4)


def threads() -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, name="worker")
    worker.start()
    stop.set()
    worker.join()


async def tasks() -> None:
    task = asyncio.create_task(asyncio.sleep(3600))
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def processes() -> None:
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def tempfiles() -> None:
    with tempfile.TemporaryDirectory() as tmp, open(os.path.join(tmp, "data.txt"), "w") as f:
        f.write("data")
    fd, path = tempfile.mkstemp()
    os.close(fd)
    os.unlink(path)


if __name__ == "__main__":
    sockets()
    threads()
    asyncio.run(tasks())
    processes()
    tempfiles()
    print("all cleaned up")
