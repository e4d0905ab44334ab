"""A raw ASGI app's request: the server's ``send`` makes the keep-alive timer.

Run as a script.  uvicorn's HTTP/1.1 protocol (h11) on a real loop serves,
fed in-process, two sampled requests of an ASGI app that calls ``send``
itself: ``/clean`` only answers; ``/leaky`` also schedules a timer of its
own first.  uvicorn schedules its keep-alive timer inside ``send``, below
the app's own frame: that timer is the server's, never the route's.  The
judge looks while every timer is still scheduled.  Prints, as JSON, each
route's leaky requests and the creating lines of what it left.
"""

import asyncio
import json
import sys

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from leakwatch._attribution import recording
from leakwatch.service import ASGIMiddleware


async def app(scope, receive, send):
    if scope["path"] == "/leaky":
        asyncio.get_running_loop().call_later(3600, print)  # APP-TIMER
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


class Transport(asyncio.Transport):
    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def write(self, data):
        pass

    def is_closing(self):
        return False


middleware = ASGIMiddleware(app, sample=1.0)
config = Config(middleware, http="h11", lifespan="off", access_log=False, log_level="error")
config.load()


async def serve():
    for path in ("/clean", "/leaky"):
        protocol = H11Protocol(config, ServerState(), {}, asyncio.get_running_loop())
        protocol.connection_made(Transport())
        protocol.data_received(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        while protocol.timeout_keep_alive_task is None:  # answered
            await asyncio.sleep(0)
    while recording.is_recording():  # judged, the keep-alive timers still scheduled
        await asyncio.sleep(0.05)


loop = asyncio.new_event_loop()
loop.run_until_complete(serve())
doc = middleware.monitor.ledger.requests_json()
routes = {
    r["route"]: {
        "leaky_requests": r["leaky_requests"],
        "lines": sorted(leak["origin"][-1]["lineno"] for leak in r["leaks"]),
    }
    for r in doc["routes"]
}
json.dump({"routes": routes, "clean": [c["route"] for c in doc["clean"]]}, sys.stdout)
for handle in list(loop._scheduled):
    handle.cancel()
loop.close()
