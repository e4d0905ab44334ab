"""Report text that says what happened: each case beside the look-alike it must not blur with.

- a socket accepted in a library's server thread names the accept and, apart,
  the user's line that started the thread; one accepted by the user's own
  thread function is simply "created at" that line;
- a group of unlike members gets a title true of all of them;
- a descriptor's type comes from its stat mode, not its path.
"""

from __future__ import annotations

import os
import socket
import socketserver
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import created_at, marker_line, of_kind

import leakwatch
from leakwatch._base.frames import Frame, read_library_frames
from leakwatch._base.model import Leak, group_title
from leakwatch._report.report import Report

HERE = os.path.abspath(__file__)
KEEP: list[socket.socket] = []


def here(marker: str) -> tuple[str, int]:
    return HERE, marker_line(HERE, f"# <- {marker}")


@pytest.fixture
def kept() -> Iterator[list[socket.socket]]:
    yield KEEP
    while KEEP:
        KEEP.pop().close()


class _KeepingServer(socketserver.TCPServer):
    """A server that keeps every connection it accepted (the leak)."""

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        KEEP.append(request)


class _Greeter(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"x")


def _own_accept(listener: socket.socket) -> None:
    conn, _ = listener.accept()  # <- own accept
    conn.sendall(b"x")
    KEEP.append(conn)


def _connect_once(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as client:
        assert client.recv(1) == b"x"


def test_a_socket_accepted_in_a_server_thread_names_the_accept_and_the_thread_start(
    kept: list[socket.socket],
) -> None:
    # The outer watch stands for a wider fixture: the threads start under it,
    # the inner watch is the test that connects.
    with leakwatch.watch(on_leak="report", kinds=("fd", "thread")):
        server = _KeepingServer(("127.0.0.1", 0), _Greeter)
        serving = threading.Thread(target=server.serve_forever, name="server")
        serving.start()  # <- starts the server thread
        listener = socket.create_server(("127.0.0.1", 0))
        own = threading.Thread(target=_own_accept, args=(listener,), name="own")
        own.start()
        try:
            with leakwatch.watch(on_leak="report", kinds=("fd",)) as w:
                _connect_once(server.server_address)
                _connect_once(listener.getsockname())
                own.join()
        finally:
            server.shutdown()
            serving.join()
            server.server_close()
            listener.close()
    assert w.report is not None
    fds = of_kind(w.report, "fd")
    assert len(fds) == 2, w.report
    (accepted,) = [leak for leak in fds if created_at(leak) != here("own accept")]
    (by_own,) = [leak for leak in fds if leak is not accepted]
    assert len(KEEP) == 2, w.report

    # Made by socketserver in the thread 'server': the origin still ends at the
    # user's line (the thread's start); the details say where it was made.
    assert (accepted.origin[-1].filename, accepted.origin[-1].lineno) == here(
        "starts the server thread"
    )
    assert accepted.details["made_in_thread"] == "server"
    made_at = read_library_frames({"library_frames": accepted.details["made_at"]})
    assert os.path.basename(made_at[0].filename) == "socketserver.py"
    assert made_at[0].function == "get_request"
    assert made_at[-1].filename == socket.__file__
    text = Report(leaks=[accepted]).format()
    start_line = here("starts the server thread")[1]
    assert (
        f"accepted in thread 'server' at socketserver.py:{made_at[0].lineno} in get_request" in text
    ), text
    assert f"thread started at {os.path.relpath(HERE)}:{start_line} in" in text, text
    assert "created at" not in text, text

    # Accepted by the user's own thread function: created at that line, no thread talk.
    assert created_at(by_own) == here("own accept")
    assert "made_in_thread" not in by_own.details
    own_text = Report(leaks=[by_own]).format()
    assert f"created at {os.path.relpath(HERE)}:{here('own accept')[1]} in _own_accept" in own_text
    assert "thread started at" not in own_text and "accepted in" not in own_text


def test_made_in_thread_survives_json_and_loads_into_the_same_text() -> None:
    user = Frame("/srv/app/conftest.py", 40, "server", "thread.start()")
    lib = Frame("/usr/lib/python3.11/socketserver.py", 507, "get_request", "return accept()")
    leak = Leak(
        "fd",
        "socket 127.0.0.1:8080 -> 127.0.0.1:50124 (fd 9)",
        origin=(user,),
        details={
            "made_in_thread": "",
            "made_at": [lib.to_dict()],
            "library_frames": [lib.to_dict()],
        },
    )
    loaded = Leak.from_dict(Report(leaks=[leak]).to_dict()["leaks"][0])
    text = Report(leaks=[loaded]).format()
    assert "made in another thread at " in text, text  # no name known, no accept frame
    assert "thread started at /srv/app/conftest.py:40 in server" in text, text


# -- group titles --------------------------------------------------------------------


def test_sockets_to_one_server_from_one_line_get_a_title_true_of_all(
    listener: socket.socket,
) -> None:
    conns: list[socket.socket] = []
    single = None
    try:
        with leakwatch.watch(on_leak="report", kinds=("fd",)) as w:
            for _ in range(4):
                conns.append(socket.create_connection(listener.getsockname()))  # <- four
            single = socket.create_connection(listener.getsockname())  # <- one
        four = next(leak for leak in of_kind(w.report, "fd") if leak.count == 4)
        one = next(leak for leak in of_kind(w.report, "fd") if leak.count == 1)
        host, port = listener.getsockname()
        numbers = ", ".join(str(c.fileno()) for c in sorted(conns, key=socket.socket.fileno))
        assert four.title == f"socket {host}:* -> {host}:{port} (fds {numbers})", four.title
        # Every member keeps its own title.
        assert sorted(four.details["items"]) == sorted(
            f"socket {host}:{c.getsockname()[1]} -> {host}:{port} (fd {c.fileno()})" for c in conns
        )
        # The look-alike: one socket keeps its exact title.
        assert single is not None
        assert one.title == f"socket {host}:{single.getsockname()[1]} -> {host}:{port} " + (
            f"(fd {single.fileno()})"
        )
    finally:
        for s in [*conns, single]:
            if s is not None:
                s.close()


def test_both_ends_of_a_pipe_are_titled_as_both_ends() -> None:
    both = half = None
    try:
        with leakwatch.watch(on_leak="report", kinds=("fd",)) as w:
            both = os.pipe()  # <- both ends
            half = os.pipe()  # <- one end
            os.close(half[1])
        by_line = {created_at(leak)[1]: leak for leak in of_kind(w.report, "fd")}
        pair = by_line[here("both ends")[1]]
        alone = by_line[here("one end")[1]]
        inode = os.fstat(both[0]).st_ino
        assert pair.count == 2
        low, high = sorted(both)
        assert pair.title == f"pipe [{inode}] (fds {low}, {high}; read end and write end)"
        assert set(pair.details["items"]) == {
            f"pipe [{inode}] (fd {both[0]}, read end)",
            f"pipe [{inode}] (fd {both[1]}, write end)",
        }
        assert alone.count == 1
        assert alone.title == f"pipe [{os.fstat(half[0]).st_ino}] (fd {half[0]}, read end)"
    finally:
        for fd in (*(both or ()), *(half[:1] if half else ())):
            os.close(fd)


@pytest.mark.parametrize(
    ("titles", "expected"),
    [
        (["thread 'w-1' (daemon)", "thread 'w-2' (daemon)"], "thread 'w-*' (daemon)"),
        (["file /tmp/a.db (fd 5, mode r)", "file /tmp/b.db (fd 6, mode r)"],
         "file /tmp/*.db (fds 5, 6; mode r)"),
        (["unix socket (unnamed) (fd 7)", "unix socket (unnamed) (fd 8)"],
         "unix socket (unnamed) (fds 7, 8)"),
        (["socket -> 10.0.0.1:80 (fd 3)", "socket 10.0.0.2:5 -> 10.0.0.1:80 (fd 4)"],
         "socket … -> 10.0.0.1:80 (fds 3, 4)"),
        (["sys.path: +1 entry '/x'", "sys.path: +1 entry '/x'"], "sys.path: +1 entry '/x'"),
    ],
)  # fmt: skip
def test_group_title_globs_what_differs_and_keeps_what_is_shared(
    titles: list[str], expected: str
) -> None:
    assert group_title(titles) == expected


# -- descriptor types by stat mode ---------------------------------------------------------


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm")
def test_a_file_in_dev_shm_is_a_file_and_dev_null_is_a_device(tmp_path: Path) -> None:
    shm = Path("/dev/shm") / f"leakwatch-test-{os.getpid()}"
    opened: list[int] = []
    try:
        with leakwatch.watch(on_leak="report", kinds=("fd",)) as w:
            opened.append(os.open(shm, os.O_RDWR | os.O_CREAT, 0o600))
            opened.append(os.open(os.devnull, os.O_RDONLY))
            opened.append(os.open("/dev/shm", os.O_RDONLY))
        assert stat.S_ISREG(os.fstat(opened[0]).st_mode)
        by_fd = {leak.details["fd"]: leak for leak in of_kind(w.report, "fd")}
        assert by_fd[opened[0]].details["type"] == "file"
        assert by_fd[opened[0]].title.startswith(f"file {shm} (fd {opened[0]}")
        assert by_fd[opened[1]].details["type"] == "device"
        assert by_fd[opened[1]].title.startswith(f"device {os.devnull} (fd {opened[1]}")
        assert by_fd[opened[2]].details["type"] == "dir"
    finally:
        for fd in opened:
            os.close(fd)
        shm.unlink(missing_ok=True)


# -- library frames, as saved before and now -----------------------------------------------


def test_library_frames_saved_as_strings_load_as_frames_and_render() -> None:
    import io

    from leakwatch._report.html import render_html

    user = Frame("/srv/app/client.py", 40, "connect", "s = make()")
    old = {
        "kind": "fd",
        "title": "socket fd 7",
        "origin": [user.to_dict()],
        "details": {"library_frames": ["/usr/lib/python3.11/socket.py:851 in create_connection"]},
    }
    loaded = Leak.from_dict(old)
    assert loaded.library_frames == (
        Frame("/usr/lib/python3.11/socket.py", 851, "create_connection"),
    )
    assert loaded.details["library_frames"] == [
        {
            "filename": "/usr/lib/python3.11/socket.py",
            "lineno": 851,
            "function": "create_connection",
            "line": "",
        }
    ]
    assert loaded.creation_stack == (user, *loaded.library_frames)
    text = Report(leaks=[loaded]).format()
    assert "socket.py:851 in create_connection" in text, text
    page = io.StringIO()
    render_html(Report(leaks=[loaded]).to_dict(), page)
    assert 'socket.py:851</span> in <span class="fn">create_connection' in page.getvalue()
    # Unreadable entries are skipped, not fatal.
    assert Leak.from_dict({**old, "details": {"library_frames": ["??", 3]}}).library_frames == ()


@pytest.mark.parametrize(
    ("library", "said"),
    [(1, "(1 library frame folded; -v shows it)"), (2, "(2 library frames folded; -v shows them)")],
)
def test_folded_library_frames_are_counted_in_words_that_agree(library: int, said: str) -> None:
    from leakwatch._report.text import format_frames

    user = Frame("/srv/app/client.py", 40, "connect", "s = make()")
    stdlib = os.path.dirname(os.__file__)
    libs = [Frame(f"{stdlib}/lib{i}.py", 10 + i, f"f{i}") for i in range(library)]
    # The innermost library frame is named on a "->" line too; all are folded.
    lines = format_frames([user, *libs])
    assert said in lines[-1], lines


def test_a_group_of_unlike_sized_leaks_says_its_total_size() -> None:
    from leakwatch._base.model import Resource, group_resources

    line = (Frame(HERE, 10, "grow", "CACHE.append(make())"),)
    grows = [
        Resource("heap", ("g", 1), "heap grows 195.4 KiB per call (13 blocks)", line, {}, 200_000),
        Resource("heap", ("g", 2), "heap grows 72.3 KiB per call (6 list)", line, {}, 74_000),
    ]
    (leak,) = group_resources(grows)
    assert leak.count == 2 and leak.size == 274_000
    assert leak.title.endswith("(267.6 KiB in all)"), leak.title
    # Alike members keep their one title: nothing was lost to a glob.
    same = [
        Resource("heap", ("s", i), "heap grows 1.0 KiB per call", line, {}, 1024) for i in (1, 2)
    ]
    (alike,) = group_resources(same)
    assert alike.title == "heap grows 1.0 KiB per call"
