"""One bad probe, resource or usage never costs the whole report (issue 11).

Each test has the fault it injects and, beside it, the leak that must still
be found (or the clean block that must stay clean).
"""

from __future__ import annotations

import _thread
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from support import of_kind, titles
from support.plugin_runs import outcomes, prepare, run, write

import leakwatch
from leakwatch._attribution import recording as _recording
from leakwatch._base import linux_proc
from leakwatch._base import platform as _platform
from leakwatch._engine import describe as _describe
from leakwatch._engine import snapshot as _snapshot


class _RaisingRepr:
    """A thread target whose repr raises (as a half-built object's may)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def __call__(self) -> None:
        self.stop.wait()

    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


class _NoDaemon(threading.Thread):
    """A thread whose ``daemon`` cannot be read once running: no probe can describe it."""

    armed = False

    @property  # type: ignore[override]
    def daemon(self) -> bool:
        if self.armed:
            raise RuntimeError("daemon exploded")
        return True

    @daemon.setter
    def daemon(self, value: bool) -> None:
        pass


def _watches_on() -> tuple[bool, int]:
    """What a watch turns on while active: tracemalloc, and the hooks' counter
    (an outer watch, under ``make test``, keeps its own share on)."""
    return tracemalloc.is_tracing(), _recording._active


def _no_internal_error(report: leakwatch.Report | None) -> None:
    assert report is not None
    assert not [n for n in report.notes if "internal error" in n], report.notes


# -- 1: one resource -----------------------------------------------------------------


def test_thread_whose_target_repr_raises_is_reported_beside_a_socket() -> None:
    stop = threading.Event()
    t = threading.Thread(target=_RaisingRepr(stop), name="bad-repr", daemon=True)
    try:
        with leakwatch.watch(on_leak="report", settle_budget=0.05) as w:
            sock = socket.socket()
            t.start()
        _no_internal_error(w.report)
        assert len(of_kind(w.report, "fd")) == 1
        (thread,) = of_kind(w.report, "thread")
        assert "'bad-repr'" in thread.title
        assert "_RaisingRepr" in thread.details["target"]
    finally:
        stop.set()
        t.join()
        sock.close()


@pytest.mark.parametrize("name", [None, 42])
def test_a_thread_whose_name_is_not_text_does_not_blind_the_watch(name: object) -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    other._name = name  # type: ignore[assignment]  # as some libraries do
    try:
        with leakwatch.watch(on_leak="report") as w:
            sock = socket.socket()
        _no_internal_error(w.report)
        assert len(of_kind(w.report, "fd")) == 1
        assert not of_kind(w.report, "thread")  # it was there before: not the block's
        sock.close()
        with leakwatch.watch(on_leak="report", settle_budget=0.05) as w:
            late = threading.Thread(target=stop.wait, daemon=True)
            late.start()
            late._name = name  # type: ignore[assignment]
        (leak,) = of_kind(w.report, "thread")
        assert repr(name) in leak.title
    finally:
        stop.set()
        other.join()


def test_a_leftover_that_cannot_be_described_is_reported_by_identity() -> None:
    stop = threading.Event()
    t = _NoDaemon(target=stop.wait, name="undescribable")
    try:
        with leakwatch.watch(on_leak="report", settle_budget=0.05) as w:
            sock = socket.socket()
            t.start()
            t.armed = True
        assert w.report is not None
        assert len(of_kind(w.report, "fd")) == 1  # the rest of the report stands
        (thread,) = of_kind(w.report, "thread")
        assert str(t.ident) in thread.title and "not described" in thread.title
        assert "daemon exploded" in thread.details["origin_note"]
        assert any("thread: 1 leftover(s) could not be described" in n for n in w.report.notes)
    finally:
        t.armed = False
        stop.set()
        t.join()
        sock.close()


# -- 3: one probe -----------------------------------------------------------------------


@pytest.mark.skipif(not _platform.HAVE_PROC, reason="reads /proc")
def test_unreadable_proc_costs_the_fd_and_process_probes_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_platform, "_PROC_FD", str(tmp_path / "no-proc" / "fd"))
    monkeypatch.setattr(linux_proc, "_PROC", str(tmp_path / "no-proc"))
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="still-seen", daemon=True)
    try:
        with leakwatch.watch(on_leak="report", settle_budget=0.05) as w:
            sock = socket.socket()
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
            t.start()
        assert w.report is not None
        assert [leak.details["name"] for leak in of_kind(w.report, "thread")] == ["still-seen"]
        assert not of_kind(w.report, "fd") and not of_kind(w.report, "process")
        notes = "\n".join(w.report.notes)
        assert "fd: the probe failed (FileNotFoundError" in notes
        assert "process: the probe failed (FileNotFoundError" in notes
        _no_internal_error(w.report)
    finally:
        stop.set()
        t.join()
        sock.close()
        child.kill()
        child.wait()


def _leave_a_socket_and_a_temp_dir(patch: Callable[[], None]) -> tuple[leakwatch.Report, str]:
    kept: list[socket.socket] = []
    made = ""
    try:
        with leakwatch.watch(on_leak="report", settle_budget=0.05) as w:
            patch()
            kept.append(socket.socket())
            made = tempfile.mkdtemp(prefix="lw-patched-os-")
        assert w.report is not None
        return w.report, made
    finally:
        for sock in kept:
            sock.close()
        if made:
            os.rmdir(made)


def test_a_suites_patches_of_os_neither_see_nor_blind_leakwatchs_looks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A checker of blocking calls (blockbuster: it walks the stack on every
    call inside an event loop, and raises) or a fake file system patches
    ``os`` while tests run.  leakwatch's looks go to the system directly:
    the suite's patches are never called by them, and the socket and the
    temp dir the block leaves are found all the same (the same block is
    watched first unpatched: what leakwatch imports or reads once, it has)."""
    calls: list[str] = []

    def refuse(name: str) -> Callable[..., object]:
        def patched(*args: object, **kwargs: object) -> object:
            calls.append(name)
            raise OSError(f"os.{name} is patched out by the suite")

        return patched

    def patch() -> None:
        for name in ("listdir", "stat", "lstat", "fstat", "readlink", "scandir"):
            monkeypatch.setattr(os, name, refuse(name))

    for each in (lambda: None, patch):
        try:
            report, made = _leave_a_socket_and_a_temp_dir(each)
        finally:
            monkeypatch.undo()
        _no_internal_error(report)
        assert not report.notes
        assert [leak.title.split(" ")[0] for leak in of_kind(report, "fd")] == ["socket"]
        assert [leak.details["path"] for leak in of_kind(report, "tempfile")] == [made]
    assert calls == []


# -- 2: internal errors under -W error -----------------------------------------------------


def _break_grouping(monkeypatch: pytest.MonkeyPatch) -> None:
    """The injected fault: a step every watch's end runs fails (describing
    is asked even when nothing is left: what ended during the watch as a
    leak)."""

    def broken(*args: object, **kwargs: object) -> list[leakwatch.Leak]:
        raise MemoryError("injected")

    monkeypatch.setattr(_describe.Describer, "describe", broken)


def test_internal_error_never_replaces_the_blocks_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _break_grouping(monkeypatch)
    before = _watches_on()
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("error")
        with pytest.raises(KeyError) as info, leakwatch.watch() as w:
            raise KeyError("the user's own")
        assert info.value.__context__ is None and info.value.__cause__ is None
        assert info.value.args == ("the user's own",)
        with leakwatch.watch() as w2:  # a clean block stays an uneventful block
            pass
    for watched in (w, w2):
        assert watched.report is not None
        assert any("internal error in watch stop: MemoryError" in n for n in watched.report.notes)
    # Shown (pytest records it for its summary; stderr elsewhere), never raised.
    assert [w.category for w in shown] == [leakwatch.LeakwatchInternalWarning] * 2
    assert _watches_on() == before


def test_internal_error_notice_honours_an_ignore_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    _break_grouping(monkeypatch)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("ignore", leakwatch.LeakwatchInternalWarning)
        with leakwatch.watch() as w:
            pass
    assert w.report is not None and w.report.notes
    assert shown == []


PLUGIN_FAULTS = """
import socket, threading
import pytest

class Target:
    def __init__(self, stop):
        self.stop = stop
    def __call__(self):
        self.stop.wait()
    def __repr__(self):
        raise RuntimeError("repr exploded")

STOP = threading.Event()
NAMELESS = threading.Thread(target=STOP.wait, daemon=True)
NAMELESS.start()
NAMELESS._name = None

def test_one():
    pass

def test_leaks_a_socket_beside_a_bad_thread():
    global KEEP
    KEEP = socket.socket()
    threading.Thread(target=Target(STOP), daemon=True).start()

def test_two():
    pass

def test_three():
    pass
"""


def test_plugin_keeps_outcomes_when_a_resource_is_hostile(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(pytester, monkeypatch)
    write(pytester, "test_faults.py", PLUGIN_FAULTS)
    result = run(pytester, "--leakwatch", "--leakwatch-settle=0.05", "-W", "error")
    found = outcomes(result)
    assert found == {
        "test_one": {"PASSED"},
        "test_two": {"PASSED"},
        "test_three": {"PASSED"},
        "test_leaks_a_socket_beside_a_bad_thread": {"FAILED"},
    }, result.stdout.str()
    text = result.stdout.str()
    assert "socket" in text and "Target" in text
    assert "KeyError" not in text and "internal error" not in text


PLUGIN_INTERNAL = """
from leakwatch._engine import describe as _describe
def broken(*args, **kwargs):
    raise MemoryError("injected")

_describe.Describer.describe = broken  # for the whole (subprocess) run

def test_passes():
    pass

def test_fails():
    assert 1 == 2
"""


def test_plugin_internal_error_under_filterwarnings_error_changes_no_outcome(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(pytester, monkeypatch)
    pytester.makefile(
        ".ini",
        pytest="[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n",
    )
    write(pytester, "test_internal.py", PLUGIN_INTERNAL)
    result = run(pytester, "--leakwatch")
    assert outcomes(result) == {"test_passes": {"PASSED"}, "test_fails": {"FAILED"}}
    text = result.stdout.str()
    assert "assert 1 == 2" in text
    assert "LeakwatchInternalWarning" in text and "MemoryError: injected" in text


# -- 4: generators ----------------------------------------------------------------------------


def test_watch_decorates_a_generator_for_its_whole_iteration() -> None:
    kept: list[socket.socket] = []

    @leakwatch.watch
    def leaky() -> Iterator[int]:
        yield 1
        kept.append(socket.socket())  # made while iterating, after the first item
        yield 2

    @leakwatch.watch
    def tidy() -> Iterator[int]:
        yield 1
        with socket.socket():
            yield 2
        return None

    assert list(tidy()) == [1, 2]
    with pytest.raises(leakwatch.LeakError) as info:
        list(leaky())
    assert len(of_kind(info.value.report, "fd")) == 1
    kept[0].close()

    @leakwatch.watch(on_leak="report")
    def echo() -> Iterator[int]:
        got = yield 0
        while True:
            got = yield got * 2

    gen = echo()
    assert next(gen) == 0 and gen.send(21) == 42  # send reaches the generator
    gen.close()


def test_watch_decorates_an_async_generator_for_its_whole_iteration() -> None:
    kept: list[socket.socket] = []

    @leakwatch.watch
    async def leaky() -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(0)
        kept.append(socket.socket())
        yield 2

    @leakwatch.watch
    async def tidy() -> AsyncIterator[int]:
        yield 1
        with socket.socket():
            yield 2

    @leakwatch.watch(on_leak="report")
    async def echo() -> AsyncIterator[int]:
        got = yield 0
        while True:
            got = yield got * 2

    async def main() -> None:
        assert [i async for i in tidy()] == [1, 2]
        with pytest.raises(leakwatch.LeakError) as info:
            [i async for i in leaky()]
        assert len(of_kind(info.value.report, "fd")) == 1
        gen = echo()
        assert await gen.__anext__() == 0 and await gen.asend(21) == 42
        await gen.aclose()

    asyncio.run(main())
    kept[0].close()


# -- 5: one watch object entered twice ----------------------------------------------------------


def test_a_watch_entered_twice_says_so_and_the_outer_one_still_judges() -> None:
    before = _watches_on()
    w = leakwatch.watch(on_leak="report", kinds=("fd", "heap"))
    with w:
        with pytest.raises(RuntimeError, match="already watching"), w:
            pass
        sock = socket.socket()
    assert len(of_kind(w.report, "fd")) == 1
    sock.close()
    assert _watches_on() == before
    with w:  # usable again once it ended
        pass
    assert w.report is not None and w.report.clean


def test_a_watch_entered_from_two_threads_at_once_refuses_the_second() -> None:
    before = _watches_on()
    w = leakwatch.watch(on_leak="report")
    inside, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        with w:
            inside.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    try:
        assert inside.wait(10)
        try:
            with w:
                pass
        except RuntimeError as exc:
            errors.append(exc)
    finally:
        release.set()
        t.join()
    assert len(errors) == 1 and "already watching" in str(errors[0])
    assert w.report is not None and w.report.clean
    assert _watches_on() == before


# -- 7: other threads working meanwhile ---------------------------------------------------------


def test_another_threads_watches_are_not_this_watchs_leaks() -> None:
    stop = threading.Event()

    def churn() -> None:  # leakwatch listing /proc, over and over, in another thread
        while not stop.is_set():
            with leakwatch.watch(on_leak="report"):
                pass

    t = threading.Thread(target=churn, daemon=True)
    t.start()
    try:
        reports = []
        for _ in range(150):
            with leakwatch.watch(on_leak="report", kinds=("fd",)) as w:
                pass
            reports.append(w.report)
        assert [titles(r.leaks) for r in reports if r is not None and r.leaks] == []
        with leakwatch.watch(on_leak="report", kinds=("fd",)) as w:
            sock = socket.socket()  # the look-alike: a real leak beside the churn
        assert len(of_kind(w.report, "fd")) == 1
        assert any("other thread(s) were alive" in n for n in w.report.notes)
        sock.close()
    finally:
        stop.set()
        t.join()


def test_tasks_others_start_while_a_watch_settles_are_not_the_blocks() -> None:
    async def main() -> None:
        stop = asyncio.Event()

        async def spawner() -> None:  # not the block's: started before it
            while not stop.is_set():
                asyncio.ensure_future(asyncio.sleep(0.001))  # noqa: RUF006 - short-lived on purpose
                await asyncio.sleep(0)

        background = asyncio.ensure_future(spawner())
        await asyncio.sleep(0)
        try:
            # The spawner's tasks pending as a block ends finish within a loop
            # turn or two, which on a busy machine (and under PYTHONDEVMODE)
            # can outlast the default budget.  A watch ends as soon as they
            # have finished: a long budget costs nothing when clean.
            for _ in range(20):
                async with leakwatch.watch(
                    on_leak="report", kinds=("task",), settle_budget=30.0
                ) as w:
                    await asyncio.sleep(0)
                assert w.report is not None and not w.report.leaks, titles(w.report.leaks)
            hold = asyncio.Event()
            # This one waits its whole budget for the block's own task.
            async with leakwatch.watch(on_leak="report", kinds=("task",), settle_budget=5.0) as w:
                mine = asyncio.ensure_future(hold.wait())  # the block's own, still pending
            assert len(of_kind(w.report, "task")) == 1, titles(w.report.leaks)
            hold.set()
            await mine
        finally:
            stop.set()
            await background
            await asyncio.sleep(0.01)

    asyncio.run(main())


# -- 8: many leaks ----------------------------------------------------------------------------


def test_many_leaks_are_all_counted_and_what_the_budget_cut_is_said(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_describe, "DESCRIBE_BUDGET", 0.0)
    kept: list[socket.socket] = []
    try:
        with leakwatch.watch(on_leak="report", kinds=("fd",)) as w:
            kept.extend(socket.socket() for _ in range(300))
        assert sum(leak.count for leak in of_kind(w.report, "fd")) == 300
        assert any("300 of 300 leftovers were not described" in n for n in w.report.notes)
    finally:
        for s in kept:
            s.close()


def test_many_leaks_search_one_why_alive_chain_per_group() -> None:
    kept: list[socket.socket] = []
    try:
        with leakwatch.watch(on_leak="report", kinds=("fd",)) as w:
            kept.extend(socket.socket() for _ in range(200))
            other = socket.socket()
        leaks = of_kind(w.report, "fd")
        assert sum(leak.count for leak in leaks) == 201
        assert all(leak.details.get("held_by") for leak in leaks), [leak.details for leak in leaks]
    finally:
        for s in kept:
            s.close()
        other.close()


def test_engine_locks_are_released_after_a_watch() -> None:
    # Another thread's watch must be able to take the lock the moment this one ends.
    with leakwatch.watch(on_leak="report"):
        pass
    assert _snapshot.OWN_IO.acquire(timeout=1)
    _snapshot.OWN_IO.release()
    time.sleep(0)


def test_recording_in_a_thread_threading_did_not_start_leaves_threading_as_it_was() -> None:
    # execnet's workers run on _thread.start_new_thread; threading.current_thread()
    # there registers a _DummyThread for good: the program's active_count() and
    # enumerate() would change because leakwatch recorded a socket.
    done = threading.Event()
    made: list[socket.socket] = []

    def worker() -> None:
        made.append(socket.socket())
        os.close(os.dup(made[0].fileno()))
        done.set()

    before = threading.active_count()
    with leakwatch.watch(on_leak="report") as w:
        _thread.start_new_thread(worker, ())
        assert done.wait(10)
    made[0].close()
    assert threading.active_count() == before
    assert w.report is not None
    assert [leak.kind for leak in w.report.leaks] == ["fd"]  # the socket, still seen


def test_a_dummy_thread_python_registered_is_neither_joined_nor_a_leak() -> None:
    # Python itself registers a _DummyThread when a thread it did not start
    # makes a Thread (Thread.__init__ asks current_thread() for the daemon
    # flag); it outlives that thread.  The thread that ended is no leak, and
    # settling must not try to join its stand-in.
    done = threading.Event()

    def worker() -> None:
        threading.Thread(target=lambda: None).start()
        done.set()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The native thread is listed until it has exited, which on a loaded
        # machine can take longer than the default budget; a clean watch ends
        # as soon as it is clean, so the long budget costs nothing otherwise.
        with leakwatch.watch(on_leak="report", settle_budget=10.0) as w:
            _thread.start_new_thread(worker, ())
            assert done.wait(10)
    internal = [c for c in caught if issubclass(c.category, leakwatch.LeakwatchInternalWarning)]
    assert internal == [], [str(c.message) for c in internal]
    assert w.report is not None
    assert w.report.leaks == [], str(w.report)
    # The look-alike that is a leak: a native thread still running.
    stop = threading.Event()
    with leakwatch.watch(on_leak="report") as running:
        _thread.start_new_thread(stop.wait, ())
    stop.set()
    assert running.report is not None
    assert [leak.kind for leak in running.report.leaks] == ["thread"]
