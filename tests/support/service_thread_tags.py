"""Tag-only recording (a service sampling requests) in a process of its own.

A sampled request starts a thread that ends at once; then threads no request
started run until one gets the same ident (a thread's ident is reused as soon
as it ends).  That thread's socket must get no stack (it is no sampled
request's), and the ended thread's tag must be gone once the judge has
judged a batch.  Prints one JSON line.
"""

import json
import socket
import threading

from leakwatch._attribution import recording, records, tags
from leakwatch._service.judge import Monitor, Pending

monitor = Monitor()
ticket = monitor.begin("GET", "/spawn")
assert ticket is not None and recording.tag_only, "only the sampled request asked for recording"
token = tags.request_tag.set(ticket.tag)
first = threading.Thread(target=lambda: None)
first.start()
first.join()
tags.request_tag.reset(token)
kept_before = first.ident in tags.thread_tags
seen: dict[str, object] = {}


def later() -> None:
    sock = socket.socket()
    found = records.find_socket(sock.fileno())
    seen["stack"] = bool(found is not None and found[1].stack)
    seen["ident"] = threading.get_ident()
    sock.close()


for _ in range(200):
    thread = threading.Thread(target=later)
    thread.start()
    thread.join()
    if seen["ident"] == first.ident:
        break
monitor.judge([Pending(ticket.tag, ticket.since, "GET", "/spawn", 0.0)])
print(
    json.dumps(
        {
            "reused": seen["ident"] == first.ident,
            "stack": seen["stack"],
            "kept_before": kept_before,
            "kept_after": first.ident in tags.thread_tags,
        }
    )
)
monitor._release(1)
