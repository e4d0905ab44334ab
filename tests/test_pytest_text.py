"""The plugin's failure text for a socket a server thread accepted, without ``-v``."""

from __future__ import annotations

import pytest
from support.plugin_runs import line_of, outcomes, prepare, run, write


@pytest.fixture
def lw(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


CONFTEST = """
import socketserver
import threading

import pytest

KEPT = []


class Greeter(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"x")


class KeepingServer(socketserver.TCPServer):
    def shutdown_request(self, request):
        KEPT.append(request)  # keeps what it accepted: the leak


class ClosingServer(socketserver.TCPServer):
    pass  # closes what it accepted after each request


def serve(cls):
    server = cls(("127.0.0.1", 0), Greeter)
    thread = threading.Thread(target=server.serve_forever, name="server")
    thread.start()  # <- thread start
    return server, thread


@pytest.fixture(params=[KeepingServer, ClosingServer], ids=["keeping", "closing"])
def server(request):
    server, thread = serve(request.param)
    yield server.server_address
    server.shutdown()
    thread.join()
    server.server_close()
"""


def test_a_socket_accepted_in_a_server_thread_names_the_accept_and_the_thread_start(
    lw: pytest.Pytester,
) -> None:
    conftest = write(lw, "conftest.py", CONFTEST)
    write(
        lw,
        "test_serve.py",
        """
        import socket

        def test_talks(server):
            with socket.create_connection(server) as client:
                assert client.recv(1) == b"x"
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_talks[keeping]": {"FAILED"},
        "test_talks[closing]": {"PASSED"},
    }, result.stdout.str()
    start = line_of(conftest, "# <- thread start")
    result.stdout.fnmatch_lines(
        [
            "*_ test_talks[[]keeping[]] _*",
            "  fd *socket 127.0.0.1:* -> 127.0.0.1:*x1",
            # The thread has ended and its Thread object is gone by the verdict
            # (after teardown): its name is no longer known.
            "*accepted in another thread at socketserver.py:* in get_request",
            "*return self.socket.accept()",
            f"*thread started at conftest.py:{start} in serve",
            "*thread.start()  # <- thread start",
        ]
    )
    assert "created at conftest.py" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        [f"*: socket * -> *, made in a thread started at conftest.py:{start}"]
    )


def test_control_characters_in_a_leaked_name_reach_the_terminal_escaped(
    lw: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file name is the program's text: ESC and BEL in it would recolour or
    # ring the user's terminal.  The clean test beside it prints its own name raw.
    # The files go to a temp dir of this test's own, made afresh: the clean
    # test removes its file, and the leaky one leaves nothing in the machine's.
    tmp = lw.path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    write(
        lw,
        "test_names.py",
        """
import os, tempfile

KEEP = []

def test_leaky():
    KEEP.append(open(os.path.join(tempfile.gettempdir(), "lw-\\x1b[31mred\\x07.txt"), "w"))

def test_clean():
    path = os.path.join(tempfile.gettempdir(), "lw-\\x1b[32mok.txt")
    with open(path, "w"):
        pass
    os.remove(path)
    print("clean: \\x1b[0m")
""",
    )
    result = run(lw, "--leakwatch", "-s", "-rfp")
    assert outcomes(result) == {"test_leaky": {"FAILED"}, "test_clean": {"PASSED"}}
    out = result.stdout.str()
    assert "clean: \x1b[0m" in out  # the test's own output is the test's business
    leakwatch_text = out.replace("clean: \x1b[0m", "")
    assert "\x1b" not in leakwatch_text and "\x07" not in leakwatch_text
    # escaped in the failure, the session summary and the short summary alike
    assert leakwatch_text.count("lw-\\x1b[31mred\\x07.txt") >= 3, leakwatch_text


README_CONFTEST = """
import socket

import pytest


@pytest.fixture(scope="session")
def server():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()
"""

README_TESTS = """
import socket

OPEN = []


def test_upload(server):
    conn = socket.create_connection(server)
    OPEN.append(conn)  # never closed


def test_download(server):
    with socket.create_connection(server):
        pass
"""


def test_the_readme_sample_failure_is_what_the_plugin_prints(lw: pytest.Pytester) -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("`pytest --leakwatch`", 1)[1].split("```\n", 2)[1]
    sample = [line for line in block.splitlines() if line.strip()]
    write(lw, "tests/conftest.py", README_CONFTEST)
    write(lw, "tests/test_api.py", README_TESTS)
    result = run(lw, "--leakwatch", "-rf")
    assert outcomes(result) == {"test_upload": {"FAILED"}}

    def shape(line: str) -> str:  # ports, descriptors and widths vary
        line = re.sub(r"\d+", "N", line.rstrip())
        line = re.sub(r"[ _=]{2,}", " ", line).strip()
        # pytest cuts the short summary to the terminal's width
        return line[:60] if line.startswith("FAILED") else line

    printed = [shape(line) for line in result.outlines]
    for line in sample:
        want = shape(line)
        assert any(got.startswith(want) for got in printed), (want, printed)
