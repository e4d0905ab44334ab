"""The debug pages as an application: one router, an ASGI and a WSGI face.

:func:`respond` maps a GET of a page (relative to where the app is mounted)
to a status, headers and a body; :class:`DebugASGI` and :class:`DebugWSGI`
speak each protocol around it.  Read-only: any method but GET and HEAD is
refused.  With a token, every page asks for it (``?token=`` or
``Authorization: Bearer``).  ``snapshot.json`` keeps each snapshot it serves
in a small ring, so ``diff?base=ID`` shows what is new since.

Pages: ``""`` (overview), one per kind (``threads``, ``tasks``, ``fds``,
``processes``, ``timers``, ``tempfiles``, and any kind a probe adds), each
also as ``.json``; ``heap?seconds=5``, ``heap?mark``, ``heap?base=ID``,
``heap?drop``; ``requests``/``requests.json``;
``snapshot.json``; ``diff?base=ID``; ``metrics``.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from leakwatch._report.errors import BusyError, QueryError
from leakwatch._service import heap, html, metrics, pages
from leakwatch._service.diff import diff, diff_doc
from leakwatch._service.judge import monitor
from leakwatch._service.middleware import DEBUG_PAGE

Response = tuple[int, list[tuple[str, str]], bytes]

JSON = "application/json"
HTML = "text/html; charset=utf-8"

#: Snapshots kept for ``diff?base=``.
SNAPSHOT_RING = 8

_TITLES = {"fd": "Descriptors", "process": "Child processes", "tempfile": "Temp files"}


class Pages:
    """The pages of one mount: the token, and the snapshot ring."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self._ring: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._next = 1
        self._lock = threading.Lock()
        pages.history.acquire()
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            pages.history.release()

    def _allowed(self, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> bool:
        if not self.token:
            return True
        given = (query.get("token") or [""])[0]
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = given or auth[7:].strip()
        return hmac.compare_digest(given.encode(), self.token.encode())

    def respond(
        self, method: str, path: str, query_string: str, headers: Mapping[str, str]
    ) -> Response:
        query = parse_qs(query_string, keep_blank_values=True)
        if method not in ("GET", "HEAD"):
            return _text(
                405,
                "leakwatch: the debug pages are read-only (GET only)\n",
                [("Allow", "GET, HEAD")],
            )
        if not self._allowed(query, headers):
            return _text(
                401,
                "leakwatch: a token is needed (?token= or Authorization: Bearer)\n",
                [("WWW-Authenticate", "Bearer")],
            )
        links = html.Links((query.get("token") or [""])[0] or None)
        try:
            return self._page(path.strip("/"), query, links)
        except QueryError as exc:
            return _text(400, f"leakwatch: {exc}\n")
        except BusyError as exc:
            return _text(409, f"leakwatch: {exc}\n")
        except Exception as exc:  # the host never sees leakwatch's errors
            return _text(500, f"leakwatch: this page failed: {exc!r}\n")

    def _page(self, name: str, query: Mapping[str, list[str]], links: html.Links) -> Response:
        kinds = pages.kinds()
        as_json = name.endswith(".json")
        base = name[: -len(".json")] if as_json else name
        by_page = {pages.page_name(k): k for k in kinds}
        if base in ("", "index.html", "index"):
            if as_json:
                return _json({"counts": pages.counts(), "series": pages.history.series()})
            body = html.overview(
                pages.counts(),
                pages.history.series(),
                monitor().ledger.requests_json(),
                kinds,
                links,
            )
            return _html(body)
        if base in by_page:
            kind = by_page[base]
            doc = pages.kind_doc(kind)
            if as_json:
                return _json(doc)
            title = _TITLES.get(kind, pages.page_name(kind).capitalize())
            return _html(html.resources(kind, title, doc, kinds, links))
        if base == "requests":
            doc = monitor().ledger.requests_json()
            return _json(doc) if as_json else _html(html.requests(doc, kinds, links))
        if base == "snapshot":
            doc = pages.snapshot_doc()
            doc["id"] = self._keep(doc)
            return _json(doc)
        if base == "diff":
            doc = self._diff(query)
            return _json(doc) if as_json else _html(html.diff(doc, kinds, links))
        if base == "heap":
            doc = heap.page(query, _seconds(query))
            return _json(doc) if as_json else _html(html.heap(doc, kinds, links))
        if name == "metrics":
            text = metrics.render(monitor().ledger, pages.counts())
            return 200, [("Content-Type", metrics.CONTENT_TYPE)], text.encode()
        return _text(404, f"leakwatch: no page {name!r}\n")

    def _keep(self, doc: dict[str, Any]) -> int:
        with self._lock:
            ident = self._next
            self._next += 1
            self._ring[ident] = doc
            while len(self._ring) > SNAPSHOT_RING:
                self._ring.popitem(last=False)
        return ident

    def _diff(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        raw = (query.get("base") or [""])[0]
        with self._lock:
            known = list(self._ring)
            base = self._ring.get(int(raw)) if raw.isdigit() else None
        if base is None:
            raise QueryError(f"diff?base=ID needs the id of a kept snapshot.json (kept: {known})")
        now = pages.snapshot_doc()
        doc = diff_doc(diff(base, now), f"snapshot {raw}", "now")
        doc["base"] = int(raw)
        return doc


def _seconds(query: Mapping[str, list[str]]) -> float:
    raw = (query.get("seconds") or ["5"])[0]
    try:
        value = float(raw)
    except ValueError:
        raise QueryError(f"seconds must be a number, got {raw!r}") from None
    if not 0.05 <= value <= 300:
        raise QueryError(f"seconds must be from 0.05 to 300, got {raw!r}")
    return value


def _text(status: int, text: str, extra: list[tuple[str, str]] | None = None) -> Response:
    return status, [("Content-Type", "text/plain; charset=utf-8"), *(extra or [])], text.encode()


def _json(doc: Any) -> Response:
    body = json.dumps(doc, default=repr, ensure_ascii=False).encode()
    return 200, [("Content-Type", JSON)], body


def _html(text: str) -> Response:
    return 200, [("Content-Type", HTML)], text.encode()


def _finish(status: int, headers: list[tuple[str, str]], body: bytes, method: str) -> Response:
    headers = [*headers, ("Content-Length", str(len(body))), ("Cache-Control", "no-store")]
    return status, headers, b"" if method == "HEAD" else body


def handle(
    pages_: Pages,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    mounted_without_slash: bool,
) -> Response:
    """One request; the empty page under a mount without its slash is redirected
    (so the pages' relative links resolve under the mount)."""
    if mounted_without_slash and path == "":
        target = "./" if not query else f"./?{query}"
        return 307, [("Location", target)], b""
    status, hdrs, body = pages_.respond(method, path, query, headers)
    return _finish(status, hdrs, body, method)


class DebugASGI:
    """The debug pages as an ASGI application (pages built in a worker thread)."""

    def __init__(self, token: str | None = None) -> None:
        self.pages = Pages(token)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        import asyncio

        if scope.get("type") == "lifespan":
            while True:
                message = await receive()
                kind = message.get("type", "")
                if kind.endswith(".startup"):
                    await send({"type": "lifespan.startup.complete"})
                elif kind.endswith(".shutdown"):
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope.get("type") != "http":
            return
        scope[DEBUG_PAGE] = True
        root, full = str(scope.get("root_path") or ""), str(scope.get("path") or "")
        path = full[len(root) :] if root and full.startswith(root) else full
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()
        }
        query = (scope.get("query_string") or b"").decode("latin-1")
        call: Callable[[], Response] = lambda: handle(  # noqa: E731
            self.pages,
            str(scope.get("method", "GET")),
            path,
            query,
            headers,
            bool(root) and path == "",
        )
        status, hdrs, body = await asyncio.get_running_loop().run_in_executor(None, call)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in hdrs],
            }
        )
        await send({"type": "http.response.body", "body": body})


class DebugWSGI:
    """The debug pages as a WSGI application."""

    def __init__(self, token: str | None = None) -> None:
        self.pages = Pages(token)

    def __call__(self, environ: Any, start_response: Callable[..., Any]) -> list[bytes]:
        environ[DEBUG_PAGE] = True
        headers = {
            k[5:].replace("_", "-").lower(): str(v)
            for k, v in environ.items()
            if k.startswith("HTTP_")
        }
        path = str(environ.get("PATH_INFO") or "")
        script = str(environ.get("SCRIPT_NAME") or "")
        status, hdrs, body = handle(
            self.pages,
            str(environ.get("REQUEST_METHOD", "GET")),
            path,
            str(environ.get("QUERY_STRING") or ""),
            headers,
            bool(script) and path == "",
        )
        start_response(f"{status} {_REASONS.get(status, 'OK')}", hdrs)
        return [body]


_REASONS = {
    200: "OK",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Internal Server Error",
}
