"""A FastAPI app under uvicorn, or a Flask app under wsgiref's threading server.

``python service_frameworks.py fastapi|flask``: serves on 127.0.0.1 at a free
port with the middleware at sample 1.0 and the debug pages under
``/debug/leakwatch``, prints ``PORT <n>``, serves until stdin closes.  Lines
marked ``# F-...`` are what the tests expect the per-request report to name.
"""

import asyncio
import socket
import socketserver
import sys
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from leakwatch.service import ASGIMiddleware, WSGIMiddleware, debug_app

KEEP: list[object] = []
STOP = threading.Event()


def fastapi_app():
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/leak/{n}")
    async def leak(n: int):
        KEEP.append(socket.socket())  # F-API-SOCKET
        threading.Thread(target=STOP.wait, daemon=True).start()  # F-API-THREAD
        KEEP.append(asyncio.create_task(asyncio.sleep(3600)))  # F-API-TASK
        return {"n": n}

    @app.get("/clean/{n}")
    async def clean(n: int):
        s = socket.socket()
        s.close()
        await asyncio.sleep(0.01)
        return {"n": n}

    @app.get("/clean-sync")
    def clean_sync():
        return {"ok": True}

    app.mount("/debug/leakwatch", debug_app())
    return ASGIMiddleware(app, sample=1.0)


def flask_app():
    from flask import Flask

    app = Flask(__name__)

    @app.get("/leak/<int:n>")
    def leak(n):
        KEEP.append(socket.socket())  # F-FLASK-SOCKET
        threading.Thread(target=STOP.wait, daemon=True).start()  # F-FLASK-THREAD
        return {"n": n}

    @app.get("/clean/<int:n>")
    def clean(n):
        with open(__file__, "rb") as f:
            f.read(1)
        return {"n": n}

    pages = debug_app(asgi=False)

    def dispatch(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/debug/leakwatch"):
            environ["SCRIPT_NAME"] = "/debug/leakwatch"
            environ["PATH_INFO"] = path[len("/debug/leakwatch") :]
            return pages(environ, start_response)
        return app(environ, start_response)

    return WSGIMiddleware(dispatch, sample=1.0)


class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    if sys.argv[1] == "flask":
        httpd = make_server("127.0.0.1", 0, flask_app(), Server, Quiet)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        print("PORT", httpd.server_address[1], flush=True)
        sys.stdin.read()
        httpd.shutdown()
        httpd.server_close()
        return
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(fastapi_app(), log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.02)
    print("PORT", sock.getsockname()[1], flush=True)
    sys.stdin.read()
    server.should_exit = True
    STOP.set()
    thread.join(10)


if __name__ == "__main__":
    main()
