"""Creation records that outlive or out-detail the object: by descriptor number,
by task, by thread construction; the hooks' counter; socket lookup by number.

Lines are found by their marker comment (``# <- creates: ...``), never
hard-coded.  Every leak is paired with a look-alike that must stay silent.
"""

from __future__ import annotations

import _socket
import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from support import created_at, leaked_fds, marker_line, of_kind

import leakwatch
from leakwatch._attribution import origins as _origins
from leakwatch._attribution import recording as _recording
from leakwatch._attribution import records as _records
from leakwatch._base.paths import is_user_file

HERE = __file__


def here(marker: str) -> tuple[str, int]:
    return HERE, marker_line(HERE, f"# <- creates: {marker}")


def user_line(frames: list[dict[str, Any]]) -> tuple[str, int]:
    users = [(f["filename"], f["lineno"]) for f in frames if is_user_file(f["filename"])]
    assert users, frames
    return users[-1]


# -- a detached socket keeps its creation line -------------------------------------


def test_detached_socket_keeps_its_line_and_a_closed_one_is_silent() -> None:
    leaked = -1
    try:
        with leakwatch.watch(on_leak="report") as w:
            leaked = socket.socket().detach()  # <- creates: detached
            closed = socket.socket().detach()
            os.close(closed)
        fds = of_kind(w.report, "fd")
        assert leaked_fds(w.report) == {leaked}, str(w.report)
        assert created_at(fds[0]) == here("detached")
        assert "creation not seen" not in fds[0].title
    finally:
        if leaked >= 0:
            os.close(leaked)


def test_number_reused_after_a_detached_socket_is_closed_takes_its_own_line() -> None:
    sock = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            fd = socket.socket().detach()
            os.close(fd)
            sock = socket.socket()  # <- creates: reuses the number
        assert sock.fileno() == fd  # the lowest free number: the detached one's
        (leak,) = of_kind(w.report, "fd")
        assert created_at(leak) == here("reuses the number")
    finally:
        if sock is not None:
            sock.close()


def test_a_descriptor_wrapped_again_keeps_the_line_that_made_it() -> None:
    # anyio's from_socket(fd): socket.socket(fileno=fd), which raises on a
    # wrong type and detaches again; or keeps the wrapper alive.  Either way
    # the descriptor was made by the detached socket, not by the wrapper.
    fds: list[int] = []
    kept: list[socket.socket] = []
    try:
        with leakwatch.watch(on_leak="report") as w:
            first = socket.socket().detach()  # <- creates: first, detached
            second = socket.socket().detach()  # <- creates: second, detached
            fds.extend((first, second))
            socket.socket(fileno=first).detach()  # wrapped, then let go again
            kept.append(socket.socket(fileno=second))  # wrapped, and kept
        by_fd = {leak.details["fd"]: leak for leak in of_kind(w.report, "fd")}
        assert set(by_fd) == {first, second}, str(w.report)
        assert created_at(by_fd[first]) == here("first, detached")
        assert created_at(by_fd[second]) == here("second, detached")
    finally:
        for sock in kept:
            fds.remove(sock.fileno())
            sock.close()
        for fd in fds:
            os.close(fd)


def test_a_wrapper_of_a_number_a_closed_detached_socket_left_takes_its_own_line() -> None:
    # The look-alike: the detached descriptor was closed, and C code made
    # another socket under its number (_socket.dup is not hooked): the
    # detached socket's line is not this descriptor's.
    base = socket.socket()
    sock = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            fd = socket.socket().detach()
            os.close(fd)
            sock = socket.socket(fileno=_socket.dup(base.fileno()))  # <- creates: the wrapper
        assert sock.fileno() == fd  # the lowest free number: the detached one's
        (leak,) = of_kind(w.report, "fd")
        assert created_at(leak) == here("the wrapper")
    finally:
        base.close()
        if sock is not None:
            sock.close()


def test_a_number_a_closed_detached_socket_left_does_not_lend_its_line() -> None:
    base = socket.socket()
    raw = -1
    try:
        with leakwatch.watch(on_leak="report") as w:
            fd = socket.socket().detach()
            os.close(fd)
            raw = _socket.dup(base.fileno())  # C code: no hook sees it
        assert raw == fd
        (leak,) = of_kind(w.report, "fd")
        assert leak.origin == (), str(w.report)
    finally:
        base.close()
        if raw >= 0:
            os.close(raw)


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs os.pidfd_open")
def test_creation_not_seen_says_only_what_is_true() -> None:
    fd = -1
    try:
        with leakwatch.watch(on_leak="report") as w:
            try:
                fd = os.pidfd_open(os.getpid())  # no hook sees it
            except OSError:
                pytest.skip("pidfd_open not supported by this kernel")
        (leak,) = of_kind(w.report, "fd")
        assert leak.origin == ()
        note = leak.details["origin_note"]
        assert "outside a watched block" not in note
        assert "C code" in note
    finally:
        if fd >= 0:
            os.close(fd)


# -- two descriptors on one path ----------------------------------------------------


def _two_opens(path: Path, use_os_open: bool) -> tuple[int, int]:
    if use_os_open:
        first = os.open(path, os.O_RDONLY)  # <- creates: first os.open
        second = os.open(path, os.O_RDONLY)  # <- creates: second os.open
        return first, second
    f1 = open(path)  # noqa: SIM115  # <- creates: first open
    f2 = open(path)  # noqa: SIM115  # <- creates: second open
    return _keep(f1), _keep(f2)


_KEPT: list[Any] = []  # the file objects, closed by _close


def _keep(f: Any) -> int:
    _KEPT.append(f)
    return int(f.fileno())


@pytest.mark.parametrize("use_os_open", [True, False], ids=["os.open", "open"])
@pytest.mark.parametrize("leak_first", [True, False], ids=["leak-first", "leak-second"])
def test_two_descriptors_on_one_path_keep_their_own_lines(
    tmp_path: Path, leak_first: bool, use_os_open: bool
) -> None:
    path = tmp_path / "shared.txt"
    path.write_text("x")
    leaked = -1
    try:
        with leakwatch.watch(on_leak="report") as w:
            first, second = _two_opens(path, use_os_open)
            closed, leaked = (second, first) if leak_first else (first, second)
            _close(closed)
        assert leaked_fds(w.report) == {leaked}, str(w.report)
        (leak,) = of_kind(w.report, "fd")
        which = "first" if leak_first else "second"
        assert created_at(leak) == here(f"{which} {'os.open' if use_os_open else 'open'}")
    finally:
        if leaked >= 0:
            _close(leaked)


def _close(fd: int) -> None:
    for f in list(_KEPT):
        if not f.closed and f.fileno() == fd:
            _KEPT.remove(f)
            f.close()
            return
    os.close(fd)


def test_a_file_closed_then_its_number_reused_by_an_unseen_open_is_not_misattributed(
    tmp_path: Path,
) -> None:
    """A number's record left by ``file.close()`` must not name the next owner."""
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    fd = -1
    try:
        with leakwatch.watch(on_leak="report") as w:
            with open(tmp_path / "a") as f:
                number = f.fileno()
            with _recording.quiet():  # an open no hook records, like C code's
                fd = os.open(tmp_path / "b", os.O_RDONLY)
        assert fd == number
        (leak,) = of_kind(w.report, "fd")
        assert leak.origin == () and "creation not seen" in leak.title
    finally:
        if fd >= 0:
            os.close(fd)


# -- tasks: the line that made the task, not the coroutine ------------------------------


async def _sleep_long() -> None:
    await asyncio.sleep(30)


async def _made_by_gather(coros: list[Any]) -> Any:
    return asyncio.gather(*coros)  # <- creates: gather


async def _made_by_as_completed(coros: list[Any]) -> Any:
    waiters = list(asyncio.as_completed(coros))  # <- creates: as_completed
    for waiter in waiters:
        waiter.close()  # never awaited here: no "never awaited" warning
    return waiters


async def _made_by_create_task(coros: list[Any]) -> Any:
    return [asyncio.get_running_loop().create_task(c) for c in coros]  # <- creates: create_task


async def _made_by_ensure_future(coros: list[Any]) -> Any:
    return [asyncio.ensure_future(c) for c in coros]  # <- creates: ensure_future


MAKERS: dict[str, Callable[[list[Any]], Awaitable[Any]]] = {
    "gather": _made_by_gather,
    "as_completed": _made_by_as_completed,
    "create_task": _made_by_create_task,
    "ensure_future": _made_by_ensure_future,
}


@pytest.mark.parametrize("how", list(MAKERS))
def test_task_origin_is_where_the_task_was_made(how: str) -> None:
    async def main() -> leakwatch.Report | None:
        async with leakwatch.watch(on_leak="report") as w:
            coros = [_sleep_long() for _ in range(2)]  # <- creates: coroutines
            made = await MAKERS[how](coros)
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()
        await asyncio.sleep(0)
        del made
        return w.report

    report = asyncio.run(main())
    tasks = of_kind(report, "task")
    assert sum(t.count for t in tasks) == 2, str(report)
    for leak in tasks:
        assert created_at(leak) == here(how)
        assert user_line(leak.details["coroutine_origin"]) == here("coroutines")


def test_tasks_awaited_in_the_block_are_silent() -> None:
    async def main() -> leakwatch.Report | None:
        coros = [asyncio.sleep(0.01) for _ in range(3)]
        async with leakwatch.watch(on_leak="report") as w:
            await asyncio.gather(*coros)
            await asyncio.ensure_future(asyncio.sleep(0))
        return w.report

    assert of_kind(asyncio.run(main()), "task") == []


def test_task_made_in_another_thread_has_a_stack() -> None:
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, name="other-loop")
    runner.start()
    try:
        with leakwatch.watch(on_leak="report", kinds=("task",)) as w:
            future = asyncio.run_coroutine_threadsafe(_make_task_there(), loop)
            task = future.result(5)
        (leak,) = of_kind(w.report, "task")
        assert created_at(leak) == here("in the loop's thread")
        # Cancelled and finished before the loop stops: a task still pending
        # when its loop closes is a leak (and the plugin watching this suite says so).
        asyncio.run_coroutine_threadsafe(_cancel(task), loop).result(5)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        loop.close()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _make_task_there() -> asyncio.Task[None]:
    return asyncio.ensure_future(_sleep_long())  # <- creates: in the loop's thread


# -- threads: where it was made, beside where it was started ---------------------------


@contextlib.contextmanager
def stopping(event: threading.Event, *threads: threading.Thread) -> Iterator[None]:
    try:
        yield
    finally:
        event.set()
        for t in threads:
            if t.is_alive():
                t.join(5)


def _make_worker(stop: threading.Event) -> threading.Thread:
    return threading.Thread(target=stop.wait, name="made-apart")  # <- creates: thread made


def test_thread_made_apart_from_its_start_shows_both_lines() -> None:
    stop = threading.Event()
    worker = _make_worker(stop)
    same = threading.Thread(target=stop.wait, name="here")
    with stopping(stop, worker, same):
        with leakwatch.watch(on_leak="report") as w:
            worker = _make_worker(stop)
            worker.start()  # <- creates: thread started
            (same := threading.Thread(target=stop.wait, name="here")).start()  # <- creates: 1 line
        leaks = {leak.details["name"]: leak for leak in of_kind(w.report, "thread")}
        apart, together = leaks["made-apart"], leaks["here"]
        assert created_at(apart) == here("thread started")
        assert user_line(apart.details["constructed_at"]) == here("thread made")
        line = here("thread made")[1]
        assert f"made at {os.path.basename(HERE)}:{line} to run" in apart.title
        assert created_at(together) == here("1 line")
        assert "constructed_at" not in together.details
        assert "made at" not in together.title


def test_timer_says_what_it_runs() -> None:
    def fire() -> None:
        pass

    stop = threading.Event()
    timer = threading.Timer(30, fire)
    with stopping(stop, timer):
        try:
            with leakwatch.watch(on_leak="report") as w:
                timer = threading.Timer(30, fire)  # <- creates: timer made
                time.sleep(0)
                timer.start()
            (leak,) = of_kind(w.report, "timer")
            assert user_line(leak.details["constructed_at"]) == here("timer made")
            assert "calling " in leak.title and "fire()" in leak.title
            assert of_kind(w.report, "thread") == []
        finally:
            timer.cancel()


# -- the hooks' counter is thread-safe ------------------------------------------------


def _yield_between_opcodes(frame: FrameType, event: str, arg: Any) -> Any:
    """Trace only leakwatch._attribution.recording, letting other threads run between any two
    bytecodes there: a read-modify-write outside a lock then loses updates."""
    if frame.f_code.co_filename != _recording.__file__:
        return None
    frame.f_trace_opcodes = True

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        time.sleep(0)
        return local

    return local


def test_counter_survives_concurrent_watches_in_many_threads() -> None:
    before = _recording._active
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        for _ in range(100):
            _origins.activate()
            _recording.deactivate()

    threading.settrace(_yield_between_opcodes)
    try:
        workers = [threading.Thread(target=work) for _ in range(8)]
        for t in workers:
            t.start()
    finally:
        threading.settrace(None)  # type: ignore[arg-type]
    for t in workers:
        t.join()
    assert _recording._active == before
    assert _recording.is_recording() == (before > 0)


# -- socket lookup by number ------------------------------------------------------------


class CountingSocket(socket.socket):
    calls = 0

    def fileno(self) -> int:
        CountingSocket.calls += 1
        return super().fileno()


def test_socket_lookup_by_number_looks_at_each_socket_a_bounded_number_of_times() -> None:
    n = 300
    _origins.activate()
    socks: list[socket.socket] = []
    try:
        socks = [CountingSocket() for _ in range(n)]
        CountingSocket.calls = 0
        for sock in socks:
            found = _records.find_socket(sock.fileno())
            assert found is not None and found[0] is sock
        # A scan per lookup would call fileno() about n * n / 2 times.
        assert CountingSocket.calls <= 4 * n
        assert _records.find_socket(socks[0].fileno() + 10_000) is None
    finally:
        for sock in socks:
            sock.close()
        _recording.deactivate()
