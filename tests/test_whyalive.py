"""Why is it still alive: chains from real roots to real objects, and culprits."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import sys
import threading
import time
import weakref

from leakwatch._attribution.whyalive import culprits, find_chains

MOD = __name__  # "tests.test_whyalive" or "test_whyalive", as pytest imported us
HERE = __file__ if os.path.relpath(__file__).startswith("..") else os.path.relpath(__file__)


class Sock:
    pass


class Conn:
    def __init__(self, sock: object = None) -> None:
        self._sock = sock

    def on_data(self) -> None:
        pass


class Node:
    peer: Node | None = None


class Slotted:
    __slots__ = ("a",)


class Pool:
    idle: list[Conn] = []


class Link:
    def __init__(self, nxt: object) -> None:
        self.next = nxt


def _make_handler() -> object:
    secret = Sock()

    def handler() -> Sock:
        return secret

    return handler


def _with_default(sock: Sock = Sock()) -> Sock:  # noqa: B008 - the default is the point
    return sock


def _cycle() -> Node:
    a, b = Node(), Node()
    a.peer, b.peer = b, a
    return a


REGISTRY = {"main": Conn(Sock())}
HANDLER = _make_handler()
CALLBACKS = [Conn().on_data]
Pool.idle.append(Conn())
ANCHOR = {"cycle": _cycle()}
SLOTTED = Slotted()
SLOTTED.a = Sock()
BLOBS = [b"\x00" * 64]  # bytes are not tracked by gc: the search must not skip them
HEAD = Link(Link(Link(Link(Link(Link(Link(Link(Sock()))))))))
TIE: list[Sock] = []
NESTED: list[object] = [Sock()]
for _ in range(20):
    NESTED = [NESTED]


#: The search stops once it found its target: a test that knows the target is
#: reachable gives it time for the whole heap, however busy the machine (the
#: default half second is not, on a loaded one, for a pytest process's heap).
PATIENT = 60.0


def chain_of(obj: object, **kwargs: float) -> str | None:
    """The chain of ``obj``, with the test's own frames out of the way."""
    kwargs.setdefault("time_budget", PATIENT)
    return find_chains([obj], exclude=[sys._getframe(), sys._getframe(1)], **kwargs).get(id(obj))


def test_global_registry_then_attribute() -> None:
    assert chain_of(REGISTRY["main"]._sock) == f"{MOD}.REGISTRY['main'] -> Conn._sock"
    assert chain_of(REGISTRY["main"]) == f"{MOD}.REGISTRY['main']"


def test_closure_cell() -> None:
    secret = HANDLER.__closure__[0].cell_contents  # type: ignore[attr-defined]
    expected = f"{MOD}.HANDLER -> <closure var 'secret' of _make_handler.<locals>.handler>"
    assert chain_of(secret) == expected


def test_bound_method_in_a_callback_list() -> None:
    conn = CALLBACKS[0].__self__  # type: ignore[attr-defined]
    assert chain_of(conn) == f"{MOD}.CALLBACKS[0] -> bound method Conn.on_data"


def test_class_attribute() -> None:
    assert chain_of(Pool.idle[0]) == f"{MOD}.Pool.idle[0]"


def test_cycle_through_dict_still_held_by_a_global() -> None:
    a = ANCHOR["cycle"]
    assert chain_of(a.peer) == f"{MOD}.ANCHOR['cycle'] -> Node.peer"
    assert chain_of(a) == f"{MOD}.ANCHOR['cycle']"


def test_slots_defaults_and_untracked_targets() -> None:
    assert chain_of(SLOTTED.a) == f"{MOD}.SLOTTED -> Slotted.a"
    default = _with_default.__defaults__[0]  # type: ignore[index]
    assert chain_of(default) == f"{MOD}._with_default.__defaults__[0]"
    assert chain_of(BLOBS[0]) == f"{MOD}.BLOBS[0]"


def test_long_chains_are_elided_in_the_middle() -> None:
    end = HEAD.next.next.next.next.next.next.next.next  # type: ignore[attr-defined]
    expected = f"{MOD}.HEAD -> Link.next -> ... -> Link.next -> Link.next -> Link.next"
    assert chain_of(end) == expected
    assert chain_of(end, max_depth=4) is None  # 9 hops away
    inner = NESTED
    for _ in range(20):
        inner = inner[0]  # type: ignore[assignment]
    assert chain_of(inner[0]) is None  # 21 hops: beyond the default max_depth
    assert chain_of(inner[0], max_depth=30) == f"{MOD}.NESTED[0][0][0]...[0][0][0]"


def _poll(ready: threading.Event, release: threading.Event, out: list[object]) -> None:
    conn = Conn(Sock())
    out.append(weakref.ref(conn))
    ready.set()
    release.wait()  # blocked here while the test looks


def test_local_of_a_live_frame_in_another_thread() -> None:
    ready, release, out = threading.Event(), threading.Event(), list[object]()
    thread = threading.Thread(target=_poll, args=(ready, release, out), name="poller")
    thread.start()
    try:
        assert ready.wait(5)
        conn = out[0]()  # type: ignore[operator]
        lines, first = inspect.getsourcelines(_poll)
        line = first + next(i for i, text in enumerate(lines) if "release.wait()" in text)
        expected = f"frame of _poll() in {HERE}:{line} (thread 'poller') local 'conn'"
        assert chain_of(conn) == expected
        assert chain_of(conn._sock) == f"{expected} -> Conn._sock"  # type: ignore[union-attr]
    finally:
        release.set()
        thread.join(5)
    assert not thread.is_alive()


def test_ties_prefer_a_module_global_over_a_frame() -> None:
    TIE.append(Sock())
    box = [TIE[0]]  # as near as TIE[0], but from a frame
    try:
        assert find_chains([box[0]], time_budget=PATIENT).get(id(box[0])) == f"{MOD}.TIE[0]"
        TIE.clear()
        thread = threading.current_thread().name
        found = find_chains([box[0]], time_budget=PATIENT).get(id(box[0]))
        assert found is not None and found.endswith(f"(thread {thread!r}) local 'box'[0]")
    finally:
        TIE.clear()


def test_suspended_asyncio_task_local() -> None:
    async def serve(started: asyncio.Event) -> None:
        conn = Conn()
        started.set()
        await asyncio.sleep(10)
        del conn

    async def main() -> str | None:
        started = asyncio.Event()
        task = asyncio.create_task(serve(started), name="server")
        await started.wait()
        frame = task.get_coro().cr_frame  # type: ignore[union-attr]
        conn = frame.f_locals["conn"]
        try:
            return chain_of(conn)
        finally:
            del frame, conn
            task.cancel()

    found = asyncio.run(main())
    assert found is not None
    assert found.startswith("task 'server' coroutine serve() in ")
    assert found.endswith(" local 'conn'")


def test_an_unreachable_garbage_cycle_has_no_chain() -> None:
    gc.disable()  # keep the cycle uncollected while we look
    try:
        node = _cycle()
        assert chain_of(node.peer) is None
        assert chain_of(node) is None
    finally:
        gc.enable()


def test_the_search_keeps_nothing_alive() -> None:
    # This frame is excluded: on 3.11-3.12 reading a frame's f_locals leaves a
    # snapshot on it, which would pin pytest's assertion temporaries.
    TIE.append(Sock())
    ref = weakref.ref(TIE[0])
    try:
        assert chain_of(TIE[0]) == f"{MOD}.TIE[0]"
        assert chain_of(ref(), time_budget=0.0) is None
    finally:
        TIE.clear()
    assert ref() is None


def test_find_chains_stops_at_its_time_budget() -> None:
    global LONG
    end = Sock()
    node: list[object] = [end]
    for _ in range(300_000):  # one object per level: a full search takes seconds
        node = [node]
    LONG = node
    try:
        t0 = time.perf_counter()
        found = find_chains([end], max_depth=10**6, time_budget=0.05, exclude=[sys._getframe()])
        elapsed = time.perf_counter() - t0
    finally:
        del LONG, node
    assert found == {}
    assert elapsed < 5


def test_culprits_one_holder_of_nine() -> None:
    leaked = [Conn() for _ in range(10)]
    holder = leaked[3]
    victims = [c for c in leaked if c is not holder]
    holder._sock = list(victims)
    [(culprit, n_indirect, size)] = culprits(leaked)
    assert culprit is holder
    assert n_indirect == 9
    assert size == sum(map(sys.getsizeof, victims))


def test_culprits_cycles_and_independent_objects() -> None:
    a, b, lone = Node(), Node(), Node()
    a.peer, b.peer = b, a
    result = culprits([b, a, lone])
    assert [(obj, n) for obj, n, _ in result] == [(b, 1), (lone, 0)]
