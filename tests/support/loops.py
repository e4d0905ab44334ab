"""The event loops a test runs on: asyncio's, and uvloop's where it builds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def loop_makers() -> list[Callable[[], asyncio.AbstractEventLoop]]:
    """``new_event_loop`` of asyncio and of uvloop (where it is installed)."""
    makers: list[Callable[[], asyncio.AbstractEventLoop]] = [asyncio.new_event_loop]
    try:
        import uvloop

        makers.append(uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is in the test extra where it builds
        pass
    return makers


def loop_id(maker: Callable[[], asyncio.AbstractEventLoop]) -> str:
    """``asyncio`` or ``uvloop``: a test id."""
    return maker.__module__.split(".")[0]
