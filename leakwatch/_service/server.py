"""The debug pages on their own port, from any program: :func:`serve`.

A small threading HTTP server (the standard library's) in a daemon thread,
bound to 127.0.0.1 unless told otherwise, each connection served in its own
short-lived thread; every thread it starts is named ``leakwatch-...`` so no
probe counts it.  ``serve()`` also keeps creation recording on while it
runs, so the pages can say where each thread, task or descriptor made since
was made.  ``debug_app()`` returns the same pages to mount in a service.
"""

from __future__ import annotations

import http.server
import threading
from typing import Any

from leakwatch._attribution import origins as _origins
from leakwatch._attribution import recording as _recording
from leakwatch._probes.threads import INTERNAL_PREFIX
from leakwatch._service.app import DebugASGI, DebugWSGI, Pages, handle
from leakwatch._service.pages import OWN_FDS


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    # One request per connection: no connection outlives its answer (a
    # program watched by ``leakwatch run --serve`` must not see one left open).
    protocol_version = "HTTP/1.0"

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, hdrs, body = handle(
            self.server.pages, self.command, path.lstrip("/"), query, headers, False
        )
        self.send_response(status)
        for key, value in hdrs:
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the host's stderr is not the pages' log


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    pages: Pages

    def get_request(self) -> tuple[Any, Any]:
        conn, addr = super().get_request()
        OWN_FDS.add(conn.fileno())  # the pages' own connection: never listed
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        OWN_FDS.discard(request.fileno())
        super().shutdown_request(request)

    def process_request(self, request: Any, client_address: Any) -> None:
        t = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=INTERNAL_PREFIX + "service-request",
            daemon=True,
        )
        t.start()


class Server:
    """The debug pages served on their own port: ``.url``, ``.close()``."""

    def __init__(self, host: str, port: int, token: str | None) -> None:
        with _recording.quiet():
            self._httpd = _Server((host, port), _Handler)
        self._httpd.pages = Pages(token)
        address = self._httpd.server_address
        self.host: str = str(address[0])
        self.port: int = int(address[1])
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{self.port}/"
        _origins.activate()  # where things made from now on were made
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=INTERNAL_PREFIX + "service-http",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    def close(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
        self._httpd.pages.close()
        _recording.deactivate()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<leakwatch debug pages at {self.url}>"


def serve(host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> Server:
    """Serve the debug pages on ``host:port`` (port 0: any free port) until ``close()``."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValueError(f"leakwatch: port must be 0 to 65535, got {port!r}")
    if token is not None and (not isinstance(token, str) or not token):
        raise ValueError("leakwatch: token must be a non-empty string or None")
    return Server(host, port, token)


def debug_app(asgi: bool = True, token: str | None = None) -> DebugASGI | DebugWSGI:
    """The debug pages as an app to mount (ASGI, or WSGI with ``asgi=False``).

    Creation recording is turned on for the rest of the process, so the pages
    can say where what is made from now on was made: mount it at start-up.
    """
    if token is not None and (not isinstance(token, str) or not token):
        raise ValueError("leakwatch: token must be a non-empty string or None")
    _origins.activate()
    return DebugASGI(token) if asgi else DebugWSGI(token)
