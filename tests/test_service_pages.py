"""The debug pages in this process: serve(), the token, localhost, 50 threads,
a real browser, ``leakwatch diff`` and ``leakwatch run --serve``."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support import browser
from support.service import get, get_json

from leakwatch._service.diff import diff
from leakwatch.service import ASGIMiddleware, WSGIMiddleware, debug_app, serve


@pytest.fixture
def pages():
    server = serve()
    try:
        yield server
    finally:
        server.close()


def test_serve_binds_localhost_and_answers_get_only(pages) -> None:
    assert pages.host == "127.0.0.1"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", pages.url)
    status, _, headers = get(pages.url)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    req = urllib.request.Request(pages.url + "threads.json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    with refused.value:
        assert refused.value.code == 405
    assert get(pages.url + "nowhere")[0] == 404


def test_token_is_asked_for_by_query_or_bearer() -> None:
    server = serve(token="s3cret")
    try:
        assert get(server.url + "threads.json")[0] == 401
        assert get(server.url + "threads.json?token=wrong")[0] == 401
        assert get(server.url + "threads.json?token=s3cret")[0] == 200
        auth = {"Authorization": "Bearer s3cret"}
        assert get(server.url + "metrics", headers=auth)[0] == 200
        status, page, _ = get(server.url + "?token=s3cret")
        assert status == 200 and 'href="threads?token=s3cret"' in page
    finally:
        server.close()


def test_serve_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="port must be"):
        serve(port=70000)
    with pytest.raises(ValueError, match="token must be"):
        serve(token="")
    with pytest.raises(ValueError, match="sample must be"):
        ASGIMiddleware(lambda *a: None, sample=2)
    with pytest.raises(ValueError, match="sample must be"):
        WSGIMiddleware(lambda *a: None, sample="all")


def _park(stop: threading.Event) -> None:
    stop.wait()


def test_threads_json_lists_50_threads_with_stack_and_creating_line(pages) -> None:
    stop = threading.Event()
    threads = [threading.Thread(target=_park, args=(stop,), name=f"w-{i}") for i in range(50)]
    for t in threads:
        t.start()  # the creating line
    line = test_threads_json_lists_50_threads_with_stack_and_creating_line.__code__.co_firstlineno
    try:
        doc = get_json(pages.url + "threads.json")
    finally:
        stop.set()
        for t in threads:
            t.join()
    ours = [r for r in doc["resources"] if r["details"].get("name", "").startswith("w-")]
    assert len(ours) == 50
    for item in ours:
        assert item["origin"][-1]["filename"] == __file__
        assert item["origin"][-1]["line"] == "t.start()  # the creating line"
        assert item["origin"][-1]["lineno"] > line
        now = [f["function"] for f in item["details"]["stack"]]
        assert "_park" in now


def test_overview_and_kind_pages_render_in_headless_chromium(pages, tmp_path: Path) -> None:
    if not browser.available():
        pytest.skip(f"{browser.CHROMIUM} not found; run scripts/ensure-chromium")
    from leakwatch._service import pages as data

    data.history.sample()
    data.history.sample()
    status, html, _ = get(pages.url)
    assert status == 200
    page = tmp_path / "overview.html"
    page.write_text(html, encoding="utf-8")
    dom = browser.dump_dom(page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body and 'data-ok="1"' in body.group(0), "the page's script did not run to its end"
    assert "data-jserror" not in body.group(0)
    assert "Live resources" in dom.stdout and "<polyline" in dom.stdout  # counts, plots
    assert dom.console == [], dom.console
    status, threads_page, _ = get(pages.url + "threads")
    page.write_text(threads_page, encoding="utf-8")
    dom = browser.dump_dom(page)
    assert "Current stack" in dom.stdout and dom.console == []


def test_asgi_middleware_passes_exceptions_and_messages_through() -> None:
    sent: list[dict] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-a", b"1")]})
        await send({"type": "http.response.body", "body": b"made"})
        if scope["path"] == "/raise":
            raise KeyError("mine")

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    wrapped = ASGIMiddleware(app, sample=1.0)
    scope = {"type": "http", "method": "GET", "path": "/ok", "root_path": ""}
    asyncio.run(wrapped(scope, receive, send))
    assert sent[0]["status"] == 201 and sent[1]["body"] == b"made"
    with pytest.raises(KeyError, match="mine"):
        asyncio.run(wrapped({**scope, "path": "/raise"}, receive, send))
    wrapped.monitor.settle = 0.0


def _snapshot(url: str, path: Path) -> Path:
    path.write_text(json.dumps(get_json(url + "snapshot.json")), encoding="utf-8")
    return path


def test_diff_of_two_snapshots_by_creating_line(pages, tmp_path: Path) -> None:
    import socket

    a = _snapshot(pages.url, tmp_path / "a.json")
    made = [socket.socket() for _ in range(3)]  # diff: the new ones
    try:
        b = _snapshot(pages.url, tmp_path / "b.json")
        base = get_json(pages.url + "snapshot.json")["id"]
        in_page = get_json(pages.url + f"diff.json?base={base}")
    finally:
        for s in made:
            s.close()
    new = diff(json.loads(a.read_text()), json.loads(b.read_text()))
    line = "made = [socket.socket() for _ in range(3)]  # diff: the new ones"
    fds = [x for x in new if x.kind == "fd" and x.origin and x.origin[-1].line == line]
    assert [x.count for x in fds] == [3]
    # Besides them, only sockets: this test's own connections to the pages
    # (the server's end of an earlier one may close between the snapshots).
    others = [x for x in new if x not in fds]
    assert all(x.kind == "fd" and x.title.startswith("socket") for x in others), others
    assert sum(x.count for x in others) <= 3, [x.title for x in others]
    assert in_page["schema"] == "leakwatch.diff/1"
    cli = [sys.executable, "-m", "leakwatch", "diff"]
    out = subprocess.run([*cli, str(a), str(b)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    assert "in b.json and not in a.json" in out.stdout and "x3" in out.stdout
    same = subprocess.run([*cli, str(a), str(a)], capture_output=True, text=True, timeout=60)
    assert same.returncode == 0 and "has nothing" in same.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "other"}')
    out = subprocess.run([*cli, str(a), str(bad)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "not a leakwatch snapshot" in out.stderr


def test_run_serve_serves_the_pages_of_an_unchanged_program(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text(
        "import threading, time\n"
        "stop = threading.Event()\n"
        "t = threading.Thread(target=stop.wait, name='prog-worker')\n"
        "t.start()\n"
        "time.sleep(30 if __name__ == '__main__' else 0)\n"
    )
    cmd = [sys.executable, "-m", "leakwatch", "run", "-q", "--serve", "127.0.0.1:0", str(script)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        url = re.search(r"http://\S+", proc.stderr.readline())
        assert url, "no debug pages line"
        deadline = time.monotonic() + 20
        while True:
            doc = get_json(url.group(0) + "threads.json")
            found = [r for r in doc["resources"] if r["details"].get("name") == "prog-worker"]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert found and found[0]["origin"][-1]["lineno"] == 4
    finally:
        proc.kill()
        proc.communicate(timeout=20)
    bad = subprocess.run(
        [*cmd[:6], "nohost", str(script)], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert "--serve: expected HOST:PORT" in bad.stderr.splitlines()[-1]


def test_debug_app_is_an_asgi_or_wsgi_app() -> None:
    asgi, wsgi = debug_app(), debug_app(asgi=False)
    try:
        seen: list[str] = []
        out = wsgi(
            {"REQUEST_METHOD": "GET", "PATH_INFO": "/timers.json"}, lambda s, h: seen.append(s)
        )
        assert seen == ["200 OK"] and json.loads(b"".join(out))["kind"] == "timer"
        assert callable(asgi)
    finally:
        asgi.pages.close()
        wsgi.pages.close()


def test_heap_page_shows_growth_by_site_over_a_window(pages) -> None:
    import tracemalloc

    kept: list[bytes] = []
    stop = threading.Event()

    def grow() -> None:
        while not stop.is_set():
            kept.append(bytes(bytearray(4096)))  # the growing site
            time.sleep(0.002)

    t = threading.Thread(target=grow)
    t.start()
    try:
        doc = get_json(pages.url + "heap.json?seconds=0.5")
    finally:
        stop.set()
        t.join()
    assert doc["schema"] == "leakwatch.heap/1" and doc["seconds"] == 0.5
    lines = [s["origin"][-1]["line"] for s in doc["sites"] if s["origin"]]
    assert "kept.append(bytes(bytearray(4096)))  # the growing site" in lines
    assert not tracemalloc.is_tracing()  # only while asked for
    assert get(pages.url + "heap.json?seconds=abc")[0] == 400
    status, page, _ = get(pages.url + "heap?seconds=0.05")
    assert status == 200 and "Heap growth" in page


def test_heap_growth_since_a_mark_as_often_as_asked_like_pprof_base(pages) -> None:
    import tracemalloc

    before = tracemalloc.is_tracing()
    assert get(pages.url + "heap.json?base=1")[0] == 400  # no mark yet
    marked = get_json(pages.url + "heap.json?mark")
    assert marked["tracing"] and marked["sites"] == [] and tracemalloc.is_tracing()
    base = marked["base"]
    kept = [bytes(bytearray(8192)) for _ in range(200)]  # grown since the mark
    try:
        first = get_json(pages.url + f"heap.json?base={base}")
        again = get_json(pages.url + f"heap.json?base={base}")
        status, page, _ = get(pages.url + f"heap?base={base}")
    finally:
        dropped = get_json(pages.url + "heap.json?drop")
    for doc in (first, again):
        lines = {id(s): s["origin"][-1]["line"] for s in doc["sites"] if s["origin"]}
        site = next(s for s in doc["sites"] if "grown since the mark" in lines.get(id(s), ""))
        assert site["size"] >= 200 * 8192 and doc["base"] == base
    assert status == 200 and f"since mark {base}" in page
    assert dropped["tracing"] is False and tracemalloc.is_tracing() == before
    assert get(pages.url + f"heap.json?base={base}")[0] == 400  # dropped
    assert get(pages.url + "heap.json?base=x")[0] == 400
    assert not [t for t in threading.enumerate() if t.name.endswith("heap-mark")]
    del kept
