"""Settling: patient where waiting can help, within the budget the user gave."""

from __future__ import annotations

import _thread
import contextlib
import gc
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import leakwatch


def test_a_long_settle_budget_is_used_whole_not_cut_by_the_attempts() -> None:
    # A worker that releases its pipe 3 s after the block: within a 5 s budget.
    def release(r: int, w: int) -> None:
        time.sleep(3.0)
        os.close(r)
        os.close(w)

    with leakwatch.watch(on_leak="report", settle_budget=5.0) as patient:
        r, w = os.pipe()
        threading.Thread(target=release, args=(r, w), name="releaser").start()
    assert patient.report is not None
    assert patient.report.leaks == []


def test_what_waiting_cannot_release_is_still_reported_with_a_long_budget() -> None:
    keep: list[int] = []
    with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
        keep.extend(os.pipe())  # nobody will close these
    try:
        assert w.report is not None
        assert [leak.kind for leak in w.report.leaks] == ["fd"]
        assert w.report.leaks[0].count == 2
    finally:
        for fd in keep:
            os.close(fd)


def test_a_descriptor_a_helper_thread_closes_soon_after_is_not_a_leak() -> None:
    # The same look-alike with the default budget: the thread keeps settling patient.
    def release(fd: int) -> None:
        time.sleep(0.1)
        os.close(fd)

    with leakwatch.watch(on_leak="report") as w:
        fd = os.open(os.devnull, os.O_RDONLY)
        threading.Thread(target=release, args=(fd,)).start()
    assert w.report is not None
    assert w.report.leaks == []


def test_what_the_known_list_takes_out_is_not_waited_for_and_still_listed() -> None:
    # An idle pool worker that lives 10 s (anyio's, asyncio's executor): no
    # wait changes its verdict, so settling does not spend its budget on it.
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, name="asyncio_0", daemon=True)
    with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
        worker.start()
    try:
        assert w.report is not None
        assert w.report.leaks == []
        assert [leak.kind for leak in w.report.known] == ["thread"]
        assert w.report.stats["settle_attempts"] <= 2  # set aside after the first wait
    finally:
        stop.set()
        worker.join(5)


class _FullPasses:
    """Counts full gc passes (generation 2) while it is on."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info.get("generation") == 2:
            self.count += 1

    def __enter__(self) -> _FullPasses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def test_a_leftover_that_stands_still_costs_one_full_gc_pass() -> None:
    # On a large heap a full pass costs a tenth of a second: a leaky test must
    # not pay one per settle attempt.  Young passes are enough after the first.
    passes = _FullPasses()
    with leakwatch.watch(on_leak="report") as w:
        path = tempfile.mkdtemp()  # nobody removes it
        gc.callbacks.append(passes)
    gc.callbacks.remove(passes)
    try:
        assert w.report is not None
        assert [leak.kind for leak in w.report.leaks] == ["tempfile"]
        assert passes.count == 1
    finally:
        os.rmdir(path)


def test_a_thread_that_outlives_the_budget_costs_one_full_gc_pass() -> None:
    stop = threading.Event()
    passes = _FullPasses()
    with leakwatch.watch(on_leak="report", settle_budget=0.3) as w:
        threading.Thread(target=stop.wait, name="lingering").start()
        gc.callbacks.append(passes)
    gc.callbacks.remove(passes)
    stop.set()
    assert w.report is not None
    assert [leak.kind for leak in w.report.leaks] == ["thread"]
    assert passes.count == 1


def test_a_socket_in_an_old_garbage_cycle_is_still_closed_by_the_full_pass() -> None:
    # The look-alike: garbage the young passes cannot see (the cycle outlived
    # a collection inside the block, so it is in the oldest generation).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with leakwatch.watch(on_leak="report") as w:
            sock = socket.socket()
            cycle: list[object] = [sock]
            cycle.append(cycle)
            gc.collect()  # the cycle, still reachable, moves to the oldest generation
            del sock, cycle
    assert w.report is not None
    assert w.report.leaks == []
    assert any("garbage collector" in info.title for info in w.report.info), w.report.info


def test_what_no_thread_could_release_is_judged_without_waiting() -> None:
    # Only this thread runs, and a full gc pass left the pipe: nothing can
    # close it, so settling stops there instead of watching it stand still.
    keep: list[int] = []
    with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
        keep.extend(os.pipe())
    try:
        assert w.report is not None
        assert [leak.kind for leak in w.report.leaks] == ["fd"]
        assert w.report.stats["settle_attempts"] <= 2, w.report.stats
    finally:
        for fd in keep:
            os.close(fd)


def test_a_thread_older_than_the_block_may_still_close_what_it_left() -> None:
    # The look-alike: a server thread started before the block closes the
    # block's descriptor a moment after it ends (it saw its client go).
    handed: list[int] = []
    got = threading.Event()

    def server() -> None:
        got.wait(10)
        time.sleep(0.02)  # well inside the still window (0.1 s): not a race
        os.close(handed[0])

    thread = threading.Thread(target=server, name="old-server")
    thread.start()
    try:
        with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
            handed.append(os.open(os.devnull, os.O_RDONLY))
            got.set()
        assert w.report is not None
        assert w.report.leaks == [], w.report.stats
    finally:
        got.set()
        thread.join(10)


def _busy(seconds: float) -> None:
    """Work that holds a CPU but not the GIL (hashing a large buffer)."""
    data = b"x" * (1 << 20)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        hashlib.sha256(data).digest()


def test_a_busy_thread_may_still_close_what_the_block_left() -> None:
    # The look-alike: a worker busy with the block's request (on a loaded
    # machine, one waiting for a CPU) closes its descriptor when it is done,
    # later than the still window: it could act all along, so settling waits.
    handed: list[int] = []
    got = threading.Event()

    def worker() -> None:
        got.wait(10)
        _busy(0.4)
        os.close(handed[0])

    thread = threading.Thread(target=worker, name="busy-worker")
    thread.start()
    try:
        with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
            handed.append(os.open(os.devnull, os.O_RDONLY))
            got.set()
        assert w.report is not None
        assert w.report.leaks == []
    finally:
        got.set()
        thread.join(10)


def test_a_descriptor_kept_beside_a_busy_thread_is_still_reported() -> None:
    # The leak beside it: the busy thread never touches it.
    keep: list[int] = []
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            _busy(0.05)

    thread = threading.Thread(target=worker, name="busy-worker")
    thread.start()
    try:
        with leakwatch.watch(on_leak="report", settle_budget=1.0) as w:
            keep.append(os.open(os.devnull, os.O_RDONLY))
        assert w.report is not None
        assert [leak.kind for leak in w.report.leaks] == ["fd"]
    finally:
        stop.set()
        thread.join(10)
        for fd in keep:
            os.close(fd)


KEPT: list[socket.socket] = []


def test_a_socket_a_global_holds_costs_no_gc_pass_and_says_what_holds_it() -> None:
    # Held from a module global: no collection can free it, and the chain that
    # shows it is found once, before any pass, and reported.
    passes = _FullPasses()
    with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
        KEPT.append(socket.socket())
        gc.callbacks.append(passes)
    gc.callbacks.remove(passes)
    try:
        assert w.report is not None
        [leak] = w.report.leaks
        assert leak.kind == "fd" and leak.details["held_by"] == f"{__name__}.KEPT[0]"
        assert passes.count == 0
    finally:
        KEPT.pop().close()


def test_a_socket_a_global_holds_that_a_server_closes_on_eof_is_not_a_leak() -> None:
    # The look-alike of the leak beside it: a server thread, woken by its
    # client's end closing (runnable, not asleep), closes the socket a module
    # global holds a moment after the block.
    ready = threading.Event()

    def server() -> None:
        ready.wait(10)
        conn = KEPT[-1]
        conn.recv(1)  # b"": the client went
        conn.close()

    thread = threading.Thread(target=server, name="eof-server")
    thread.start()
    try:
        with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
            client, conn = socket.socketpair()
            KEPT.append(conn)
            ready.set()
            time.sleep(0.01)  # the server is in recv()
            client.close()
        assert w.report is not None
        assert w.report.leaks == [], w.report.stats
    finally:
        ready.set()
        thread.join(10)
        KEPT.pop().close()


@contextlib.contextmanager
def _idle_worker() -> Iterator[None]:
    """An idle pool worker (trio's thread cache, anyio's) beside the block:
    asleep in a timed lock acquire, ending by itself later, so not parked."""
    idle = threading.Lock()
    idle.acquire()
    worker = threading.Thread(target=idle.acquire, kwargs={"timeout": 10}, name="idle worker")
    worker.start()
    try:
        yield
    finally:
        idle.release()
        worker.join()


def test_a_socket_a_global_holds_is_judged_without_waiting_for_a_sleeping_worker() -> None:
    # Nothing gave the idle worker the socket to close, and a module global
    # holds it.  Its look-alike, a socket a sleeping helper closes a moment
    # later from its own frame, is not a leak
    # (test_a_descriptor_a_helper_thread_closes_soon_after_is_not_a_leak).
    with _idle_worker():
        try:
            with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
                KEPT.append(socket.socket())
            assert w.report is not None
            [leak] = w.report.leaks
            assert leak.kind == "fd" and leak.details["held_by"] == f"{__name__}.KEPT[0]"
            assert w.report.stats["settle_attempts"] <= 2, w.report.stats
        finally:
            KEPT.pop().close()


class _ClosesKept:
    """A garbage cycle whose finaliser closes the socket a module global
    keeps (a response that closes its pool's connection when collected)."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        KEPT.pop().close()


@pytest.mark.parametrize("beside", ["nothing", "an idle worker", "promoted"])
def test_a_socket_a_global_holds_that_a_dropped_cycles_finaliser_closes_is_not_a_leak(
    beside: str,
) -> None:
    # The look-alike of the two tests above: the same socket in the same
    # module list, but the block also dropped a reference cycle whose
    # finaliser closes it.  A gc pass runs that finaliser before any verdict
    # on what a global holds, with an idle worker beside the block or not,
    # and when the cycle was still referred to as a collection moved it to
    # the oldest generation (a young pass does not reach it there).
    worker = _idle_worker() if beside == "an idle worker" else contextlib.nullcontext()
    with worker, leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
        KEPT.append(socket.socket())
        cycle = _ClosesKept()
        if beside == "promoted":
            gc.collect(1)
        del cycle
    assert w.report is not None and not w.report.leaks, w.report.leaks
    assert not KEPT


def test_the_older_collections_a_watch_starts_from_are_never_above_the_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A watch's start reads the count cheaply (the collector's counters),
    # the statistics only when an older generation may have been collected
    # since; compared at the end, a count that is not above the true one
    # can only ask for the full pass, never skip it.
    from leakwatch._engine import collect

    junk: list[object] = []
    for generation in (None, 0, 1, 2, None, 1, None):
        if generation is not None:
            gc.collect(generation)
        junk.extend([] for _ in range(2000))
        assert collect.older_mark() <= collect.older_collections()
    gc.collect(1)
    assert collect.older_mark() == collect.older_collections()
    read: list[int] = []
    real = collect.older_collections
    monkeypatch.setattr(collect, "older_collections", lambda: read.append(1) or real())
    gc.disable()
    try:
        collect.older_mark()
        collect.older_mark()
    finally:
        gc.enable()
    assert len(read) <= 1  # the statistics, at most once: nothing was collected


def test_the_older_collections_are_read_again_after_a_full_pass() -> None:
    # A full pass leaves the collector's counters as the last one did: the
    # count that started a watch after it, kept, was stale from then on, and
    # every leaky block's settling (a full pass each) kept it stale, asking
    # each next block for a full pass where a young one would do.  Beside
    # it, with nothing collected since, the answer kept stays right.
    from leakwatch._engine import collect

    for full_pass in (collect.collect, gc.collect):
        full_pass()
        assert collect.older_mark() == collect.older_collections()
        gc.collect(1)
        full_pass()
        assert collect.older_mark() == collect.older_collections()
        assert collect.older_mark() == collect.older_collections()


def test_a_thread_in_a_wait_longer_than_the_budget_is_judged_without_the_budget() -> None:
    # Event.wait(60) has a timeout, but it cannot end within the 3 s budget:
    # the thread started in the block, so its wait began after the watch.
    # Beside it, an older idle worker in a long timed wait whose start was
    # seen.  The look-alike, a thread whose 0.1 s wait ends while settling
    # looks, is not a leak (test_parked_threads_another_thread_wakes_soon_after_are_not_leaks).
    never, stop = threading.Event(), threading.Event()
    with leakwatch.watch(on_leak="report"):  # its start is seen
        worker = threading.Thread(target=stop.wait, args=(30,), name="idle worker")
        worker.start()
    try:
        with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
            threading.Thread(target=never.wait, args=(60,), name="long wait", daemon=True).start()
        never.set()
        assert w.report is not None
        assert [leak.kind for leak in w.report.leaks] == ["thread"]
        assert w.report.stats["settle_attempts"] <= 4, w.report.stats
    finally:
        stop.set()
        worker.join()


def test_a_thread_parked_on_an_event_only_it_holds_is_judged_without_the_budget() -> None:
    # Nothing but the thread's own target holds its event: no other thread
    # can wake it, whatever the idle worker beside it does (settling cannot
    # tell what that one will do).  The look-alike: an event a sleeping
    # helper holds and sets a moment later is waited for.
    with _idle_worker():
        event = threading.Event()
        only_its = weakref.ref(event)  # ends it afterwards, holding nothing
        with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
            threading.Thread(target=event.wait, args=(60,), name="alone", daemon=True).start()
            del event
        assert w.report is not None
        assert [leak.kind for leak in w.report.leaks] == ["thread"]
        assert w.report.stats["settle_attempts"] <= 4, w.report.stats
        left = only_its()
        assert left is not None
        left.set()

        go = threading.Event()

        def helper() -> None:
            time.sleep(0.3)
            go.set()

        with leakwatch.watch(on_leak="report", settle_budget=3.0) as woken:
            threading.Thread(target=go.wait, args=(60,), name="woken").start()
            threading.Thread(target=helper, name="helper").start()
        assert woken.report is not None
        assert woken.report.leaks == []


class _SetsOnCollect:
    """A garbage cycle whose finaliser sets the event a parked thread waits on."""

    def __init__(self, event: threading.Event) -> None:
        self.me, self.event = self, event

    def __del__(self) -> None:
        self.event.set()


@pytest.mark.parametrize("beside", ["nothing", "an idle worker"])
def test_a_thread_a_dropped_cycles_finaliser_wakes_is_not_a_leak(beside: str) -> None:
    # The look-alike of the test above: the thread's event is held by its
    # target and by a reference cycle the block dropped, whose finaliser sets
    # it.  A gc pass runs that finaliser before "only the thread holds it".
    with _idle_worker() if beside != "nothing" else contextlib.nullcontext():
        event = threading.Event()
        with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
            thread = threading.Thread(target=event.wait, args=(60,), name="woken", daemon=True)
            thread.start()
            _SetsOnCollect(event)
            del event
        assert w.report is not None and w.report.leaks == [], w.report.leaks
        thread.join(10)


WAKE = threading.Event()


@pytest.mark.parametrize("waiting", [0, 80])
def test_a_thread_parked_on_what_a_global_holds_costs_no_full_gc_pass(waiting: int) -> None:
    # A worker parked on a module-level event, nothing else able to run: no
    # collection wakes it, as none closes a socket a module list keeps.  The
    # young pass and the walk up from its event say so, with no full pass
    # (tens of ms on a large heap), however many threads wait on the same
    # event (more than a level of the walk takes).  The look-alikes below:
    # a dropped cycle's finaliser sets it, young or promoted.
    parked_before = [
        threading.Thread(target=WAKE.wait, name=f"waiting {n}", daemon=True) for n in range(waiting)
    ]
    try:
        for thread in parked_before:
            thread.start()
        # The collector's own passes switched off: an allocation anywhere in
        # describing may start a full one, which is not leakwatch's.
        with _Passes() as passes, leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
            threading.Thread(target=WAKE.wait, name="parked", daemon=True).start()
        assert w.report is not None
        [leak] = w.report.leaks
        assert leak.kind == "thread" and "'parked'" in leak.title, leak.title
        assert 2 not in passes.generations, (passes.generations, w.report.stats)
    finally:
        WAKE.set()
        WAKE.clear()


@pytest.mark.parametrize("beside", ["nothing", "promoted"])
def test_a_thread_parked_on_what_a_global_holds_that_a_finaliser_sets_is_not_a_leak(
    beside: str,
) -> None:
    # The look-alike: the same global event, and a reference cycle the block
    # dropped whose finaliser sets it; moved to the oldest generation while
    # still referred to (a young pass does not reach it there), or not.
    held = threading.Event()
    KEPT_EVENTS.append(held)
    try:
        with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
            thread = threading.Thread(target=held.wait, name="woken", daemon=True)
            thread.start()
            cycle = _SetsOnCollect(held)
            if beside == "promoted":
                gc.collect(1)
            del cycle
        assert w.report is not None and w.report.leaks == [], w.report.leaks
        thread.join(10)
    finally:
        KEPT_EVENTS.clear()


KEPT_EVENTS: list[threading.Event] = []


def test_what_only_a_parked_thread_holds_is_told_so_with_one_heap_scan() -> None:
    # The bound ``__exit__`` of the ``with`` its wait runs in is a referrer
    # of the event's condition that nothing visible holds (the thread's
    # stack): counted as the parked thread's, not looked up in a second
    # scan.  Beside it, a bound ``__exit__`` of the same condition that a
    # module list keeps is one more than the threads parked on it: a holder.
    # The scans are counted as the collector's calls (a Python wrapper
    # around it would add its own argument tuple to the referrers, 3.13).
    scans: list[int] = []

    def count(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call" and arg is gc.get_referrers:
            scans.append(1)

    with _parked_on_its_own() as (probe, ref, event):
        sys.setprofile(count)
        try:
            alone = _alone(probe, ref)
        finally:
            sys.setprofile(None)
        assert alone
        # A Python profile hook has every frame keep its variables in a dict
        # (3.10), leakwatch's own among them: one more level to scan there.
        assert len(scans) == 1 or (sys.version_info < (3, 11) and len(scans) == 2), scans
        KEPT_EXITS.append(event()._cond.__exit__)  # type: ignore[union-attr]
        try:
            assert not _alone(probe, ref)
        finally:
            KEPT_EXITS.clear()


KEPT_EXITS: list[object] = []


def test_a_thread_whose_event_is_set_is_not_parked_before_it_is_scheduled() -> None:
    # Set, its thread is on its way out of the wait, however long until it
    # runs: on a loaded machine longer than settling looks, and a verdict
    # then ("nothing but itself holds what it waits on") was a false leak.
    # Beside it, the same thread before the set is parked.
    from leakwatch._probes.wakers import parked

    event = threading.Event()
    thread = threading.Thread(target=event.wait, name="to be woken", daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not parked(thread) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert parked(thread)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(30.0)  # this thread keeps running: the woken one waits its turn
    try:
        event.set()
        woken = not parked(thread)
        unscheduled = thread.is_alive()
    finally:
        sys.setswitchinterval(interval)
    thread.join(5)
    assert woken and unscheduled


def _alone(probe: Any, ref: weakref.ref[threading.Thread]) -> bool:
    """Whether the probe says only the parked thread holds what it waits on."""
    from leakwatch._probes.protocol import ALONE, OWN

    return _holders(probe, ref) in (OWN, ALONE)


def _holders(probe: Any, ref: weakref.ref[threading.Thread]) -> str | None:
    return probe.waker_holders(("py",), ref, 3.0)  # type: ignore[no-any-return]


@contextlib.contextmanager
def _parked_on_its_own() -> Iterator[
    tuple[Any, weakref.ref[threading.Thread], weakref.ref[threading.Event]]
]:
    """A thread parked on an event only its target holds: the thread probe,
    a reference to the thread and one to its event; the event set after."""
    from leakwatch._probes.threads import ThreadProbe
    from leakwatch._probes.wakers import parked

    event = threading.Event()
    thread = threading.Thread(target=event.wait, name="alone", daemon=True)
    thread.start()
    only_its = weakref.ref(event)
    del event
    try:
        deadline = time.monotonic() + 5
        while not parked(thread) and time.monotonic() < deadline:
            time.sleep(0.01)
        gc.collect()
        yield ThreadProbe(), weakref.ref(thread), only_its
    finally:
        left = only_its()
        if left is not None:
            left.set()
        thread.join(10)


def test_what_only_a_parked_thread_holds_is_told_so_on_every_python() -> None:
    # The walk up the referrers stops at the thread itself; its own argument
    # tuple (3.13 reports it) is no holder.  Once the test holds the event
    # too, another thread could set it.
    from leakwatch._probes.protocol import OWN

    with _parked_on_its_own() as (probe, ref, event):
        assert _holders(probe, ref) == OWN
        held = event()  # a variable of this running frame
        assert not _alone(probe, ref)
        del held


class _Holds:
    """A reference cycle holding an object."""

    def __init__(self, held: object) -> None:
        self.me, self.held = self, held


def test_what_garbage_also_holds_is_the_parked_threads_alone_only_after_a_gc_pass() -> None:
    # Met on the walk up, a dropped cycle holding the event has nothing above
    # it either, but it is not on the thread's way down to the event: its
    # finaliser might set it, so the answer needs a gc pass first.  Once the
    # pass freed it, only the thread's own objects are left.
    from leakwatch._probes.protocol import ALONE, OWN

    with _parked_on_its_own() as (probe, ref, event):
        gc.disable()
        try:
            _Holds(event())
            assert _holders(probe, ref) == ALONE
            gc.collect()
            assert _holders(probe, ref) == OWN
        finally:
            gc.enable()


class _Passes:
    """Counts gc passes by generation, the collector's own switched off (so
    each is a call)."""

    def __init__(self) -> None:
        self.generations: list[int] = []

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.generations.append(info["generation"])

    def __enter__(self) -> _Passes:
        gc.disable()
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)
        gc.enable()


@pytest.mark.parametrize("older", ["no older collection", "an older collection"])
def test_a_thread_parked_on_an_event_only_it_holds_costs_no_full_gc_pass(older: str) -> None:
    # Its own target holds its event, and nothing else: every object on the
    # way is one the thread holds, none garbage, so no pass could set it.
    # Where an older generation was collected during the block (a full pass
    # would be next: a tenth of a second on a large heap), no pass at all;
    # else the young pass runs first, as for anything a global holds.  The
    # look-alike: the same thread whose event a dropped cycle also holds and
    # sets as it is collected
    # (test_a_thread_a_dropped_cycles_finaliser_wakes_is_not_a_leak).
    event = threading.Event()
    only_its = weakref.ref(event)
    try:
        with _Passes() as passes, leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
            threading.Thread(target=event.wait, args=(60,), name="alone", daemon=True).start()
            del event
            if older != "no older collection":
                gc.collect(1)
            ran = len(passes.generations)
        assert w.report is not None
        [leak] = w.report.leaks
        assert leak.kind == "thread" and "'alone'" in leak.title, leak.title
        settling = passes.generations[ran:]
        assert settling == ([] if older != "no older collection" else [1]), w.report.stats
    finally:
        left = only_its()
        if left is not None:
            left.set()


EVENTS: list[threading.Event] = []


def test_a_waker_a_global_also_holds_is_not_left_to_the_thread_alone() -> None:
    # The walk up from what a parked thread waits on finds the referrers of
    # the thread's own objects (its target's event among them) in one scan:
    # a module list holding that event too is still a holder.
    with _parked_on_its_own() as (probe, ref, event):
        assert _alone(probe, ref)
        EVENTS.append(event())  # type: ignore[arg-type]
        try:
            assert not _alone(probe, ref)
        finally:
            EVENTS.clear()
        assert _alone(probe, ref)


class _CheckedLock:
    """A lock whose ``acquire`` is Python code, as a checker of blocking calls
    in event loops makes it: a parked thread's last frame is then its own."""

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    __enter__ = acquire

    def __exit__(self, *exc: object) -> None:
        self.release()


@pytest.mark.parametrize("wrapped", [False, True], ids=["lock", "wrapped-lock"])
def test_a_thread_parked_on_an_event_nobody_can_set_is_judged_without_the_budget(
    wrapped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parked with no timeout, and no other thread runs to wake it: waiting
    # the 3 s budget would change nothing.  Also when the lock it waits on
    # has a Python ``acquire`` (its last frame is then not the wait's).
    if wrapped:
        monkeypatch.setattr(threading, "_allocate_lock", _CheckedLock)
    never = threading.Event()
    with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
        threading.Thread(target=never.wait, name="parked", daemon=True).start()
    never.set()
    assert w.report is not None
    assert [leak.kind for leak in w.report.leaks] == ["thread"]
    assert w.report.stats["settle_attempts"] <= 4, w.report.stats


def test_parked_threads_another_thread_wakes_soon_after_are_not_leaks() -> None:
    # The look-alikes: one waits with a timeout; another is parked until a
    # third, sleeping (not parked), wakes it a moment after the block.
    go = threading.Event()

    def waker() -> None:
        time.sleep(0.1)
        go.set()

    with leakwatch.watch(on_leak="report", settle_budget=2.0) as w:
        threading.Thread(target=threading.Event().wait, args=(0.1,), name="timed").start()
        threading.Thread(target=go.wait, name="woken").start()
        threading.Thread(target=waker, name="waker").start()
    assert w.report is not None
    assert w.report.leaks == []


def test_settling_records_nothing_of_its_own_look_at_the_threads() -> None:
    # Whether another thread could still act is read from /proc: leakwatch's
    # own opens, never a creation record (nor in any watch's snapshot).  An
    # outer watch keeps the records while the inner one is judged.
    from leakwatch._attribution import records

    keep: list[int] = []
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait, args=(10,), name="helper")
    helper.start()
    try:
        with leakwatch.watch(on_leak="report"):
            with leakwatch.watch(on_leak="report", settle_budget=0.3) as w:
                keep.append(os.open(os.devnull, os.O_RDONLY))
            own = [
                rec.made_by
                for rec in list(records.fds.values())
                if str(rec.made_by).startswith("/proc/self/task")
            ]
            assert w.report is not None
            assert [leak.kind for leak in w.report.leaks] == ["fd"]
            assert own == []
    finally:
        stop.set()
        helper.join(10)
        for fd in keep:
            os.close(fd)


@pytest.mark.parametrize("held", ["by the thread alone", "by a module list too"])
def test_what_holds_a_thread_parked_on_its_own_event_is_told_without_a_search(
    held: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Settling found nothing but the thread holds its event (its target's
    # object): the chain shown is read from the thread's own frames, the one
    # the search of the heap finds, with no search (O(threads) and the heap
    # on a large suite).  The look-alike: a module list holds the event too;
    # searched, and the chain names the list.
    from leakwatch._attribution.whyalive import find_chains
    from leakwatch._engine import chains

    searched: list[int] = []
    real = chains.find_chains

    def counted(targets: list[Any], budget: float) -> dict[int, str]:
        searched.extend(map(id, targets))
        return real(targets, budget)

    monkeypatch.setattr(chains, "find_chains", counted)
    event = threading.Event()
    only_its = weakref.ref(event)
    if held != "by the thread alone":
        KEPT_EVENTS.append(event)
    try:
        with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
            threading.Thread(target=event.wait, args=(60,), name="alone", daemon=True).start()
            del event
        assert w.report is not None
        [leak] = w.report.leaks
        chain = leak.details.get("held_by", "")
        target = only_its()
        assert target is not None
        if held == "by the thread alone":
            assert id(target) not in searched
            assert chain == find_chains([target])[id(target)], chain
            assert chain.startswith("frame of wait() in "), chain
            assert chain.endswith("(thread 'alone') local 'self'"), chain
        else:
            assert id(target) in searched
            assert "KEPT_EVENTS" in chain, chain
    finally:
        KEPT_EVENTS.clear()
        left = only_its()
        if left is not None:
            left.set()


def test_a_thread_parked_on_a_global_of_the_script_watching_costs_no_full_gc_pass(
    tmp_path: Path,
) -> None:
    # A watch in a script's own module code: that frame's variables are the
    # module's globals (3.13 gives a frame's variables as a copy, never the
    # namespace itself), so its event is held by a module global, not by a
    # running frame: judged after the young pass, with no full one, on
    # every Python.
    script = tmp_path / "parked_on_a_global.py"
    script.write_text(
        textwrap.dedent(
            """
            import gc, threading
            import leakwatch

            EVENT = threading.Event()
            FULL = []


            def count(phase, info):
                if phase == "start" and info["generation"] == 2:
                    FULL.append(1)


            gc.callbacks.append(count)
            with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
                threading.Thread(target=EVENT.wait, name="parked", daemon=True).start()
            gc.callbacks.remove(count)
            print(len(w.report.leaks), len(FULL))
            EVENT.set()
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert out.stdout.split() == ["1", "0"], (out.stdout, out.stderr[-2000:])


def test_what_only_a_collection_could_end_is_looked_at_again_only_after_a_young_pass(
    tmp_path: Path,
) -> None:
    # Nothing else runs (a script of its own: no runner's threads) and what
    # is left is a descriptor: only a finaliser could close it, so the young
    # gc pass comes before the second look, and a root holding its socket
    # ends settling there: two looks, no wait.  Beside it the look-alike:
    # the same socket in the same global, closed by a dropped cycle's
    # finaliser, which that pass runs before the look.
    script = tmp_path / "only_a_collection.py"
    script.write_text(
        textwrap.dedent(
            """
            import gc, socket
            import leakwatch
            from leakwatch._engine.snapshot import Snapshots

            KEPT, LOOKS, PASSES = [], [], []
            look = Snapshots.snapshot
            Snapshots.snapshot = lambda self: LOOKS.append(1) or look(self)
            gc.callbacks.append(lambda go, at: go == "start" and PASSES.append(at["generation"]))


            class ClosesKept:
                def __init__(self):
                    self.me = self

                def __del__(self):
                    KEPT.pop().close()


            for closed in (False, True):
                with leakwatch.watch(on_leak="report", settle_budget=3.0) as w:
                    KEPT.append(socket.socket())
                    if closed:
                        ClosesKept()
                    del LOOKS[:], PASSES[:]
                print(len(w.report.leaks), len(LOOKS), PASSES, w.report.stats["settle_attempts"])
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert out.stdout.splitlines() == ["1 2 [1] 0", "0 2 [1] 0"], (out.stdout, out.stderr[-2000:])
