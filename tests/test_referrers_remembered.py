"""One verdict, few heap scans: the searches of one stop share the referrers
they ask the collector for.

Deciding on a leaked thread asks three questions of the same few objects:
is what it waits on held only by itself (settling), is it held by a global
through attributes (a singleton), and why is its owner alive (the chain).
Each walk up the heap is one scan of the whole heap a level; within one
stop, what one asked is answered again to the next (``remembering``), and
forgotten wherever the heap may have moved (a wait).  These cases show the
answers stay the collector's, and the look-alikes the shortcuts must not
hide: a global that also holds the thread, a holder added after a wait.
"""

from __future__ import annotations

import gc
import sys
import threading
import types
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

import leakwatch
from leakwatch._attribution.referrers import forget, referrers_of, remembering
from leakwatch._attribution.singletons import singletons


class _Box:
    def __init__(self, value: object) -> None:
        self.value = value


#: Where the scans of the heap are counted while a test runs (the audit
#: event the collector's search raises: a wrapper around it would add its
#: own argument tuple to what 3.13 reports).
_COUNTING: list[list[int]] = []


def _count_scans(event: str, args: tuple[object, ...]) -> None:
    if _COUNTING and event == "gc.get_referrers":
        _COUNTING[-1].append(len(args[0]) if args and isinstance(args[0], tuple) else 1)


sys.addaudithook(_count_scans)  # once for the session: a hook cannot be removed


@pytest.fixture
def scans() -> Iterator[list[int]]:
    """How many objects each scan of the heap asked about."""
    asked: list[int] = []
    _COUNTING.append(asked)
    try:
        yield asked
    finally:
        _COUNTING.remove(asked)


def _ids(objs: list[object]) -> set[int]:
    return set(map(id, objs))


def test_within_one_verdict_an_objects_referrers_are_asked_once(scans: list[int]) -> None:
    target = _Box(None)  # tracked: an untracked object's holders may be untracked too
    box = _Box(target)
    kept: list[object] = []
    with remembering():
        first = referrers_of((target,), kept, set())
        again = referrers_of((target,), kept, set())
        assert len(scans) == 1
        assert _ids(first) == _ids(again)
        assert any(ref is box or ref is vars(box) for ref in first)
        later = _Box(target)
        # Until the heap may have moved (a wait), the answer is the same ...
        assert not any(
            ref is later or ref is vars(later) for ref in referrers_of((target,), kept, set())
        )
        forget()
        # ... and after it, the collector is asked again.
        found = referrers_of((target,), kept, set())
        assert any(ref is later or ref is vars(later) for ref in found)
        assert len(scans) == 2
    kept.clear()
    # Outside a stop nothing is remembered: each walk asks.
    referrers_of((target,), [], set())
    referrers_of((target,), [], set())
    assert len(scans) == 4


def test_what_is_remembered_is_no_ones_referrer_and_one_scan_answers_many(
    scans: list[int],
) -> None:
    a, b = _Box(None), _Box(None)
    both = _Box((a, b))  # a tuple that refers to both: one referrer of each
    holder = _Box(a)
    kept: list[object] = []
    mine: set[int] = {id(kept)}  # the test's own containers (the lists returned)
    with remembering():
        pair = referrers_of((a, b), kept, mine)
        assert len(scans) == 1
        assert sum(ref is both.value for ref in pair) == 1  # each referrer once
        # Asked again one by one: no scan, each its own.
        of_a = referrers_of((a,), kept, mine)
        of_b = referrers_of((b,), kept, mine)
        assert len(scans) == 1
        assert any(ref is holder or ref is vars(holder) for ref in of_a)
        assert not any(ref is holder or ref is vars(holder) for ref in of_b)
        # The tuple's referrers, asked now, are the box alone: the lists
        # that remember it as a referrer of ``a`` and ``b`` are leakwatch's.
        up = [r for r in referrers_of((both.value,), kept, mine) if id(r) not in mine]
        assert up and all(r is both or r is vars(both) for r in up), [type(r) for r in up]
    kept.clear()


@pytest.fixture
def parked_thread() -> Iterator[tuple[threading.Thread, weakref.ref[threading.Event]]]:
    """A thread parked on an event only it holds, ended at teardown."""
    event = threading.Event()
    thread = threading.Thread(target=event.wait, args=(60,), name="parked-alone", daemon=True)
    thread.start()
    ref = weakref.ref(event)
    del event
    try:
        yield thread, ref
    finally:
        left = ref()
        if left is not None:
            left.set()
        thread.join(10)


def test_a_parked_thread_nothing_else_holds_is_judged_in_two_scans(
    scans: list[int], parked_thread: tuple[threading.Thread, weakref.ref[threading.Event]]
) -> None:
    # Started outside the block, so the leak is the one made inside it.
    with leakwatch.watch(on_leak="report", settle_budget=5.0) as w:
        event = threading.Event()
        threading.Thread(target=event.wait, args=(60,), name="leaked", daemon=True).start()
        waker = weakref.ref(event)
        del event
        scans.clear()
    try:
        assert w.report is not None
        assert [leak.kind for leak in w.report.leaks] == ["thread"], w.report.leaks
        assert "singleton" not in w.report.leaks[0].details
        # Settling's walk up from its event (with the thread asked about in
        # the same scan), then the one link only a scan can settle (a
        # ``with`` block's bound ``__exit__``); the singleton question and
        # the chain are answered from them.  Seven scans before.
        assert len(scans) <= 3, scans
    finally:
        left = waker()
        if left is not None:
            left.set()


def test_a_threads_frames_variables_are_no_attributes_but_a_global_still_is(
    scans: list[int], parked_thread: tuple[threading.Thread, weakref.ref[threading.Event]]
) -> None:
    thread, _ = parked_thread
    frame: types.FrameType | None = sys._current_frames()[thread.ident]  # type: ignore[index]
    while frame is not None:
        frame.f_locals  # noqa: B018 -- where kept (3.10-3.12), a dict holding ``self``
        frame = frame.f_back
    # Held by its own frames (and the thread state): no singleton, and no
    # walk up from the frames' dicts (one scan, not three).
    assert singletons([thread], time_budget=10.0) == {}
    assert len(scans) == 1
    module = types.ModuleType("lw_frames_variables")
    sys.modules[module.__name__] = module
    try:
        module.WORKER = _Box(thread)
        assert singletons([thread], time_budget=10.0) == {
            id(thread): "lw_frames_variables.WORKER.value"
        }
    finally:
        del sys.modules[module.__name__]


def test_the_same_leak_again_is_no_singleton_without_a_scan_unless_held_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scans: list[int]
) -> None:
    # A suite leaking the same way in every test: the same stack makes a
    # socket a module list keeps (a list in a dict: no reference count of
    # the maker's globals' lists proves it, a scan must).  Proved no
    # singleton once, the next one of that shape is not searched again; one
    # of the same stack kept by an attribute of a global is (a chain of
    # another shape), and is one.
    (tmp_path / "lw_same_leak.py").write_text(
        "import socket\n\nSTORE = {'kept': []}\n\n\nclass Holder:\n    sock = None\n\n\n"
        "HOLDER = Holder()\n\n\n"
        "def keep(where):\n    sock = socket.socket()\n"
        "    if where == 'list':\n        STORE['kept'].append(sock)\n"
        "    else:\n        HOLDER.sock = sock\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import lw_same_leak  # type: ignore[import-not-found]

    seen: list[tuple[int, list[str]]] = []
    try:
        for where in ("list", "attribute", "list"):
            scans.clear()
            with leakwatch.watch(on_leak="report") as w:
                lw_same_leak.keep(where)
            assert w.report is not None
            leaks = [*w.report.leaks, *w.report.info]
            singleton = [leak.details.get("singleton") for leak in leaks if leak.kind == "fd"]
            seen.append((len(scans), singleton))
    finally:
        for sock in (*lw_same_leak.STORE["kept"], lw_same_leak.HOLDER.sock):
            if sock is not None:
                sock.close()
        sys.modules.pop("lw_same_leak", None)
    (first, in_list), (_, by_attribute), (again, in_list_again) = seen
    assert in_list == [None] and in_list_again == [None]
    assert by_attribute == ["lw_same_leak.HOLDER.sock"]
    assert first >= 1 and again == 0, seen


class _SetsOnCollect:
    """A garbage cycle whose finaliser sets an event."""

    def __init__(self, event: threading.Event) -> None:
        self.me, self.event = self, event

    def __del__(self) -> None:
        self.event.set()


def test_what_is_remembered_never_outlives_a_gc_pass() -> None:
    # A referrer the searches found may be garbage, whose finaliser ends the
    # leftover (sets the event a parked thread waits on, closes a socket):
    # every leakwatch gc pass lets go of what was remembered first.
    from leakwatch._engine.collect import collect

    event = threading.Event()
    kept: list[object] = []
    mine: set[int] = {id(kept)}
    enabled = gc.isenabled()
    gc.disable()  # the cycle stays garbage until the pass below
    try:
        _SetsOnCollect(event)
        with remembering():
            found = referrers_of((event,), kept, mine)
            assert any(
                isinstance(r, _SetsOnCollect) or "me" in getattr(r, "keys", list)() for r in found
            )
            del found
            kept.clear()  # only what was remembered holds the garbage now
            collect()
            assert event.is_set()
    finally:
        if enabled:
            gc.enable()
