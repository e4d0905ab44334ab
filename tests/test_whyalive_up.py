"""Why-alive searched from the object up: the same chains as from the roots down,
at a few heap scans, and the search down where the way up is too long or wide."""

from __future__ import annotations

import gc
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_whyalive import Conn, Sock

import leakwatch
from leakwatch._attribution import referrers, whyalive
from leakwatch._attribution.whyalive import find_chains

MOD = __name__


class Holder:
    kept: list[object] = []


REGISTRY = {"main": Conn(Sock())}
CALLBACKS = [Conn().on_data]
Holder.kept.append(Sock())
POOL = [Conn(Sock()), Conn(Sock())]


def _shared() -> list[list[Sock]]:
    shared = Sock()  # no global names it: every way up goes through a wide level
    return [[shared] for _ in range(referrers.WIDE + 10)]


MANY = _shared()
DEEP: list[object] = [Sock()]
for _ in range(referrers.LEVELS + 4):  # more levels than the search up takes
    DEEP = [DEEP]


SHAPES = {
    "attribute of a dict value": lambda: REGISTRY["main"]._sock,
    "a bound method's object": lambda: CALLBACKS[0].__self__,
    "class attribute list": lambda: Holder.kept[0],
    "list of objects, their attribute": lambda: POOL[1]._sock,
}


def chain_of(obj: object) -> str | None:
    """The chain of ``obj``, with the test's own frames out of the way (passed
    inline: a local list of this frame would make a cycle that pins ``obj``)."""
    return find_chains([obj], exclude=[sys._getframe(), sys._getframe(1)], time_budget=60.0).get(
        id(obj)
    )


@pytest.fixture
def searches(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[Any]]]:
    """What each search did: the search up's answers, and the searches down.
    The short search from the user's modules that comes first is off: these
    test the searches after it (its own tests are at the end)."""
    monkeypatch.setattr(whyalive, "user_roots", lambda roots, labels: [])
    seen: dict[str, list[Any]] = {"up": [], "down": []}
    up, down = whyalive.path_up, whyalive._search

    def counted_up(*args: Any, **kwargs: Any) -> Any:
        path = up(*args, **kwargs)
        seen["up"].append(None if path is None else len(path))
        return path

    def counted_down(*args: Any, **kwargs: Any) -> Any:
        seen["down"].append(1)
        return down(*args, **kwargs)

    monkeypatch.setattr(whyalive, "path_up", counted_up)
    monkeypatch.setattr(whyalive, "_search", counted_down)
    yield seen


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_up_finds_the_chain_the_search_down_finds(
    shape: str, searches: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = SHAPES[shape]()
    found = chain_of(target)
    assert found is not None and found.startswith(f"{MOD}.")
    assert searches["up"] and searches["up"][0], searches  # found on the way up
    assert not searches["down"]
    monkeypatch.setattr(whyalive, "_UP_TARGETS", 0)  # the search down alone
    assert chain_of(target) == found
    assert searches["down"]


def test_a_garbage_cycle_is_settled_on_the_way_up_without_the_search_down(
    searches: dict[str, list[Any]],
) -> None:
    gc.disable()  # keep the cycle uncollected while we look
    try:
        a, b = Conn(), Conn()
        a._sock, b._sock = b, a
        target = a
        del a, b
        assert chain_of(target) is None  # only this test's frame holds it (excluded)
    finally:
        gc.enable()
    if gc.get_freeze_count():  # 3.12 freezes constant tuples at start-up
        assert searches["up"] == [None] and searches["down"]  # no proof: the way down says
    else:
        assert searches["up"] == [0]  # no referrer left: held by no root, for sure
        assert not searches["down"]


def test_a_level_too_wide_is_left_to_the_search_down(searches: dict[str, list[Any]]) -> None:
    found = chain_of(MANY[7][0])
    assert found is not None and re.fullmatch(rf"{MOD}\.MANY\[\d+\]\[0\]", found), found
    assert searches["up"] == [None]
    assert searches["down"]


def test_a_chain_longer_than_the_way_up_is_found_from_the_roots(
    searches: dict[str, list[Any]],
) -> None:
    inner: Any = DEEP
    while isinstance(inner, list):
        inner = inner[0]
    found = chain_of(inner)
    assert found is not None and found.startswith(f"{MOD}.DEEP[0][0]")
    assert searches["up"] == [None]
    assert searches["down"]


def test_an_untracked_target_goes_to_the_search_down(searches: dict[str, list[Any]]) -> None:
    # A str in a tuple of strings: neither is tracked, so no referrer would name it.
    global PAIR
    PAIR = ("x" * 40 + "unique", "y")
    try:
        assert chain_of(PAIR[0]) == f"{MOD}.PAIR[0]"
    finally:
        del PAIR
    assert searches["up"] == []
    assert searches["down"]


def test_the_way_up_keeps_nothing_alive() -> None:
    import weakref

    REGISTRY["tmp"] = Conn(Sock())
    ref = weakref.ref(REGISTRY["tmp"]._sock)
    try:
        assert chain_of(ref()) == f"{MOD}.REGISTRY['tmp'] -> Conn._sock"
    finally:
        del REGISTRY["tmp"]
    assert ref() is None


def test_frozen_referrers_are_searched_from_the_roots(searches: dict[str, list[Any]]) -> None:
    # The collector does not look among frozen objects for referrers (a
    # pre-fork server freezes its heap): the way up would find no root.
    REGISTRY["frozen"] = Conn(Sock())
    gc.freeze()
    try:
        found = chain_of(REGISTRY["frozen"]._sock)
    finally:
        gc.unfreeze()
        del REGISTRY["frozen"]
    assert found == f"{MOD}.REGISTRY['frozen'] -> Conn._sock"
    assert searches["up"] == [None]  # its referrers are frozen: none found, nothing proven
    assert searches["down"]


NEAR: list[object] = [Sock()]


def test_a_user_modules_list_is_found_from_it_with_no_heap_scan(
    scans: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The usual leak (``KEPT.append(sock)`` in the test's module) is two
    # hops from the user's own module: found from there, before any search
    # up scans the heap for referrers.
    assert chain_of(NEAR[0]) == f"{MOD}.NEAR[0]"
    assert not scans
    monkeypatch.setattr(whyalive, "user_roots", lambda roots, labels: [])
    assert chain_of(NEAR[0]) == f"{MOD}.NEAR[0]"  # the same chain the other searches find
    assert scans


NAMED = Sock()
ALSO_LISTED = [NAMED]


def test_a_user_modules_list_is_found_however_many_modules_the_search_must_cross(
    scans: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A large suite imports hundreds of user modules: a search from all of
    # them a level at a time, within its few milliseconds, may not reach the
    # last one's list on a slow or loaded machine (here: it gets no time at
    # all).  The one hop into every module's lists and dicts does not depend
    # on the clock; a leak two hops down is left to the searches up, which
    # find the same chain at the cost of heap scans.
    monkeypatch.setattr(whyalive, "_NEAR_BUDGET", 0.0)
    assert chain_of(NEAR[0]) == f"{MOD}.NEAR[0]"
    assert chain_of(NAMED) == f"{MOD}.NAMED"  # a global naming it is shorter than its list
    assert not scans
    assert chain_of(POOL[1]._sock) == f"{MOD}.POOL[1] -> Conn._sock"
    assert scans


def test_what_no_user_module_holds_near_is_left_to_the_other_searches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Held from a library's module (the standard library's here): the short
    # search finds nothing and the search up does, as before.
    seen: list[int] = []
    near = whyalive._near

    def counted(*args: Any) -> set[int]:
        got = near(*args)
        seen.append(len(got))
        return got

    monkeypatch.setattr(whyalive, "_near", counted)
    target = Sock()
    monkeypatch.setattr(re, "LEFT_BY_A_TEST", [target], raising=False)
    assert chain_of(target) == "re.LEFT_BY_A_TEST[0]"
    assert seen == [0]


def test_a_leak_is_looked_for_first_in_the_module_that_made_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The socket's creation record names the module whose code made it:
    # its globals are searched before every module is listed.  Held
    # elsewhere (another module, or a library module the maker imported),
    # the chain is that holder's, as before.
    (tmp_path / "lw_maker_mod.py").write_text(
        "import re\nimport socket\n\nKEPT = []\n\n\ndef make():\n    KEPT.append(socket.socket())\n"
    )
    (tmp_path / "lw_holder_mod.py").write_text("HELD = []\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import lw_holder_mod  # type: ignore[import-not-found]
    import lw_maker_mod  # type: ignore[import-not-found]

    listed: list[int] = []
    real = whyalive.module_roots
    monkeypatch.setattr(whyalive, "module_roots", lambda seen: listed.append(1) or real(seen))
    # Inside a watch: it records where the socket was made (a watch keeps
    # its records while it runs, as the plugin's does for the whole session).
    with leakwatch.watch(on_leak="report"):
        lw_maker_mod.make()
        try:
            assert chain_of(lw_maker_mod.KEPT[0]) == "lw_maker_mod.KEPT[0]"
            assert not listed
            lw_holder_mod.HELD.append(lw_maker_mod.KEPT.pop())
            assert chain_of(lw_holder_mod.HELD[0]) == "lw_holder_mod.HELD[0]"
            assert listed
            # The maker imports ``re``: a search from its globals does not enter
            # another module (the chain is rooted at the module that holds it).
            monkeypatch.setattr(re, "LEFT_BY_A_MAKER", [lw_holder_mod.HELD.pop()], raising=False)
            assert chain_of(re.LEFT_BY_A_MAKER[0]) == "re.LEFT_BY_A_MAKER[0]"  # type: ignore[attr-defined]
        finally:
            for sock in (
                *lw_maker_mod.KEPT,
                *lw_holder_mod.HELD,
                *getattr(re, "LEFT_BY_A_MAKER", ()),
            ):
                sock.close()
            for name in ("lw_maker_mod", "lw_holder_mod"):
                sys.modules.pop(name, None)
