from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening TCP socket on loopback, made outside any watched block."""
    srv = socket.create_server(("127.0.0.1", 0), backlog=16)
    try:
        yield srv
    finally:
        srv.close()
