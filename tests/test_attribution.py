"""Attribution: every leak points at the exact file and line that created it.

Lines are found by their marker comment (``# <- creates: ...``), never
hard-coded.  Beside the direct cases: a resource made in a worker thread
whose own stack never reaches user code (the origin must still name the
user's line that started the worker), one made through a library layer
(``support/lib.py``: both lines, the library's last), and the "held by"
chain of a socket kept in a module-global dict.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import created_at, leaked_fds, lib, marker_line, of_kind, user_frames

import leakwatch

HERE = __file__
LIB = lib.__file__


def here(marker: str) -> tuple[str, int]:
    return HERE, marker_line(HERE, f"# <- creates: {marker}")


def in_lib(marker: str) -> tuple[str, int]:
    return LIB, marker_line(LIB, f"# <- lib: {marker}")


def only(report: leakwatch.Report | None, kind: str) -> leakwatch.Leak:
    leaks = of_kind(report, kind)
    assert len(leaks) == 1, str(report)
    return leaks[0]


def _open_fds() -> set[tuple[str, str]]:
    out = set()
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # listdir's own descriptor, closed by now
            out.add((name, os.readlink(f"/proc/self/fd/{name}")))
    return out


@contextlib.contextmanager
def closing_new_fds() -> Iterator[None]:
    """Close whatever descriptors the body opened and did not close (cleanup only)."""
    before = _open_fds()
    try:
        yield
    finally:
        for name, _ in _open_fds() - before:
            with contextlib.suppress(OSError):
                os.close(int(name))


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")


# -- direct creations ----------------------------------------------------------------


def test_socket(listener: socket.socket) -> None:
    conn = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            conn = socket.create_connection(listener.getsockname())  # <- creates: socket
        leak = only(w.report, "fd")
        assert created_at(leak) == here("socket")
        frame = next(f for f in leak.origin if (f.filename, f.lineno) == here("socket"))
        assert frame.function == "test_socket"
        assert (
            frame.line
            == "conn = socket.create_connection(listener.getsockname())  # <- creates: socket"
        )
    finally:
        if conn is not None:
            conn.close()


def test_file(tmp_path: Path) -> None:
    f = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            f = open(tmp_path / "f.txt", "w")  # noqa: SIM115  # <- creates: file
        assert created_at(only(w.report, "fd")) == here("file")
    finally:
        if f is not None:
            f.close()


def test_pipe() -> None:
    ends = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            ends = os.pipe()  # <- creates: pipe
        leak = only(w.report, "fd")
        assert leak.count == 2
        assert created_at(leak) == here("pipe")
    finally:
        if ends is not None:
            os.close(ends[0])
            os.close(ends[1])


def test_dup_and_epoll(tmp_path: Path) -> None:
    base = os.open(tmp_path / "base", os.O_CREAT | os.O_RDWR, 0o600)
    copy = -1
    ep = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            copy = os.dup(base)  # <- creates: dup
            if hasattr(select, "epoll"):
                ep = select.epoll()  # <- creates: epoll
        sites = {created_at(leak): leak for leak in of_kind(w.report, "fd")}
        assert here("dup") in sites
        if ep is not None:
            assert here("epoll") in sites
        assert len(sites) == len(leaked_fds(w.report))
    finally:
        os.close(base)
        if copy >= 0:
            os.close(copy)
        if ep is not None:
            ep.close()


def test_socketpair_is_one_leak_of_two_like_a_pipe() -> None:
    """One call made both sockets: one leak, count 2, as os.pipe() gives."""
    pair = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            pair = socket.socketpair()  # <- creates: socketpair
        fds = of_kind(w.report, "fd")
        assert {created_at(leak) for leak in fds} == {here("socketpair")}
        assert [leak.count for leak in fds] == [2], str(w.report)
    finally:
        if pair is not None:
            pair[0].close()
            pair[1].close()


def test_thread_start() -> None:
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="attributed")
    try:
        with leakwatch.watch(on_leak="report") as w:
            t.start()  # <- creates: thread
        assert created_at(only(w.report, "thread")) == here("thread")
    finally:
        stop.set()
        t.join()


async def _forever() -> None:
    await asyncio.Event().wait()


def test_task_create() -> None:
    async def main() -> leakwatch.Report | None:
        task = None
        try:
            async with leakwatch.watch(on_leak="report") as w:
                task = asyncio.create_task(_forever())  # <- creates: task
            return w.report
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    assert created_at(only(asyncio.run(main()), "task")) == here("task")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX command")
def test_popen() -> None:
    proc = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            proc = subprocess.Popen(["sleep", "30"])  # <- creates: popen
        assert created_at(only(w.report, "process")) == here("popen")
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def test_mkstemp() -> None:
    made = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            made = tempfile.mkstemp(prefix="lw-attr-")  # <- creates: mkstemp
        assert created_at(only(w.report, "tempfile")) == here("mkstemp")
        assert created_at(only(w.report, "fd")) == here("mkstemp")
    finally:
        if made is not None:
            os.close(made[0])
            os.unlink(made[1])


def test_mkdtemp() -> None:
    path = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            path = tempfile.mkdtemp(prefix="lw-attr-")  # <- creates: mkdtemp
        assert created_at(only(w.report, "tempfile")) == here("mkdtemp")
    finally:
        if path is not None:
            os.rmdir(path)


@pytest.mark.skipif(sys.platform == "win32", reason="fcntl is POSIX")
def test_creation_not_seen_gives_an_empty_origin_and_says_so(tmp_path: Path) -> None:
    """fcntl(F_DUPFD) raises no audit event and is not wrapped: the contract
    allows an empty origin then, with a title that says so."""
    import fcntl

    base = os.open(tmp_path / "base", os.O_CREAT | os.O_RDWR, 0o600)
    copy = -1
    try:
        with leakwatch.watch(on_leak="report") as w:
            copy = fcntl.fcntl(base, fcntl.F_DUPFD_CLOEXEC, 0)
        leak = only(w.report, "fd")
        assert leaked_fds(w.report) == {copy}
        assert leak.origin == ()
        assert "not seen" in leak.title
    finally:
        os.close(base)
        if copy >= 0:
            os.close(copy)


# -- made in a worker thread whose own stack has no user frame ----------------------


@needs_proc
def test_pipe_made_by_a_stdlib_thread_target_points_at_the_start_line() -> None:
    with closing_new_fds():
        with leakwatch.watch(on_leak="report") as w:
            worker = threading.Thread(target=os.pipe)
            worker.start()  # <- creates: pipe worker
            worker.join()
        leak = only(w.report, "fd")
        assert leak.count == 2
        assert created_at(leak) == here("pipe worker")
        # The origin ends at the user's line; the worker's own frames (threading's
        # run(), innermost last) are kept apart as library frames.
        assert (leak.origin[-1].filename, leak.origin[-1].lineno) == here("pipe worker")
        assert leak.library_frames[-1].filename == threading.__file__


def test_socket_made_in_an_executor_worker_points_at_the_submit_line(
    listener: socket.socket,
) -> None:
    conn = None
    addr = listener.getsockname()
    try:
        with leakwatch.watch(on_leak="report") as w:
            with ThreadPoolExecutor(1) as ex:
                fut = ex.submit(socket.create_connection, addr)  # <- creates: submit
                conn = fut.result()
            del fut
        leak = only(w.report, "fd")
        assert here("submit") in user_frames(leak), leak.origin
        assert created_at(leak) == here("submit")
        assert (leak.origin[-1].filename, leak.origin[-1].lineno) == here("submit")
        assert leak.library_frames[-1].filename == socket.__file__
    finally:
        if conn is not None:
            conn.close()


@needs_proc
def test_pipe_made_by_a_library_worker_thread_names_both_lines() -> None:
    with closing_new_fds():
        with leakwatch.watch(on_leak="report") as w:
            lib.pipe_in_worker()  # <- creates: lib worker
        leak = only(w.report, "fd")
        frames = user_frames(leak)
        assert here("lib worker") in frames
        assert frames[-1] == in_lib("starts pipe worker")
        assert frames.index(here("lib worker")) < frames.index(in_lib("starts pipe worker"))


# -- through a library layer -----------------------------------------------------------


def test_socket_made_through_a_library_names_both_lines_creating_line_last(
    listener: socket.socket,
) -> None:
    conn = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            conn = lib.connect(listener.getsockname())  # <- creates: via lib
        leak = only(w.report, "fd")
        frames = user_frames(leak)
        assert here("via lib") in frames
        assert frames[-1] == in_lib("creates socket")
        assert frames.index(here("via lib")) < frames.index(in_lib("creates socket"))
        functions = [f.function for f in leak.origin]
        assert functions.index(
            "test_socket_made_through_a_library_names_both_lines_creating_line_last"
        ) < (functions.index("connect"))
    finally:
        if conn is not None:
            conn.close()


def test_held_by_chain_names_the_module_global_dict(listener: socket.socket) -> None:
    try:
        with leakwatch.watch(on_leak="report") as w:
            lib.connect_pooled("main", listener.getsockname())  # <- creates: pooled
        leak = only(w.report, "fd")
        assert user_frames(leak)[-2:] == [here("pooled"), in_lib("pooled socket")]
        held_by = leak.details.get("held_by", "")
        assert "POOL['main']" in held_by, leak.details
        assert held_by.split(".POOL")[0].endswith("lib"), held_by
        assert f"held by {held_by}" in str(w.report)
    finally:
        lib.drain_pool()


def test_a_reports_source_lines_leave_linecache_as_the_program_had_it(tmp_path: Path) -> None:
    """The lines a report shows are read for leakwatch alone: a file left in
    ``linecache`` is checked again (one ``os.stat``) by every traceback taken
    through it, which asyncio's debug mode takes for every callback and
    task; the program's cache stays as it was."""
    import importlib.util
    import linecache

    path = tmp_path / "lw_linecache_module.py"
    path.write_text(
        "import socket\n\nKEPT = []\n\n\ndef leak():\n"
        "    KEPT.append(socket.socket())  # <- made here\n"
    )
    spec = importlib.util.spec_from_file_location("lw_linecache_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    linecache.checkcache(str(path))
    assert str(path) not in linecache.cache
    try:
        with leakwatch.watch(on_leak="report") as w:
            module.leak()
        assert w.report is not None
        (leak,) = of_kind(w.report, "fd")
        (frame,) = [f for f in leak.origin if f.filename == str(path)]
        assert frame.line == "KEPT.append(socket.socket())  # <- made here"
        assert str(path) not in linecache.cache
    finally:
        for sock in module.KEPT:
            sock.close()
