"""Singletons: what a module global holds through attributes alone is one; what
it holds in a list, set, tuple or closure is a registry's or nobody's.

The search first asks the collector which targets anything could hold as an
attribute at all, so a leak kept in a module list costs one pass over the
heap instead of a walk of every module's attributes; and before that pass,
a target whose reference count shows no holder but the lists of the module
that made it (and leakwatch's own) costs none.  These cases show each
shortcut keeps every singleton it must find."""

from __future__ import annotations

import asyncio
import socket
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import of_kind
from support.loops import loop_id, loop_makers

import leakwatch
from leakwatch._attribution.singletons import singletons

#: The search walks every module's attributes, level by level, within a CPU
#: budget (0.2 s by default); late in a long suite the heap is large, and the
#: shapes, not the budget, are what these tests check.
BUDGET = 10.0


class _Holder:
    def __init__(self, value: object) -> None:
        self.value = value


class _Slotted:
    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class _Service:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def ping(self) -> None:
        pass


@pytest.fixture
def module() -> Iterator[types.ModuleType]:
    """A library module of its own, whose globals the search walks."""
    mod = types.ModuleType("lw_singleton_shapes")
    sys.modules[mod.__name__] = mod
    try:
        yield mod
    finally:
        del sys.modules[mod.__name__]


def test_attribute_chains_from_a_module_global_are_singletons(module: types.ModuleType) -> None:
    made = [socket.socket() for _ in range(5)]
    try:
        direct, in_dict, in_slot, via_method, in_class = made
        module.DIRECT = direct
        module.HOLDER = _Holder(_Holder(in_dict))
        module.SLOTTED = _Slotted(in_slot)
        module.CALLBACK = _Service(via_method).ping  # a bound method's object
        module.Config = type("Config", (), {"sock": in_class})
        found = singletons(made, time_budget=BUDGET)
        assert found == {
            id(direct): "lw_singleton_shapes.DIRECT",
            id(in_dict): "lw_singleton_shapes.HOLDER.value.value",
            id(in_slot): "lw_singleton_shapes.SLOTTED.value",
            id(via_method): "lw_singleton_shapes.CALLBACK.__self__.sock",
            id(in_class): "lw_singleton_shapes.Config.sock",
        }
    finally:
        for s in made:
            s.close()


def test_containers_and_closures_make_no_singleton(module: types.ModuleType) -> None:
    made = [socket.socket() for _ in range(5)]
    try:
        in_list, in_set, in_tuple, in_closure, in_registry = made
        module.KEPT = [in_list]
        module.SEEN = {in_set}
        module.PAIR = (in_tuple, None)

        def keeper() -> socket.socket:
            return in_closure

        module.keeper = keeper
        module.POOL = _Holder({"main": in_registry})  # an attribute, then an item
        assert singletons(made, time_budget=BUDGET) == {}
    finally:
        for s in made:
            s.close()


def test_one_target_in_a_list_and_another_as_an_attribute(module: types.ModuleType) -> None:
    # One batch, both shapes: the list-held one costs nothing, the other is found.
    kept, bound = socket.socket(), socket.socket()
    try:
        module.KEPT = [kept]
        module.CLIENT = _Holder(bound)
        found = singletons([kept, bound], time_budget=BUDGET)
        assert found == {id(bound): "lw_singleton_shapes.CLIENT.value"}
    finally:
        kept.close()
        bound.close()


def test_threads_by_name_are_singletons_by_number_or_running_are_not(
    module: types.ModuleType,
) -> None:
    import threading

    stop = threading.Event()
    made = [threading.Thread(target=stop.wait, daemon=True) for _ in range(4)]
    for t in made:
        t.start()  # each running thread is held by its own bound _bootstrap
    try:
        named, by_ident, via_method, running = made
        module.WORKER = named
        module.BY_IDENT = {named.ident: by_ident}  # a registry, as threading._active
        module.STOPPER = _Holder(via_method.join)  # a bound method held by name
        del running
        assert singletons(made, time_budget=BUDGET) == {
            id(named): "lw_singleton_shapes.WORKER",
            id(via_method): "lw_singleton_shapes.STOPPER.value.__self__",
        }
    finally:
        stop.set()
        for t in made:
            t.join(5)


def test_a_threads_own_bootstrap_costs_no_second_scan_and_another_is_looked_at(
    module: types.ModuleType, scans: list[int]
) -> None:
    import threading

    stop = threading.Event()
    made = [threading.Thread(target=stop.wait, daemon=True) for _ in range(2)]
    for t in made:
        t.start()
    del scans[:]
    try:
        plain, booted = made
        # The bound _bootstrap the thread state holds is the only method on
        # a running thread: no second scan for its referrers.
        assert singletons([plain], time_budget=BUDGET) == {}
        assert len(scans) == 1
        # A second bound _bootstrap is somebody's: held by name, a singleton.
        module.BOOT = _Holder(booted._bootstrap)  # type: ignore[attr-defined]
        assert singletons([booted], time_budget=BUDGET) == {
            id(booted): "lw_singleton_shapes.BOOT.value.__self__"
        }
    finally:
        stop.set()
        for t in made:
            t.join(5)


#: Modules, attributes each, and distinct attributes of each: a wide world.
WIDE = (40, 60, 20)


@pytest.fixture
def wide_world() -> Iterator[None]:
    """Modules whose attributes hold a wide graph: a walk of every module's,
    a level at a time, outlasts a small budget before it reaches depth 3."""
    modules, tops, leaves = WIDE
    names = [f"lw_wide_{i}" for i in range(modules)]
    for name in names:
        mod = types.ModuleType(name)
        branches = {
            f"a{j}": types.SimpleNamespace(**{f"b{k}": [k] for k in range(leaves)})
            for j in range(tops)
        }
        mod.top = types.SimpleNamespace(**branches)  # type: ignore[attr-defined]
        sys.modules[name] = mod
    try:
        yield
    finally:
        for name in names:
            del sys.modules[name]


MAKER = """
import socket, types

HOLDER = types.SimpleNamespace(a=types.SimpleNamespace(b=types.SimpleNamespace()))
KEPT = []

def first_use():
    HOLDER.a.b.sock = socket.socket()
    return HOLDER.a.b.sock

def registry():
    KEPT.append(socket.socket())
    return KEPT[-1]
"""


class _Ticks:
    """A CPU clock that moves one unit for each object the search looks at:
    its budget becomes a count of objects, the same on any machine."""

    def __init__(self) -> None:
        self.now = 0.0

    def thread_time(self) -> float:
        self.now += 1.0
        return self.now


def test_a_first_use_deep_in_the_global_of_the_module_that_made_it_is_found_first(
    tmp_path: Path, wide_world: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The modules on the leftover's creation stack are walked first, every
    # depth: found within a budget the walk of every module outlasts (it
    # looks at 48,000 objects before depth 3).  Beside it, one the same
    # module keeps in a list is a registry, never a singleton; and without
    # a creation record the walk of every module runs out.
    from leakwatch._attribution import singletons as search

    (tmp_path / "lw_maker.py").write_text(MAKER, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        import lw_maker  # type: ignore[import-not-found]

        with leakwatch.watch(on_leak="report", kinds=("fd",)):
            deep, kept = lw_maker.first_use(), lw_maker.registry()
            monkeypatch.setattr(search, "time", _Ticks())
            found, _ = search.search_singletons([deep, kept], time_budget=5000)
            monkeypatch.undo()
            assert found == {id(deep): "lw_maker.HOLDER.a.b.sock"}, found
            deep.close()
            kept.close()
        unrecorded = socket.socket()  # made outside any watch: no record
        try:
            lw_maker.HOLDER.a.b.sock = unrecorded
            monkeypatch.setattr(search, "time", _Ticks())
            found, proved_none = search.search_singletons([unrecorded], time_budget=5000)
            monkeypatch.undo()
            assert not found and id(unrecorded) not in proved_none
        finally:
            unrecorded.close()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("lw_maker", None)


TIMED = """
import types

HOLDER = types.SimpleNamespace(a=types.SimpleNamespace(b=types.SimpleNamespace()))

def schedule(loop, callback):
    HOLDER.a.b.timer = loop.call_later(30, callback)
    return HOLDER.a.b.timer
"""


@pytest.mark.parametrize("new_loop", loop_makers(), ids=loop_id)
def test_a_timer_deep_in_the_global_of_the_module_that_scheduled_it_is_found_first(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
    tmp_path: Path,
    wide_world: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A timer's creation record names the module that scheduled it, as a
    # socket's does: a service object's timer, ended with its loop by design
    # and kept three attributes deep by that module, is found within a
    # budget the walk of every module outlasts.  The same global keeping a
    # timer other code scheduled (here, outside a watch) is not found so.
    from leakwatch._attribution import singletons as search

    (tmp_path / "lw_timed.py").write_text(TIMED, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import lw_timed  # type: ignore[import-not-found]

    loop = new_loop()
    try:
        with leakwatch.watch(on_leak="report", kinds=("timer",)):
            recorded = lw_timed.schedule(loop, print)
            with monkeypatch.context() as patched:
                patched.setattr(search, "time", _Ticks())
                found, _ = search.search_singletons([recorded], time_budget=5000)
            assert found == {id(recorded): "lw_timed.HOLDER.a.b.timer"}, found
            recorded.cancel()
        elsewhere = lw_timed.HOLDER.a.b.timer = loop.call_later(30, print)
        with monkeypatch.context() as patched:
            patched.setattr(search, "time", _Ticks())
            found, proved_none = search.search_singletons([elsewhere], time_budget=5000)
        assert not found and id(elsewhere) not in proved_none
        elsewhere.cancel()
    finally:
        loop.close()
        sys.modules.pop("lw_timed", None)


SWAPPED = """
import socket, types

HOLDER = types.SimpleNamespace()

def make():
    HOLDER.sock = socket.socket()
    return HOLDER.sock
"""


def test_a_module_put_in_anothers_place_is_the_maker_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The index of modules by file is read again when sys.modules changes
    # size; a module removed and another imported (as tests that import a
    # module of their own and drop it do) leaves the size as it was.  The
    # maker is still the module imported last, for the singleton search and
    # the chain alike.
    from leakwatch._attribution import roots

    for name in ("lw_swap_first", "lw_swap_then"):
        (tmp_path / f"{name}.py").write_text(SWAPPED, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import lw_swap_first  # type: ignore[import-not-found]

        with leakwatch.watch(on_leak="report", kinds=("fd",)):
            first = lw_swap_first.make()
            assert "lw_swap_first" in roots.creator_modules([first])
            first.close()
        size = len(sys.modules)
        del sys.modules["lw_swap_first"]
        import lw_swap_then  # type: ignore[import-not-found]

        assert len(sys.modules) == size  # the index's count cannot tell
        with leakwatch.watch(on_leak="report", kinds=("fd",)):
            then = lw_swap_then.make()
            try:
                assert "lw_swap_then" in roots.creator_modules([then])
                made_in, labels, _ = roots.creator_roots([then], set())
                assert vars(lw_swap_then) in made_in
                assert "lw_swap_then" in [name for _, name in labels.values()]
            finally:
                then.close()
    finally:
        sys.modules.pop("lw_swap_first", None)
        sys.modules.pop("lw_swap_then", None)


KEEPER = """
import socket

KEPT = []

def kept():
    KEPT.append(socket.socket())
"""


@pytest.fixture
def keeper(tmp_path: Path) -> Iterator[types.ModuleType]:
    """A module that makes sockets and keeps them in a list of its own."""
    (tmp_path / "lw_keeper.py").write_text(KEEPER, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        import lw_keeper  # type: ignore[import-not-found]

        yield lw_keeper
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("lw_keeper", None)


#: What else holds the socket its maker's list keeps, and the singleton it makes.
ALSO: dict[str, tuple[Callable[[types.ModuleType, socket.socket], object], str | None]] = {
    "nothing": (lambda mod, sock: None, None),
    "a global by name": (lambda mod, sock: setattr(mod, "BY_NAME", sock), "lw_keeper.BY_NAME"),
    "an attribute": (
        lambda mod, sock: setattr(mod, "CLIENT", _Holder(sock)),
        "lw_keeper.CLIENT.value",
    ),
    "a registry": (lambda mod, sock: setattr(mod, "REG", {"main": sock}), None),
    "a list of another module": (lambda mod, sock: setattr(sys, "lw_other_list", [sock]), None),
}


@pytest.mark.parametrize("also", list(ALSO))
def test_what_only_the_list_of_the_module_that_made_it_holds_costs_no_scan(
    keeper: types.ModuleType, scans: list[int], also: str
) -> None:
    # Only its maker's list and the search's own arguments hold it: its
    # reference count says so, no scan.  Anything more (by name, as an
    # attribute, in a dict, in a list of another module) is looked at, and
    # a singleton is found as before.
    put, singleton = ALSO[also]
    with leakwatch.watch(on_leak="report", kinds=("fd",)):
        keeper.kept()
        put(keeper, keeper.KEPT[-1])
        del scans[:]
        found = singletons(keeper.KEPT[-1:], time_budget=BUDGET)
        looked = len(scans)
        sock = keeper.KEPT.pop()
        for name in ("BY_NAME", "CLIENT", "REG"):
            vars(keeper).pop(name, None)
        vars(sys).pop("lw_other_list", None)
        sock.close()
    assert found == ({id(sock): singleton} if singleton else {})
    assert (looked == 0) is (also == "nothing"), (also, looked)


def test_a_watch_tells_a_leak_its_makers_list_keeps_from_a_singleton_without_a_scan(
    keeper: types.ModuleType, scans: list[int]
) -> None:
    reports = []
    for by_name in (False, True):
        with leakwatch.watch(on_leak="report", kinds=("fd",)) as watched:
            keeper.kept()  # <- kept
            if by_name:
                keeper.BY_NAME = keeper.KEPT[-1]
            del scans[:]
        reports.append((watched.report, len(scans)))
        vars(keeper).pop("BY_NAME", None)
        keeper.KEPT.pop().close()
    (listed, listed_scans), (named, named_scans) = reports
    (leak,) = of_kind(listed, "fd")
    assert leak.details["held_by"] == "lw_keeper.KEPT[0]" and "singleton" not in leak.details
    assert listed_scans == 0
    assert named is not None and not of_kind(named, "fd")
    (leak,) = of_kind(named, "fd", named.info)  # a first use: information
    assert leak.details["singleton"] == "lw_keeper.BY_NAME"
    assert named_scans > 0


def test_a_reference_count_proves_only_what_every_reference_is_known_for(
    keeper: types.ModuleType,
) -> None:
    from leakwatch._attribution.refcounts import held_only_by

    keeper.kept()
    targets = keeper.KEPT[-1:]
    try:
        assert held_only_by(targets, (), ["lw_keeper"]) == {id(targets[0])}
        assert held_only_by(targets, (), []) == set()  # its maker's list not known
        registry = {"main": targets[0]}
        # A list passed twice is counted once: the dict's reference still shows.
        assert held_only_by(targets, (keeper.KEPT, keeper.KEPT), ["lw_keeper"]) == set()
        del registry
        variable = targets[0]
        assert held_only_by(targets, (), ["lw_keeper"]) == set()
        del variable
        assert held_only_by(targets, (), ["lw_keeper"]) == {id(targets[0])}
    finally:
        keeper.KEPT.pop().close()
