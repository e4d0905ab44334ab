"""The process probe: a running child and a zombie are leaks; a child run to
completion, or dropped and reaped while settling, is not."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
import warnings

import psutil
import pytest
from support import of_kind

import leakwatch

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX commands and zombies")


def _wait_exited_unreaped(pid: int) -> None:
    """Block until the child exits, leaving it a zombie (WNOWAIT: not reaped)."""
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


# -- leaks -------------------------------------------------------------------------


def test_running_child_is_a_leak() -> None:
    proc = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            proc = subprocess.Popen(["sleep", "30"])
        (leak,) = of_kind(w.report, "process")
        assert leak.count == 1
        assert leak.details["pid"] == proc.pid
        assert leak.details["cmdline"] == ["sleep", "30"]
        assert leak.details["status"] not in ("zombie", "gone")
        assert str(proc.pid) in leak.title and "sleep 30" in leak.title
        assert leak.origin
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def test_raise_policy_fails_on_a_running_child() -> None:
    proc = None
    try:
        with pytest.raises(leakwatch.LeakError) as info, leakwatch.watch(on_leak="raise"):
            proc = subprocess.Popen(["sleep", "30"])
        assert [leak.details["pid"] for leak in of_kind(info.value.report, "process")] == [proc.pid]
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def test_zombie_is_a_leak() -> None:
    """A child that exited but was never waited for, its Popen still referenced."""
    proc = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            proc = subprocess.Popen(["true"])
            _wait_exited_unreaped(proc.pid)
        (leak,) = of_kind(w.report, "process")
        assert leak.details["pid"] == proc.pid
        assert leak.details["status"] == "zombie"
        assert "zombie" in leak.title
        assert proc.returncode is None, "leakwatch must not reap a child the program still holds"
    finally:
        if proc is not None:
            proc.wait()


def test_a_zombie_nothing_reaps_is_judged_without_the_budget_one_about_to_be_is_no_leak() -> None:
    """A child that exited and was never waited for ends only when this
    process reaps it: with no thread at work on it, waiting out a 3 s budget
    changes nothing.  The look-alike beside it: a zombie another thread
    reaps a moment later (a watcher thread's wait) is not a leak."""
    kept = reaper = None
    try:
        with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
            kept = subprocess.Popen(["true"])
            _wait_exited_unreaped(kept.pid)
        assert w.report is not None
        assert [leak.details["status"] for leak in of_kind(w.report, "process")] == ["zombie"]
        assert w.report.stats["settle_attempts"] < 10, w.report.stats

        with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
            reaped = subprocess.Popen(["true"])
            _wait_exited_unreaped(reaped.pid)
            reaper = threading.Thread(target=lambda: time.sleep(0.02) or reaped.wait())
            reaper.start()
        assert w.report is not None and w.report.clean, str(w.report)
    finally:
        if kept is not None:
            kept.wait()
        if reaper is not None:
            reaper.join()


def test_multiprocessing_process_not_joined_is_a_leak() -> None:
    ctx = multiprocessing.get_context("fork")
    proc = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            with leakwatch.watch(on_leak="report") as w:
                proc = ctx.Process(target=time.sleep, args=(30,), name="lw-mp-child")
                proc.start()
        leaks = of_kind(w.report, "process")
        assert [leak.details["pid"] for leak in leaks] == [proc.pid]
        assert leaks[0].origin, "the fork is recorded"
    finally:
        if proc is not None:
            proc.terminate()
            proc.join()
            proc.close()


# -- look-alikes that must stay silent ---------------------------------------------


def test_subprocess_run_is_silent() -> None:
    with leakwatch.watch(on_leak="report") as w:
        assert subprocess.run(["true"], check=True).returncode == 0
        out = subprocess.run(["echo", "hi"], capture_output=True, check=True).stdout
    assert out == b"hi\n"
    assert w.report is not None and w.report.clean, str(w.report)


def test_popen_dropped_without_wait_is_reaped_and_silent() -> None:
    with warnings.catch_warnings():
        # Popen.__del__ warns "subprocess N is still running" and queues it for reaping.
        warnings.simplefilter("ignore", ResourceWarning)
        with leakwatch.watch(on_leak="report") as w:
            subprocess.Popen(["true"])
    assert w.report is not None and w.report.clean, str(w.report)


def test_popen_waited_in_the_block_is_silent() -> None:
    with leakwatch.watch(on_leak="report") as w:
        proc = subprocess.Popen(["sleep", "30"])
        proc.kill()
        proc.wait()
    assert w.report is not None and w.report.clean, str(w.report)


def test_multiprocessing_process_joined_is_silent() -> None:
    ctx = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with leakwatch.watch(on_leak="report") as w:
            proc = ctx.Process(target=abs, args=(-1,))
            proc.start()
            proc.join()
            proc.close()
    assert w.report is not None and w.report.clean, str(w.report)


def test_only_this_process_s_exited_children_wait_to_be_reaped_by_it() -> None:
    """What settling asks of a leftover child (``unreaped_child``): a zombie
    of ours, yes; a running child, no; a zombie grandchild is its parent's
    to reap (that child runs), no."""
    from leakwatch._base.platform import unreaped_child

    zombie = subprocess.Popen(["true"])
    parent = subprocess.Popen(["sh", "-c", "true & exec sleep 30"])  # never reaps its `true`
    try:
        _wait_exited_unreaped(zombie.pid)
        deadline = time.monotonic() + 10
        grandchildren: list[int] = []
        while time.monotonic() < deadline and not grandchildren:
            kids = psutil.Process(parent.pid).children()
            grandchildren = [k.pid for k in kids if k.status() == psutil.STATUS_ZOMBIE]
            time.sleep(0.01)
        assert grandchildren, "the grandchild never exited"
        assert unreaped_child(zombie.pid) is True
        assert unreaped_child(parent.pid) is False
        assert unreaped_child(grandchildren[0]) is False
    finally:
        zombie.wait()
        parent.kill()
        parent.wait()


def test_a_zombies_popen_is_found_with_one_heap_scan_a_stop_and_a_new_one_with_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A zombie's command line is gone from ``/proc``: its ``Popen``, found by
    a scan of the heap, tells it.  Each look and the description ask again;
    the scan's answer stands while no child was started since (recording
    counts every start), so a stop scans once.  Beside it, the next watch's
    zombie, started after that scan, is found by a new one."""
    from leakwatch._probes import processes

    scans: list[int] = []
    scan = processes._popen_objects
    monkeypatch.setattr(processes, "_popen_objects", lambda: scans.append(1) or scan())
    kept: list[subprocess.Popen[bytes]] = []
    try:
        found = []
        # The first stop of a process imports what describing uses: not counted.
        for argv in (["true", "warm"], ["true", "first"], ["true", "second"]):
            before = len(scans)
            with leakwatch.watch(kinds=["process"], on_leak="report", settle_budget=3.0) as w:
                kept.append(subprocess.Popen(argv))
                _wait_exited_unreaped(kept[-1].pid)
            assert w.report is not None
            (leak,) = of_kind(w.report, "process")
            found.append((leak.details["status"], leak.details["cmdline"], len(scans) - before))
        assert found[1:] == [("zombie", ["true", "first"], 1), ("zombie", ["true", "second"], 1)]
    finally:
        for child in kept:
            child.wait()
