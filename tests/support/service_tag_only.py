"""Tag-only recording: a sampled request's closed file is not another's open one.

Run as a script (no watch on: recording is for sampled requests alone).
Prints the requests document as JSON.
"""

import json
import os
import socket
import sqlite3
import sys
import tempfile

from leakwatch._attribution import recording, tags
from leakwatch._service.judge import Monitor, Pending

path = os.path.join(tempfile.mkdtemp(), "t.db")
monitor = Monitor()
ticket = monitor.begin("GET", "/sampled")
assert recording.tag_only, "only the sampled request asked for recording"
token = tags.request_tag.set(ticket.tag)
c = sqlite3.connect(path)
c.execute("create table t (x)")
c.close()
with open(path + "-side", "w") as f:
    f.write("x")
# The request's own leak, and the one thing it leaves:
kept = socket.socket()  # LEAK
tags.request_tag.reset(token)
# An unsampled request opens the same paths again, under the same numbers.
other = sqlite3.connect(path)
other.execute("select * from t").fetchall()
side = open(path + "-side")  # noqa: SIM115
monitor.judge([Pending(ticket.tag, ticket.since, "GET", "/sampled", 0.0)])
monitor._release(1)
json.dump(monitor.ledger.requests_json(), sys.stdout)
other.close()
side.close()
kept.close()
for name in (path, path + "-side"):
    os.unlink(name)
os.rmdir(os.path.dirname(path))
