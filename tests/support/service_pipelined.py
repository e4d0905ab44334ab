"""Pipelined requests: the one after a sampled request carries no tag of its own.

Run as a script.  A real uvicorn (h11) serves a raw ASGI app through the
middleware, sampling the first request only (the draws are fixed: 0.0, then
0.99s).  One connection sends three requests at once; uvicorn starts each
next one from inside the previous one's response (its ``send``), so the
next request's task is made in the sampled request's context.  Prints, as
JSON, the tag each request saw.
"""

import json
import socket
import sys
import threading
import types

import uvicorn

from leakwatch._attribution import tags
from leakwatch._service import middleware

draws = iter([0.0] + [0.99] * 10)
middleware.random = types.SimpleNamespace(random=lambda: next(draws))  # type: ignore[attr-defined]
seen: list[tuple[str, bool]] = []


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    seen.append((scope["path"], bool(tags.request_tag.get())))
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


wrapped = middleware.ASGIMiddleware(app, sample=0.5)
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
server = uvicorn.Server(uvicorn.Config(wrapped, http="h11", lifespan="off", log_level="error"))
thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
thread.start()
while not server.started:
    threading.Event().wait(0.02)
port = sock.getsockname()[1]
with socket.create_connection(("127.0.0.1", port)) as client:
    client.sendall(b"".join(f"GET /{n} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for n in "abc"))
    data = b""
    while data.count(b"ok") < 3:
        chunk = client.recv(65536)
        if not chunk:
            break
        data += chunk
server.should_exit = True
thread.join(10)
sock.close()
json.dump({"seen": seen}, sys.stdout)
