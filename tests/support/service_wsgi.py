"""A WSGI app under wsgiref's threading server, with leaky and clean routes.

Run as a script: serves on 127.0.0.1 at a free port, prints ``PORT <n>`` and
serves until stdin closes.  Lines marked ``# LEAK-...`` are what the tests
expect the per-request report to name.  The debug pages are mounted at
``/debug/leakwatch``.
"""

import os
import socket
import socketserver
import sys
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from leakwatch.service import WSGIMiddleware, debug_app

KEEP: list[object] = []
STOP = threading.Event()
DEBUG = debug_app(asgi=False)


def _body():
    with open(__file__, "rb") as f:
        yield f.read(5)
    yield b" generated"


def _leaky_body():
    KEEP.append(socket.socket())  # GEN-SOCKET
    yield b"leaky body"


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.startswith("/debug/leakwatch"):
        environ["SCRIPT_NAME"] = "/debug/leakwatch"
        environ["PATH_INFO"] = path[len("/debug/leakwatch") :]
        return DEBUG(environ, start_response)
    if path == "/leak-socket":
        KEEP.append(socket.socket())  # LEAK-SOCKET
    elif path == "/leak-thread":
        threading.Thread(target=STOP.wait, daemon=True).start()  # LEAK-THREAD
    elif path == "/leak-generator":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _leaky_body()
    elif path == "/clean-generator":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _body()
    elif path == "/clean":
        s = socket.socket()
        s.close()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [path.encode()]


class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    sample = float(os.environ.get("SAMPLE", "1.0"))
    httpd = make_server("127.0.0.1", 0, WSGIMiddleware(app, sample=sample), Server, Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    print("PORT", httpd.server_address[1], flush=True)
    sys.stdin.read()
    httpd.shutdown()
    httpd.server_close()
    STOP.set()


if __name__ == "__main__":
    main()
