"""Why-alive from the object up: its referrers, level by level, until a root.

Most leaks hang on a short chain (a global list, an attribute of a global
object, a local).  Searching down from the roots
(:func:`leakwatch._attribution.whyalive.find_chains`) walks everything
reachable in fewer hops than the chain has, a good part of the heap, before
it meets the object; asking the collector for the object's referrers, then
theirs, costs one scan of the heap in C per hop.  The path found is a
shortest one, from the root that ranks first among those at that distance
(module globals before frames, as the search down ranks them).

Three answers: a path; ``[]`` when no root holds the object at all (the
referrers ran out: a garbage cycle, or only leakwatch's own frames hold it,
and nothing is frozen, see below); None when this search gave up (a level
too wide, too many levels, the time budget) and the search down must
decide.  The collector does not look among frozen objects
(``gc.freeze()``) for referrers: while any are frozen, running out of
referrers proves nothing, and a path found is a true chain that a frozen
container might have made shorter.  Only gc-tracked objects are asked
about: an untracked container (a tuple of strings) is no one's referrer.

Must not keep anything alive once it returns, nor change what it walks.
"""

from __future__ import annotations

import gc
import sys
import threading
import time

from leakwatch._base.pyversion import referents

#: Levels searched up before leaving it to the search down: each is a scan of
#: the whole heap, and a long chain is cheaper found from the roots.
LEVELS = 8

#: A level wider than this (the referrers of a class, of a shared default)
#: leaves it to the search down.
WIDE = 5000


def referrers_of(objs: tuple[object, ...], kept: list[object], mine: set[int]) -> list[object]:
    """``gc.get_referrers(*objs)`` for a walk up the heap that keeps its own
    containers in ``kept`` (alive until the walk returns, so no other object
    takes their ids) and their ids in ``mine`` (never links): ``objs``, a
    tuple of the walk's own as the arguments (3.13 reports the caller's tuple
    of a ``*args`` call among the referrers), and the list returned.

    Within :class:`remembering`, the referrers of each object are asked of
    the collector once: what is remembered is answered again, and one scan
    finds the rest (each referrer once, in no particular order)."""
    kept.append(objs)
    mine.add(id(objs))
    memo = _memo_refs()
    if memo is None:
        refs = gc.get_referrers(*objs)
        kept.append(refs)
        mine.add(id(refs))
        return refs
    missing = tuple(o for o in objs if id(o) not in memo)
    if missing:
        kept.append(missing)
        mine.add(id(missing))
        scanned = gc.get_referrers(*missing)
        kept.append(scanned)
        mine.add(id(scanned))
        _remember(missing, scanned, mine)
    out: list[object] = []
    kept.append(out)
    mine.add(id(out))
    once: set[int] = set()
    for obj in objs:
        for ref in memo.get(id(obj), ()):
            if id(ref) not in once:
                once.add(id(ref))
                out.append(ref)
    return out


class _Memo(threading.local):
    """This thread's remembered referrers (see :class:`remembering`): the
    objects asked about (kept, so their ids stay theirs), each one's
    referrers, and the ids of these containers (never referrers); made when
    first needed (most stops find nothing to search)."""

    on: bool = False
    objs: dict[int, object] | None = None
    refs: dict[int, list[object]] | None = None
    own: set[int] | None = None


_memo = _Memo()


class remembering:
    """Within, :func:`referrers_of` remembers: the searches of one verdict
    (a parked thread's waker held only by it, a singleton, a why-alive
    chain) climb the same few objects, a scan of the heap each.  Call
    :func:`forget` wherever the heap may have moved since (a wait); all is
    let go at the end.  Nested: the outer one's."""

    __slots__ = ("_outer",)

    def __enter__(self) -> None:
        self._outer = _memo.on
        _memo.on = True

    def __exit__(self, *exc_info: object) -> None:
        if not self._outer:
            forget()
            _memo.on = False
            _memo.objs = _memo.refs = _memo.own = None


def _memo_refs() -> dict[int, list[object]] | None:
    """The remembered referrers by id, made on first use; None outside."""
    if not _memo.on:
        return None
    if _memo.refs is None:
        _memo.objs, _memo.refs = {}, {}
        _memo.own = {id(_memo.objs), id(_memo.refs)}
    return _memo.refs


def forget() -> None:
    """Let go of what :class:`remembering` kept so far (in this thread)."""
    objs, refs, own = _memo.objs, _memo.refs, _memo.own
    if objs is not None and refs is not None and own is not None:
        objs.clear()
        refs.clear()
        own.clear()
        own.update((id(objs), id(refs)))


def _remember(objs: tuple[object, ...], scanned: list[object], mine: set[int]) -> None:
    """Each of ``objs``' referrers among ``scanned`` (one scan for them all),
    without the walk's own containers (``mine``) or the memo's: each
    referrer's own referents, the traversal the collector's search itself
    uses, say which of them it refers to."""
    objs_by_id, refs_by_id, own = _memo.objs, _memo.refs, _memo.own
    assert objs_by_id is not None and refs_by_id is not None and own is not None
    lists: dict[int, list[object]] = {id(o): [] for o in objs}
    for ref in scanned:
        if id(ref) in mine or id(ref) in own:
            continue
        if len(objs) == 1:
            lists[id(objs[0])].append(ref)
            continue
        for obj in referents(ref):
            holders = lists.get(id(obj))
            if holders is not None and (not holders or holders[-1] is not ref):
                holders.append(ref)
    for obj in objs:
        holders = lists[id(obj)]
        own.add(id(holders))
        objs_by_id[id(obj)] = obj
        refs_by_id[id(obj)] = holders
    lists.clear()


def between(roots: tuple[object, ...], target: object, depth: int, limit: int) -> list[object]:
    """The objects on a shortest way down from ``roots`` to ``target`` (the
    target's first, the roots left out), within ``depth`` hops and ``limit``
    objects looked at; ``[target]`` when none was found.  Few on purpose:
    the collector's search for referrers compares each reference it visits
    with every object asked about (15 objects cost a scan 1.7 times one's)."""
    # id -> (the object, kept alive so no other takes its id; its parent).
    found: dict[int, tuple[object, object | None]] = {id(r): (r, None) for r in roots}
    level = list(roots)
    try:
        for _ in range(depth):
            nxt: list[object] = []
            for obj in level:
                for ref in referents(obj):
                    if id(ref) in found or not gc.is_tracked(ref) or isinstance(ref, type):
                        continue
                    found[id(ref)] = (ref, obj)
                    if ref is target:
                        way: list[object] = []
                        step: object | None = ref
                        while step is not None and found[id(step)][1] is not None:
                            way.append(step)
                            step = found[id(step)][1]
                        return way
                    if len(found) >= limit:
                        return [target]
                    nxt.append(ref)
            level = nxt
        return [target]
    finally:
        found.clear()
        del level


def path_up(
    target: object, rank: dict[int, int], seen: set[int], deadline: float, levels: int = LEVELS
) -> list[object] | None:
    """The path ``[root, ..., target]``, ``[]`` if no root holds ``target``,
    or None if the search gave up.

    ``rank`` maps each root's id to its rank (lower wins a tie); ``seen``
    holds ids that are neither roots nor links (leakwatch's own modules and
    frames, what the caller excludes).  ``deadline`` is in this thread's CPU
    time (``time.thread_time``).
    """
    tiers: list[dict[int, object]] = [{id(target): target}]
    # This search's own containers hold the objects it looks at: never links.
    # They stay alive until it returns, so no other object takes their ids.
    own: list[object] = [tiers, tiers[0]]
    mine = {id(own), id(tiers), id(tiers[0]), id(sys._getframe())}
    visited = {id(target)}
    frontier: tuple[object, ...] = (target,)
    try:
        for _ in range(levels):
            if time.thread_time() > deadline:
                return None
            refs = referrers_of(frontier, own, mine)
            best = min((rank[id(r)] for r in refs if id(r) in rank), default=None)
            if best is not None:
                root = next(r for r in refs if rank.get(id(r)) == best)
                return _down(root, tiers)
            found: dict[int, object] = {}
            own.append(found)
            mine.add(id(found))
            for ref in refs:
                key = id(ref)
                if key not in visited and key not in seen and key not in mine:
                    visited.add(key)
                    found[key] = ref
            if not found:
                # Held by no root -- unless a frozen object holds it: the
                # collector does not look among them for referrers (a
                # pre-fork server freezes its heap; 3.12 freezes constant
                # tuples at start-up), so only the search down can say.
                return None if gc.get_freeze_count() else []
            if len(found) > WIDE:
                return None
            tiers.append(found)
            frontier = tuple(found.values())
        return None
    finally:
        for held in own:
            if isinstance(held, (list, dict)):
                held.clear()
        own.clear()
        del frontier


def _down(root: object, tiers: list[dict[int, object]]) -> list[object] | None:
    """From ``root`` down through one object of each level to the target:
    at each step the first referent (in the collector's order) on the way."""
    path = [root]
    for tier in reversed(tiers):
        step = next((k for k in referents(path[-1]) if id(k) in tier), None)
        if step is None:
            return None  # another thread changed the heap meanwhile
        path.append(step)
    return path
