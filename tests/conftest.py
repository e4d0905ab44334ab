from __future__ import annotations

import gc
import socket
import tracemalloc
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


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One item for each scan of the heap for referrers from now on."""
    counted: list[int] = []
    real = gc.get_referrers
    monkeypatch.setattr(gc, "get_referrers", lambda *objs: counted.append(1) or real(*objs))
    return counted


@pytest.fixture
def kept_tracing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This Python as one whose ``tracemalloc.stop()`` leaks, with no budget
    left: leakwatch keeps tracemalloc running, as past the stop budget."""
    from leakwatch._probes import heap

    assert not tracemalloc.is_tracing()
    monkeypatch.setattr(heap, "stop_costs_memory", lambda: True)
    monkeypatch.setattr(heap, "STOP_LEAK_BUDGET", 0)
    monkeypatch.setattr(heap._Stops, "spent", 0)
    monkeypatch.setattr(heap._Stops, "kept", False)
    try:
        yield
    finally:
        tracemalloc.stop()
