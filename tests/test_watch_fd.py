"""The fd probe: every kind of descriptor a block can leave open, beside the
look-alikes that close on their own (refcounting, the cyclic gc) and must
stay silent.  Real sockets on loopback, real pipes and files."""

from __future__ import annotations

import ctypes
import gc
import os
import select
import socket
import tempfile
import warnings
from pathlib import Path

import pytest
from support import leaked_fds, of_kind, titles, total

import leakwatch


def _addr(sock_addr: tuple[str, int]) -> str:
    return f"{sock_addr[0]}:{sock_addr[1]}"


# -- leaks -------------------------------------------------------------------------


def test_loopback_client_socket_is_a_leak_titled_with_both_addresses(
    listener: socket.socket,
) -> None:
    conn = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            conn = socket.create_connection(listener.getsockname())
        fds = of_kind(w.report, "fd")
        assert len(fds) == 1 and fds[0].count == 1
        leak = fds[0]
        assert _addr(conn.getsockname()) in leak.title
        assert _addr(listener.getsockname()) in leak.title
        assert leak.details["type"] == "socket"
        assert leak.details["fd"] == conn.fileno()
        assert leaked_fds(w.report) == {conn.fileno()}
    finally:
        if conn is not None:
            conn.close()


def test_listening_socket_is_a_leak() -> None:
    srv = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            srv = socket.create_server(("127.0.0.1", 0))
        (leak,) = of_kind(w.report, "fd")
        assert _addr(srv.getsockname()) in leak.title
        assert leaked_fds(w.report) == {srv.fileno()}
    finally:
        if srv is not None:
            srv.close()


def test_file_object_is_a_leak_titled_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    f = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            f = open(path, "w")  # noqa: SIM115 - the leak under test
        (leak,) = of_kind(w.report, "fd")
        assert str(path) in leak.title
        assert leak.details["type"] == "file"
        assert leak.details["path"] == str(path)
        assert leaked_fds(w.report) == {f.fileno()}
    finally:
        if f is not None:
            f.close()


def test_raw_os_open_is_a_leak(tmp_path: Path) -> None:
    path = tmp_path / "raw"
    fd = -1
    try:
        with leakwatch.watch(on_leak="report") as w:
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        assert leaked_fds(w.report) == {fd}
        (leak,) = of_kind(w.report, "fd")
        assert str(path) in leak.title
        assert leak.origin, "os.open raises the 'open' audit event: its origin is known"
    finally:
        if fd >= 0:
            os.close(fd)


def test_pipe_leaks_both_ends() -> None:
    ends: tuple[int, int] | None = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            ends = os.pipe()
        fds = of_kind(w.report, "fd")
        assert total(fds) == 2
        assert leaked_fds(w.report) == set(ends)
        assert all(leak.details["type"] == "pipe" for leak in fds)
        assert all(leak.origin for leak in fds)
    finally:
        if ends is not None:
            os.close(ends[0])
            os.close(ends[1])


def test_dup_is_a_leak_and_the_original_is_not(tmp_path: Path) -> None:
    base = os.open(tmp_path / "base", os.O_CREAT | os.O_RDWR, 0o600)
    copy = -1
    try:
        with leakwatch.watch(on_leak="report") as w:
            copy = os.dup(base)
        assert leaked_fds(w.report) == {copy}
        (leak,) = of_kind(w.report, "fd")
        assert leak.origin, "os.dup is wrapped: its origin is known"
    finally:
        os.close(base)
        if copy >= 0:
            os.close(copy)


def test_socketpair_leaks_both_sockets() -> None:
    pair: tuple[socket.socket, socket.socket] | None = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            pair = socket.socketpair()
        fds = of_kind(w.report, "fd")
        assert total(fds) == 2
        assert leaked_fds(w.report) == {pair[0].fileno(), pair[1].fileno()}
        assert all(leak.details["type"] == "socket" for leak in fds)
    finally:
        if pair is not None:
            pair[0].close()
            pair[1].close()


@pytest.mark.skipif(not hasattr(select, "epoll"), reason="epoll is Linux only")
def test_epoll_is_a_leak() -> None:
    ep = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            ep = select.epoll()
        (leak,) = of_kind(w.report, "fd")
        assert leak.details["type"] == "epoll"
        assert leaked_fds(w.report) == {ep.fileno()}
        assert leak.origin
    finally:
        if ep is not None:
            ep.close()


def test_mkstemp_descriptor_is_a_leak() -> None:
    made: tuple[int, str] | None = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            made = tempfile.mkstemp(prefix="lw-fd-")
        fd, path = made
        assert leaked_fds(w.report) == {fd}
        (leak,) = of_kind(w.report, "fd")
        assert path in leak.title
        # The file left on disk is a second, separate finding.
        assert [t for t in titles(of_kind(w.report, "tempfile")) if path in t]
    finally:
        if made is not None:
            os.close(made[0])
            os.unlink(made[1])


@pytest.mark.skipif(not hasattr(os, "eventfd"), reason="no os.eventfd here")
def test_eventfd_is_a_leak() -> None:
    fd = -1
    try:
        with leakwatch.watch(on_leak="report") as w:
            fd = os.eventfd(0)
        (leak,) = of_kind(w.report, "fd")
        assert leak.details["type"] == "eventfd"
        assert leaked_fds(w.report) == {fd}
    finally:
        if fd >= 0:
            os.close(fd)


def test_same_number_reused_by_another_socket_is_a_leak(listener: socket.socket) -> None:
    """Identity, not count: the block closes one socket and leaves another at
    the very same number; the count of open descriptors did not change."""
    old = socket.create_connection(listener.getsockname())
    number = old.fileno()
    new = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            old.close()
            new = socket.create_connection(listener.getsockname())
        assert new.fileno() == number, "the kernel hands out the lowest free number"
        assert leaked_fds(w.report) == {number}
        (leak,) = of_kind(w.report, "fd")
        assert _addr(new.getsockname()) in leak.title
    finally:
        old.close()
        if new is not None:
            new.close()


def test_same_number_reused_by_another_file_is_a_leak(tmp_path: Path) -> None:
    old = open(tmp_path / "old", "w")  # noqa: SIM115
    number = old.fileno()
    new = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            old.close()
            new = open(tmp_path / "new", "w")  # noqa: SIM115
        assert new.fileno() == number
        assert leaked_fds(w.report) == {number}
        (leak,) = of_kind(w.report, "fd")
        assert str(tmp_path / "new") in leak.title
    finally:
        old.close()
        if new is not None:
            new.close()


def _libc_open(path: Path) -> int:
    """open(2) straight from C: no audit event, nothing leakwatch's hooks see."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.open(os.fsencode(path), os.O_RDONLY | os.O_CLOEXEC)
    assert fd >= 0, os.strerror(ctypes.get_errno())
    return int(fd)


def test_same_number_reused_by_c_code_is_a_leak(tmp_path: Path) -> None:
    """The last look is exact even for what no hook saw: the inode behind the
    number changed, so the descriptor is new."""
    (tmp_path / "new").write_text("x")
    old = open(tmp_path / "old", "w")  # noqa: SIM115
    number = old.fileno()
    new = -1
    try:
        with leakwatch.watch(on_leak="report") as w:
            old.close()
            new = _libc_open(tmp_path / "new")
        assert new == number
        assert leaked_fds(w.report) == {number}
        (leak,) = of_kind(w.report, "fd")
        assert str(tmp_path / "new") in leak.title
    finally:
        old.close()
        if new >= 0:
            os.close(new)


def test_window_marks_reuse_the_last_look_only_while_nothing_changed(tmp_path: Path) -> None:
    from leakwatch._attribution import origins as _origins
    from leakwatch._attribution import recording as _recording
    from leakwatch._probes.fds import FdProbe

    probe = FdProbe()
    _origins.activate()
    try:
        first = probe.snapshot()
        assert probe.mark() is first  # same numbers, nothing made in Python
        r, w = os.pipe()  # seen by the hooks
        try:
            after_pipe = probe.mark()
            assert after_pipe is not first
            assert {r, w} <= set(after_pipe.values())
            assert probe.mark() is after_pipe
            (tmp_path / "c").write_text("x")
            fd = _libc_open(tmp_path / "c")  # unseen, but the numbers changed
            try:
                assert fd in probe.mark().values()
            finally:
                os.close(fd)
        finally:
            os.close(r)
            os.close(w)
    finally:
        _recording.deactivate()


def test_raise_policy_fails_on_a_leaked_descriptor(listener: socket.socket) -> None:
    conn = None
    try:
        with pytest.raises(leakwatch.LeakError) as info, leakwatch.watch(on_leak="raise"):
            conn = socket.create_connection(listener.getsockname())
        assert of_kind(info.value.report, "fd")
    finally:
        if conn is not None:
            conn.close()


# -- look-alikes that must stay silent ---------------------------------------------


def test_open_read_without_close_is_silent(tmp_path: Path) -> None:
    """CPython closes the file as soon as the expression drops it."""
    path = tmp_path / "text"
    path.write_text("hello")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with leakwatch.watch(on_leak="report") as w:
            data = open(path).read()  # noqa: SIM115 - the look-alike under test
    assert data == "hello"
    assert w.report is not None and w.report.clean, str(w.report)


def test_socket_closed_in_the_block_is_silent(listener: socket.socket) -> None:
    with leakwatch.watch(on_leak="report") as w:
        conn = socket.create_connection(listener.getsockname())
        conn.close()
        a, b = socket.socketpair()
        with a, b:
            a.sendall(b"x")
            assert b.recv(1) == b"x"
    assert w.report is not None and w.report.clean, str(w.report)


def test_file_freed_only_by_the_cyclic_gc_is_silent(tmp_path: Path) -> None:
    path = tmp_path / "cycle"
    gc.disable()  # so only leakwatch's own settling can free the cycle
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            with leakwatch.watch(on_leak="report") as w:
                holder: dict[str, object] = {"file": open(path, "w")}  # noqa: SIM115
                holder["self"] = holder
                del holder
            gc.collect()
    finally:
        gc.enable()
    assert w.report is not None and w.report.clean, str(w.report)


def test_pipes_and_fds_closed_in_the_block_are_silent(tmp_path: Path) -> None:
    with leakwatch.watch(on_leak="report") as w:
        r, wr = os.pipe()
        os.close(r)
        os.close(wr)
        fd = os.open(tmp_path / "x", os.O_CREAT | os.O_WRONLY, 0o600)
        dup = os.dup(fd)
        os.close(fd)
        os.close(dup)
        if hasattr(select, "epoll"):
            select.epoll().close()
        with open(tmp_path / "y", "w") as f:
            f.write("y")
    assert w.report is not None and w.report.clean, str(w.report)


def test_file_renamed_while_open_is_the_same_descriptor(tmp_path: Path) -> None:
    """The kernel's link now names the new path; the inode behind it is the same."""
    f = open(tmp_path / "before", "w")  # noqa: SIM115
    try:
        with leakwatch.watch(on_leak="report") as w:
            os.rename(tmp_path / "before", tmp_path / "after")
        assert w.report is not None and w.report.clean, str(w.report)
    finally:
        f.close()


def test_descriptor_opened_before_the_block_is_silent(listener: socket.socket) -> None:
    conn = socket.create_connection(listener.getsockname())
    try:
        with leakwatch.watch(on_leak="report") as w:
            conn.sendall(b"ping")
        assert w.report is not None and w.report.clean, str(w.report)
    finally:
        conn.close()


STDIO_SCRIPT = """
import json, os, leakwatch

with leakwatch.watch(on_leak="report") as redirected:
    saved = os.dup(1)  # a copy of stdout, never closed: a leak
    r, w = os.pipe()
    os.dup2(w, 1)  # stdout now points at a pipe, as output capture does
    os.close(w)
    os.close(r)
os.dup2(saved, 1)
os.close(0)  # stdin closed before the block: its number is anyone's
with leakwatch.watch(on_leak="report") as reused:
    fd = os.open(os.devnull, os.O_RDONLY)
fds = lambda report: sorted(l.details["fd"] for l in report.leaks if l.kind == "fd")
print(json.dumps({"redirected": fds(redirected.report), "saved": saved,
                  "reused": fds(reused.report), "fd": fd}))
"""


def test_a_standard_stream_pointed_elsewhere_is_no_leak_but_a_copy_is(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    script = tmp_path / "stdio.py"
    script.write_text(STDIO_SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    found = json.loads(out.stdout)
    assert found["redirected"] == [found["saved"]], found
    assert found["fd"] == 0 and found["reused"] == [0], found


def test_a_closed_number_does_not_stay_open_in_window_marks() -> None:
    # A listing's own descriptor takes the lowest free number.  Once a
    # descriptor under that number has been seen open and closed, the
    # listing must not count its own descriptor as that one: every window
    # mark would then look again in full.
    from leakwatch._attribution import origins as _origins
    from leakwatch._attribution import recording as _recording
    from leakwatch._base import platform as _platform
    from leakwatch._probes.fds import FdProbe

    probe = FdProbe()
    _origins.activate()
    try:
        fd = os.open(os.devnull, os.O_RDONLY)  # the lowest free number
        try:
            probe.snapshot()
            assert fd in _platform.list_fd_numbers()
        finally:
            os.close(fd)
        first = probe.snapshot()
        assert fd not in _platform.list_fd_numbers()  # the listing's own is left out
        assert probe.mark() is first
    finally:
        _recording.deactivate()


def test_a_listing_is_answered_again_only_while_every_number_is_behind_the_same_file(
    tmp_path: Path,
) -> None:
    # Where the kernel counts descriptors, a listing is the last one again
    # while as many are open and each number has the same inode; C code that
    # closes one number and opens another file under it (no hook, no change
    # in the count), or opens one beside, is in the next answer.
    from leakwatch._base import platform as _platform

    if not _platform.HAVE_PROC:
        pytest.skip("reads /proc")
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    libc = ctypes.CDLL(None, use_errno=True)
    fd = _libc_open(tmp_path / "a")
    beside = -1
    try:
        first = _platform.list_fds()
        assert first[fd] == str(tmp_path / "a")
        assert _platform.list_fds() == first
        if _platform.count_fds is not None:  # answered again, not listed
            assert _platform.list_fds() is _platform.list_fds()
        assert libc.close(fd) == 0
        assert _libc_open(tmp_path / "b") == fd  # the lowest free number again
        again = _platform.list_fds()
        assert again[fd] == str(tmp_path / "b") and again.keys() == first.keys()
        beside = _libc_open(tmp_path / "a")
        assert _platform.list_fds()[beside] == str(tmp_path / "a")
        os.close(beside)
        beside = -1
        assert _platform.list_fds() == again
    finally:
        os.close(fd)
        if beside >= 0:
            os.close(beside)
    assert fd not in _platform.list_fds()


def test_a_light_mark_counts_and_looks_again_when_the_count_changes() -> None:
    # A light probe (a test's first look, its phase marks) reuses the last
    # full look while Python made no descriptor and as many are open, asking
    # the count alone; C code opening one (no Python event) changes the
    # count, and the mark is a full look again that holds it.
    from leakwatch._attribution import origins as _origins
    from leakwatch._attribution import recording as _recording
    from leakwatch._base import platform as _platform
    from leakwatch._probes.fds import FdProbe

    if _platform.count_fds is None:
        pytest.skip("this kernel does not count /proc/self/fd (Linux 6.2+)")
    libc = ctypes.CDLL(None, use_errno=True)
    probe = FdProbe()
    probe.light = True
    _origins.activate()
    try:
        first = probe.snapshot()
        assert _platform.count_fds() == len(first)
        assert probe.mark() is first
        fd = libc.dup(0)
        assert fd >= 0
        try:
            again = probe.mark()
            assert again is not first and fd in again.values()
        finally:
            os.close(fd)
    finally:
        _recording.deactivate()


def test_a_holder_made_over_a_number_after_the_last_walk_is_still_found() -> None:
    # Settling and describing share one heap walk for descriptors' holders
    # while nothing changed; a file object made over the number in between
    # (an open the hooks see) must be found, and leakwatch's own quiet reads
    # must not count as a change.
    from leakwatch._attribution import origins as _origins
    from leakwatch._attribution import recording as _recording
    from leakwatch._probes.fds import FdProbe

    probe = FdProbe()
    _origins.activate()
    r, w = os.pipe()
    try:
        probe.snapshot()
        assert probe.owner((r, ""), r) is None  # a bare number: nothing holds it
        walked = probe._holders
        with _recording.quiet(), open(os.devnull, "rb"):
            pass  # leakwatch's own read: the walk stands
        assert probe.owner((r, ""), r) is None and probe._holders is walked
        with open(r, "rb", buffering=0) as held:  # a holder over the same number
            assert probe.owner((r, ""), r) is held
    finally:
        os.close(w)
        _recording.deactivate()
