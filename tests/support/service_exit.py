"""A request ended at interpreter exit must not hang the exit.

Run as a script.  A sampled WSGI request's body is never closed: it is
finalised at exit and ends its request then.  Another thread holds
the monitor's lock, as the judge's daemon thread can when exit freezes it
where it stands.  The process must still end (the test's timeout says it
did not).  Prints ``{"ended": true}`` before exit.
"""

import json
import sys
import threading

from leakwatch.service import WSGIMiddleware


def app(environ, start_response):
    start_response("200 OK", [])
    yield b"ok"


def start_response(status, headers, exc_info=None):
    return None


middleware = WSGIMiddleware(app, sample=1.0)
body = middleware({"REQUEST_METHOD": "GET"}, start_response)  # never closed
# The lock is taken by a thread that then ends without giving it back, as
# the judge's daemon thread is stopped where it stands at exit.
holder = threading.Thread(target=middleware.monitor._lock.acquire)
holder.start()
holder.join()
json.dump({"ended": True}, sys.stdout)
