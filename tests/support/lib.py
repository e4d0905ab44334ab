"""A tiny library layer over raw calls, to test attribution through a library.

The lines marked ``# <- lib: ...`` are looked up by the tests; keep each
marker on the line that makes the resource.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

POOL: dict[str, Any] = {}


def connect(addr: tuple[str, int]) -> socket.socket:
    return socket.create_connection(addr)  # <- lib: creates socket


def connect_pooled(name: str, addr: tuple[str, int]) -> None:
    POOL[name] = socket.create_connection(addr)  # <- lib: pooled socket


def drain_pool() -> None:
    while POOL:
        POOL.popitem()[1].close()


def pipe_in_worker() -> None:
    """Make a pipe in a worker thread whose own stack is all stdlib."""
    worker = threading.Thread(target=os.pipe, name="lib-pipe-worker")
    worker.start()  # <- lib: starts pipe worker
    worker.join()
