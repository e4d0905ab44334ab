"""A sampled request's creations: the user's are recorded, the machinery's are not.

Run as a script (no watch on: recording is for sampled requests alone).
Three WSGI apps under the middleware, each scheduling an asyncio timer: one
from the user's code, one from the standard library's alone (the app is
``loop.call_later`` itself, as a server's keep-alive timer is scheduled
with none of the user's code inside the request), and one from the
standard library's alone in a thread the request started (that thread
serves the request: its timer is the request's).  Prints, as JSON, the
recorded timers: their callbacks, whether each has a stack and a tag.
"""

import asyncio
import functools
import json
import sys
import threading

from leakwatch._attribution import records
from leakwatch.service import WSGIMiddleware

loop = asyncio.new_event_loop()


def user_app(environ, start_response):
    loop.call_later(3600, print, "user")  # USER-TIMER
    start_response("200 OK", [])
    return [b"ok"]


def thread_app(environ, start_response):
    worker = threading.Thread(target=functools.partial(loop.call_later, 3600, len))
    worker.start()
    worker.join()
    start_response("200 OK", [])
    return [b"ok"]


def start_response(status, headers, exc_info=None):
    return None


WSGIMiddleware(user_app, sample=1.0)({"REQUEST_METHOD": "GET"}, start_response)
WSGIMiddleware(thread_app, sample=1.0)({"REQUEST_METHOD": "GET"}, start_response)
handle = WSGIMiddleware(functools.partial(loop.call_later, 3600, repr), sample=1.0)(
    {"REQUEST_METHOD": "GET"}, start_response
)
timers = [
    {"callback": rec.extra, "stack": bool(rec.stack), "tagged": bool(rec.tag)}
    for rec in list(records.timers.values())
]
json.dump({"timers": sorted(timers, key=lambda t: t["callback"])}, sys.stdout)
loop.close()
