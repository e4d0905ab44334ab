"""Leaks an asyncio task: created on a loop that is never run to completion nor closed.

leakwatch run examples/leaky_task.py
"""

from __future__ import annotations

import asyncio

BACKGROUND: set[asyncio.Task[None]] = set()


async def heartbeat() -> None:
    while True:
        await asyncio.sleep(3600)


def main() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    BACKGROUND.add(loop.create_task(heartbeat()))  # leaks: pending forever, its loop stays open
    loop.run_until_complete(asyncio.sleep(0.01))
    return loop


if __name__ == "__main__":
    LOOP = main()
    print("loop left open")
