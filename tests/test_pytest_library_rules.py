"""Rules that name a library function or module, under pytest.

Under pytest a user frame (the test) is always on the creation stack, and the
origin ends there; what the library did below it is kept apart as library
frames.  Known-leak entries and ignore rules that name a library's function
or module must still match.  Each case runs beside a leak of the user's own
code that must still fail.
"""

from __future__ import annotations

import pytest
from support.plugin_runs import line_of, outcomes, prepare, read_json, run, write

pytest.importorskip("urllib3")


@pytest.fixture
def lw(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


def by_test(data: dict[str, object]) -> dict[str, dict[str, list[dict[str, object]]]]:
    tests = data["tests"]
    assert isinstance(tests, list)
    return {t["nodeid"].rsplit("::", 1)[-1]: t for t in tests}


def known_ids(entry: dict[str, list[dict[str, object]]]) -> set[object]:
    return {leak["details"]["known_leak"] for leak in entry.get("known", [])}  # type: ignore[index]


URLLIB3_TESTS = """
import http.server
import os
import threading

import urllib3

POOL = urllib3.PoolManager()  # a pool that lives as long as the module
KEEP = []


class OneRequest(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client puts the connection back in its pool

    def do_GET(self):
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle(self):
        self.handle_one_request()  # one request, then the server closes its end

    def log_message(self, *args):
        pass


def fetch():
    with http.server.HTTPServer(("127.0.0.1", 0), OneRequest) as server:
        worker = threading.Thread(target=server.handle_request)
        worker.start()
        response = POOL.request("GET", f"http://127.0.0.1:{server.server_port}/")
        worker.join()
    return response


def test_pooled_connection():
    assert fetch().data == b"ok"


def test_pooled_connection_and_own_pipe():
    assert fetch().data == b"ok"
    KEEP.append(os.pipe())  # <- own leak
"""


def test_urllib3_pooled_connection_is_known_and_a_users_own_pipe_still_fails(
    lw: pytest.Pytester,
) -> None:
    path = write(lw, "test_pool.py", URLLIB3_TESTS)
    result = run(lw, "--leakwatch", "--leakwatch-json=out.json")
    assert outcomes(result) == {
        "test_pooled_connection": {"PASSED"},
        "test_pooled_connection_and_own_pipe": {"FAILED"},
    }, result.stdout.str()
    tests = by_test(read_json(lw.path / "out.json"))
    for name in ("test_pooled_connection", "test_pooled_connection_and_own_pipe"):
        assert known_ids(tests[name]) == {"urllib3-pooled-connection"}, tests[name]
        [sock] = tests[name]["known"]
        assert str(sock["title"]).startswith("socket 127.0.0.1:")
        # The origin still ends at the user's line; urllib3 is in the library frames.
        origin = sock["origin"]
        assert isinstance(origin, list) and origin[-1]["function"] == "fetch"
        library = sock["details"]["library_frames"]  # type: ignore[index]
        assert any("urllib3" in frame["filename"] for frame in library), library
        assert all(set(frame) == {"filename", "lineno", "function", "line"} for frame in library)
    assert tests["test_pooled_connection"]["leaks"] == []
    [own] = tests["test_pooled_connection_and_own_pipe"]["leaks"]
    assert own["origin"][-1]["lineno"] == line_of(path, "# <- own leak")  # type: ignore[index]
    assert str(own["title"]).startswith("pipe")


MP_QUEUE_TESTS = """
import multiprocessing
import os

QUEUES = []
KEEP = []


def make_queue():
    q = multiprocessing.Queue()
    q.put(1)  # starts the queue's feeder thread
    assert q.get(timeout=30) == 1
    QUEUES.append(q)  # kept: its pipe and feeder thread live on


def test_queue():
    make_queue()


def test_queue_and_own_pipe():
    make_queue()
    KEEP.append(os.pipe())  # <- own leak
"""


def test_multiprocessing_queue_is_known_and_a_users_own_pipe_still_fails(
    lw: pytest.Pytester,
) -> None:
    path = write(lw, "test_mpq.py", MP_QUEUE_TESTS)
    result = run(lw, "--leakwatch", "--leakwatch-json=out.json")
    assert outcomes(result) == {
        "test_queue": {"PASSED"},
        "test_queue_and_own_pipe": {"FAILED"},
    }, result.stdout.str()
    tests = by_test(read_json(lw.path / "out.json"))
    for name in ("test_queue", "test_queue_and_own_pipe"):
        ids = known_ids(tests[name])
        assert {"multiprocessing-queue-pipe", "multiprocessing-queue-feeder"} <= ids, tests[name]
    assert tests["test_queue"]["leaks"] == []
    [own] = tests["test_queue_and_own_pipe"]["leaks"]
    assert own["origin"][-1]["lineno"] == line_of(path, "# <- own leak")  # type: ignore[index]
    assert own["count"] == 2


def test_a_users_ignore_rule_naming_a_library_function_matches(lw: pytest.Pytester) -> None:
    (lw.path / "pyproject.toml").write_text(
        "[[tool.leakwatch.ignore]]\n"
        'reason = "the pair is the worker channel, kept for the session"\n'
        'function = "socket.socketpair"\n',
        encoding="utf-8",
    )
    path = write(
        lw,
        "test_rule.py",
        """
        import socket

        KEEP = []

        def test_pair():
            KEEP.append(socket.socketpair())

        def test_plain_socket():
            KEEP.append(socket.socket())  # <- not a socketpair
        """,
    )
    result = run(lw, "--leakwatch", "--leakwatch-json=out.json")
    assert outcomes(result) == {
        "test_pair": {"PASSED"},
        "test_plain_socket": {"FAILED"},
    }, result.stdout.str()
    tests = by_test(read_json(lw.path / "out.json"))
    [pair] = tests["test_pair"]["ignored"]
    assert pair["count"] == 2
    assert pair["details"]["ignored_because"].startswith("the pair is")  # type: ignore[index]
    assert pair["origin"][-1]["function"] == "test_pair"  # type: ignore[index]
    [plain] = tests["test_plain_socket"]["leaks"]
    assert plain["origin"][-1]["lineno"] == line_of(path, "# <- not a socketpair")  # type: ignore[index]
    assert tests["test_plain_socket"]["ignored"] == []
