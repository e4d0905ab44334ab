"""The judge looks only at kinds a judged request recorded something of.

Run as a script (no watch on: recording is for sampled requests alone).
Two batches: a request whose only creation is a task that finished (kept,
so its record stays), then a request that leaves a database file open in C
code (``sqlite3.connect``).  Prints, as JSON, the kinds each batch looked
at and the leaks the second found.
"""

import asyncio
import json
import os
import sqlite3
import sys
import tempfile

from leakwatch._attribution import tags
from leakwatch._service import judge
from leakwatch._service.judge import Monitor, Pending

looked: list[str] = []
_probes = judge._probes


def _counted() -> dict:
    probes = _probes()
    for kind, probe in probes.items():
        snapshot = probe.snapshot

        def counted(kind=kind, snapshot=snapshot):
            looked.append(kind)
            return snapshot()

        probe.snapshot = counted
    return probes


judge._probes = _counted
monitor = Monitor()


def request(route, work):
    ticket = monitor.begin("GET", route)
    token = tags.request_tag.set(ticket.tag)
    try:
        kept = work()
    finally:
        tags.request_tag.reset(token)
    del looked[:]
    monitor.judge([Pending(ticket.tag, ticket.since, "GET", route, 0.0)])
    monitor._release(1)
    return kept, sorted(set(looked))


async def _nothing():
    return None


def finished_task():
    task = loop.create_task(_nothing())
    loop.run_until_complete(task)
    return task


loop = asyncio.new_event_loop()  # before the request: its descriptors are not the request's
path = os.path.join(tempfile.mkdtemp(), "t.db")
task, first = request("/task", finished_task)
db, second = request("/db", lambda: sqlite3.connect(path))  # LEAK
doc = monitor.ledger.requests_json()
json.dump({"first": first, "second": second, "requests": doc}, sys.stdout)
db.close()
loop.close()
os.unlink(path)
os.rmdir(os.path.dirname(path))
