"""The thread probe: a thread left blocked is a leak; threads that end on
their own, pools shut down or dropped, asyncio's reused default executor and
a library's import-time singleton are not."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import multiprocessing
import multiprocessing.queues
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support import of_kind, titles

import leakwatch


def _threads_named(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


# -- leaks -------------------------------------------------------------------------


@pytest.mark.parametrize("daemon", [False, True])
def test_thread_blocked_on_an_event_is_a_leak(daemon: bool) -> None:
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="blocked-on-event", daemon=daemon)
    try:
        with leakwatch.watch(on_leak="report") as w:
            t.start()
        (leak,) = of_kind(w.report, "thread")
        assert leak.count == 1
        assert "'blocked-on-event'" in leak.title
        assert ("(daemon)" if daemon else "(non-daemon)") in leak.title
        assert "waiting in threading." in leak.title  # where it is blocked now
        assert leak.details["name"] == "blocked-on-event"
        assert leak.details["daemon"] is daemon
        assert leak.details["target"] == "threading.Event.wait"
        assert leak.details["ident"] == t.ident
        assert leak.origin
    finally:
        stop.set()
        t.join()


def test_raise_policy_fails_on_a_leaked_thread() -> None:
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="raise-on-thread")
    try:
        with pytest.raises(leakwatch.LeakError) as info, leakwatch.watch(on_leak="raise"):
            t.start()
        assert [leak.details["name"] for leak in of_kind(info.value.report, "thread")] == [
            "raise-on-thread"
        ]
    finally:
        stop.set()
        t.join()


def test_executor_never_shut_down_leaks_its_worker() -> None:
    ex = ThreadPoolExecutor(1, thread_name_prefix="never-shut")
    try:
        with leakwatch.watch(on_leak="report") as w:
            assert ex.submit(sum, [1, 2]).result() == 3
        (leak,) = of_kind(w.report, "thread")
        assert "never-shut" in leak.title
        assert "never shut down" in leak.title
    finally:
        ex.shutdown(wait=True)


# -- look-alikes that must stay silent ---------------------------------------------


def test_thread_ending_shortly_after_the_block_is_silent() -> None:
    t = threading.Thread(target=time.sleep, args=(0.02,), name="ends-soon")
    try:
        with leakwatch.watch(on_leak="report") as w:
            t.start()
        assert w.report is not None and w.report.clean, str(w.report)
    finally:
        t.join()


def test_cancelled_timer_is_silent() -> None:
    fired = []
    timer = threading.Timer(30, fired.append, args=(1,))
    try:
        with leakwatch.watch(on_leak="report") as w:
            timer.start()
            timer.cancel()
        assert w.report is not None and w.report.clean, str(w.report)
        assert fired == []
    finally:
        timer.cancel()
        timer.join()


def test_executor_shut_down_is_silent() -> None:
    with leakwatch.watch(on_leak="report") as w, ThreadPoolExecutor(3) as ex:
        assert list(ex.map(abs, [-1, -2, -3])) == [1, 2, 3]
    assert w.report is not None and w.report.clean, str(w.report)


def test_executor_dropped_and_finalised_is_silent() -> None:
    """Dropping the last reference wakes the workers and they exit."""
    with leakwatch.watch(on_leak="report") as w:
        ex = ThreadPoolExecutor(2, thread_name_prefix="dropped-pool")
        assert ex.submit(pow, 2, 10).result() == 1024
        del ex
    try:
        assert w.report is not None and w.report.clean, str(w.report)
    finally:
        gc.collect()
        for t in _threads_named("dropped-pool_0") + _threads_named("dropped-pool_1"):
            t.join()


def test_executor_freed_only_by_the_cyclic_gc_is_silent() -> None:
    """An executor caught in a reference cycle: only the collector finalises it."""
    gc.disable()
    try:
        with leakwatch.watch(on_leak="report") as w:
            holder: dict[str, object] = {
                "ex": ThreadPoolExecutor(1, thread_name_prefix="cyclic-pool")
            }
            holder["self"] = holder
            assert holder["ex"].submit(pow, 3, 2).result() == 9  # type: ignore[attr-defined]
            del holder
    finally:
        gc.enable()
        gc.collect()
        for t in _threads_named("cyclic-pool_0"):
            t.join()
    assert w.report is not None and w.report.clean, str(w.report)


def test_asyncio_default_executor_reused_is_not_a_leak() -> None:
    """The loop's default executor starts its worker inside the first block and
    keeps it for the next: information, never a leak."""
    loop = asyncio.new_event_loop()

    async def twice() -> list[leakwatch.Report | None]:
        reports = []
        for n in range(2):
            async with leakwatch.watch(on_leak="report") as w:
                assert await loop.run_in_executor(None, abs, -n) == n
            reports.append(w.report)
        async with leakwatch.watch(on_leak="report") as w:
            assert await asyncio.to_thread(abs, -5) == 5
        reports.append(w.report)
        return reports

    try:
        first, second, third = loop.run_until_complete(twice())
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    for report in (first, second, third):
        assert report is not None and report.clean, str(report)
    # The first block did see the worker start: it is kept out of the leaks, not missed.
    assert first is not None
    kept_apart = of_kind(first, "thread", first.info + first.known)
    assert any("asyncio_0" in t for t in titles(kept_apart)), str(first)


def test_library_singleton_started_at_import_is_information(tmp_path: Path) -> None:
    (tmp_path / "lw_singleton_lib.py").write_text(
        textwrap.dedent(
            """
            import threading

            STOP = threading.Event()
            WORKER = threading.Thread(target=STOP.wait, name="lib-singleton", daemon=True)
            WORKER.start()
            """
        )
    )
    sys.path.insert(0, str(tmp_path))
    mod = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            mod = importlib.import_module("lw_singleton_lib")
        assert w.report is not None and w.report.clean, str(w.report)
        info = of_kind(w.report, "thread", w.report.info)
        assert any("'lib-singleton'" in t for t in titles(info)), str(w.report)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("lw_singleton_lib", None)
        if mod is not None:
            mod.STOP.set()
            mod.WORKER.join()


def test_multiprocessing_queue_feeder_is_a_known_library_thread() -> None:
    """A Queue starts its feeder thread on the first put() and keeps it."""
    q: multiprocessing.queues.Queue[int] = multiprocessing.get_context("fork").Queue()
    try:
        with leakwatch.watch(on_leak="report") as w:
            q.put(1)
            assert q.get(timeout=10) == 1
        assert w.report is not None and w.report.clean, str(w.report)
        known = of_kind(w.report, "thread", w.report.known)
        assert any("QueueFeederThread" in t for t in titles(known)), str(w.report)
    finally:
        q.close()
        q.join_thread()


def test_thread_joined_in_the_block_is_silent() -> None:
    with leakwatch.watch(on_leak="report") as w:
        out: list[int] = []
        t = threading.Thread(target=out.append, args=(7,))
        t.start()
        t.join()
    assert out == [7]
    assert w.report is not None and w.report.clean, str(w.report)


# -- threads no hook sees ----------------------------------------------------------


@contextlib.contextmanager
def _c_thread() -> Iterator[None]:
    """A thread C code starts (``pthread_create``, no Python call, no hook),
    running ``usleep(300 ms)``; joined on leaving."""
    import ctypes

    libc = ctypes.CDLL(None)
    handle = ctypes.c_ulong()
    sleeps = ctypes.cast(libc.usleep, ctypes.c_void_p)
    assert libc.pthread_create(ctypes.byref(handle), None, sleeps, ctypes.c_void_p(300_000)) == 0
    try:
        yield
    finally:
        assert libc.pthread_join(handle, None) == 0


def test_a_thread_c_code_starts_is_seen_though_python_started_none() -> None:
    """A thread C code starts (no Python call, no hook) is in the next look at
    the threads, as a native one, and gone from the one after it ends."""
    from leakwatch._probes.threads import ThreadProbe

    probe = ThreadProbe()
    first = probe.snapshot()
    with _c_thread():
        during = probe.snapshot()
    new = [key for key in during if key not in first]
    assert [key[0] for key in new] == ["native"], during
    after = probe.snapshot()  # it ended
    assert not [key for key in after if key not in first], after


def test_the_look_lists_the_os_threads_only_when_one_is_not_pythons(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the kernel counts the threads, a look that finds as many Python
    threads as the count lists nothing more (every one the OS runs is one of
    them); beside it, one C code started makes the count differ, and the
    look lists the threads and finds it."""
    from leakwatch._probes import threads as threads_probe

    if threads_probe.count_threads is None:
        pytest.skip("the kernel gives no thread count here")
    listed: list[int] = []
    real = threads_probe.list_native_threads

    def listing() -> set[int]:
        listed.append(1)
        return real()

    # Native threads an earlier test left (the suite runs in one process).
    others = [key for key in threads_probe.ThreadProbe().snapshot() if key[0] == "native"]
    monkeypatch.setattr(threads_probe, "list_native_threads", listing)
    probe = threads_probe.ThreadProbe()
    quiet = probe.snapshot()
    if others:
        assert listed, "a native thread runs, yet the look did not list the threads"
    else:
        assert not listed, "a look listed the threads though each one was Python's"
    assert [key for key in quiet if key[0] == "native"] == others
    listed.clear()
    with _c_thread():
        during = probe.snapshot()
    assert listed
    assert [key[0] for key in during if key not in quiet] == ["native"], during


def test_a_quiet_watch_takes_identities_without_an_audit_event() -> None:
    """A watch takes the identities of the running threads and of the
    modules it waits for at every start and look (under pytest, every test):
    none of them is an ``id()``, whose audit event would be a call into every
    audit hook of the process, leakwatch's own included."""
    program = textwrap.dedent(
        """
        import sys, leakwatch
        events = []
        with leakwatch.watch():  # the first watch installs leakwatch's hooks
            pass
        sys.addaudithook(lambda e, a: events.append(e) if e == "builtins.id" else None)
        with leakwatch.watch():
            pass
        print(len(events))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0", done.stdout


def test_the_looks_read_proc_past_a_patched_builtin_open(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A fake file system (pyfakefs) replaces the builtin ``open`` for the
    # test, and has no /proc: leakwatch's reads of it (a child's start and
    # its children, a thread's run state, a descriptor's flags) must not go
    # through it (psutil's own reads do: not leakwatch's to mend).  A parked
    # thread, a running child and an appending file are found and told as
    # without the patch.
    import builtins

    real_open = builtins.open
    asked: list[str] = []

    def fake_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if str(file).startswith("/proc") and caller.startswith("leakwatch."):
            asked.append(f"{caller}: {file}")
            raise FileNotFoundError(file)
        return real_open(file, *args, **kwargs)

    never = threading.Event()
    proc, kept = None, -1
    try:
        with leakwatch.watch(on_leak="report", settle_budget=2.0) as w:
            monkeypatch.setattr(builtins, "open", fake_open)
            proc = subprocess.Popen(["sleep", "30"])
            kept = os.open(tmp_path / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            threading.Thread(target=never.wait, name="parked", daemon=True).start()
        monkeypatch.undo()
        assert w.report is not None
        kinds = sorted(leak.kind for leak in w.report.leaks)
        assert kinds == ["fd", "process", "thread"], w.report.leaks
        [fd] = [leak for leak in w.report.leaks if leak.kind == "fd"]
        assert "append" in fd.title, fd.title
        assert not asked
    finally:
        monkeypatch.undo()
        never.set()
        if proc is not None:
            proc.kill()
            proc.wait()
        if kept >= 0:
            os.close(kept)


def test_whether_others_may_run_reads_no_state_of_a_parked_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Settling asks whether another thread is running or ready to run, one
    # file in /proc a thread: a process with hundreds of threads parked on
    # events (a suite leaking one a test) read hundreds a look.  A parked
    # thread is blocked until another wakes it: not read, and not runnable.
    # Beside them, a thread that spins is read, and runnable.
    from leakwatch._probes import others

    read: list[int] = []
    real = others.thread_runnable

    def counted(native_id: int) -> bool:
        read.append(native_id)
        return real(native_id)

    event, stop = threading.Event(), threading.Event()
    waiting = [threading.Thread(target=event.wait, name=f"parked {n}") for n in range(20)]
    for thread in waiting:
        thread.start()
    try:
        deadline = time.monotonic() + 10
        while not all(others.parked(t) for t in waiting) and time.monotonic() < deadline:
            time.sleep(0.01)
        monkeypatch.setattr(others, "thread_runnable", counted)
        assert others.others_runnable(1.0) is False
        assert not {t.native_id for t in waiting} & set(read)

        def spin() -> None:
            while not stop.is_set():
                pass

        busy = threading.Thread(target=spin, name="busy")
        busy.start()
        try:
            assert others.others_runnable(1.0) is True
            assert busy.native_id in read
        finally:
            stop.set()
            busy.join()
    finally:
        event.set()
        for thread in waiting:
            thread.join()
