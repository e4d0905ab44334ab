"""Why is it still alive: the shortest chain of references from a root to an object.

:func:`find_chains` answers "what holds this?" as LeakCanary does, searching
breadth-first from the roots: module globals (and through them class
attributes), locals of every thread's live frames, and locals of suspended
asyncio tasks.  One line per object::

    app.db.POOL['main'] -> Conn._sock
    frame of worker() in app/poll.py:12 (thread 'poller') local 'conn'

:func:`culprits` splits a leaked set into culprits and victims (Valgrind's
direct / indirect).  Neither keeps anything alive once it returns, except one
CPython effect: before 3.13 reading a running frame's ``f_locals`` leaves a
snapshot dict on the frame (as pdb does) until it syncs again or returns
(3.13's PEP 667 proxy leaves nothing; see ``_base.pyversion.frame_locals``).

This module searches; :mod:`~leakwatch._attribution.chain_text` puts a path
found into words.  Must not change what it walks.
"""

from __future__ import annotations

import gc
import sys
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import chain

from leakwatch._attribution.chain_text import _join, _segments
from leakwatch._attribution.referrers import LEVELS, path_up
from leakwatch._attribution.roots import (
    add_frame_and_task_roots,
    creator_roots,
    held_by_globals,
    module_roots,
    user_roots,
)
from leakwatch._base.pyversion import referents

__all__ = ["culprits", "find_chains"]


# Referents are fetched for this many parents per C call: enough that the call
# overhead vanishes, few enough to check the clock often and to rescan one
# group per hop when a path is rebuilt.
_CHUNK = 2048


_BULK = 65536  # referents handled in one go; a container with an eighth of it is "huge"


_Levels = list[list[object]]
_Groups = tuple[list[int], list[Sequence[int]]]  # per group: end in the next level, parents


def find_chains(
    targets: Sequence[object],
    *,
    max_depth: int = 16,
    time_budget: float = 0.5,
    exclude: Iterable[object] = (),
) -> dict[int, str]:
    """``id(target) -> rendered chain`` from the nearest root, for each target found.

    The search stops when every target is found, after ``max_depth`` hops or
    after ``time_budget`` seconds of this thread's CPU time (a busy machine
    does not cut it short); targets not found are left out.  A hop is one
    segment of the chain as shown: ``obj -> obj.__dict__ -> value`` is one
    (``Type.attr``), whether or not this Python keeps instance attributes in
    a separate dict.  Objects in ``exclude`` (your own containers,
    ``sys._getframe()``) are neither roots nor links; frames of leakwatch
    itself are never roots.  Of two equally short chains, one from a module
    global wins over one from a frame.  For ``POOL = {"main": conn}`` in
    ``app.db``, ``find_chains([conn._sock])`` gives
    ``{id(conn._sock): "app.db.POOL['main'] -> Conn._sock"}``.
    """
    deadline = time.thread_time() + time_budget  # CPU time: see _search
    excluded = [*exclude]
    seen = {id(targets), id(exclude), id(excluded), *map(id, excluded)}
    paths: dict[int, list[object]] = {}
    levels: _Levels = []
    with _gc_paused():
        # The modules whose code made them first, then every user module.
        made_in, labels, modules = creator_roots(targets, seen)
        wanted = set(map(id, targets)) - seen
        if made_in:
            wanted -= _near(targets, wanted, made_in, seen | modules, deadline, paths)
        roots: list[object] = []
        if wanted:
            roots, more = module_roots(seen)
            labels.update(more)
            wanted -= _near(targets, wanted, user_roots(roots, labels), seen, deadline, paths)
        if wanted:  # the frames' locals only now (reading them is not free)
            add_frame_and_task_roots(roots, labels, seen)
        # A hop may take two levels (an attribute through a separate __dict__,
        # a generator through its frame): search twice as deep, then keep
        # the chains whose hops as shown are within max_depth.
        wanted -= _up(targets, wanted, roots, seen, deadline, 2 * max_depth, paths)
        if wanted:
            keep = _keeper(targets, wanted)
            levels, groups, found = _search(roots, seen, wanted, keep, deadline, 2 * max_depth)
            for tid, (level, pos) in found.items():
                path = _path(levels, groups, level, pos)
                if path is not None:
                    paths[tid] = path
    del roots, excluded
    chains = {}
    try:
        for tid, path in paths.items():
            with suppress(Exception):  # a user's __repr__ may raise: no chain, no crash
                segs, hops = _segments(path, labels)
                if hops <= max_depth:
                    chains[tid] = _join(segs)
        return chains
    finally:
        paths.clear()  # a traceback through here must not pin the heap
        levels.clear()
        labels.clear()


#: The search from the user's own modules first (see _near): how many levels
#: deep (two hops), and how much CPU time it may take.
_NEAR_LEVELS, _NEAR_BUDGET = 4, 0.002


def _near(
    targets: Sequence[object],
    wanted: set[int],
    start: list[object],
    seen: set[int],
    deadline: float,
    paths: dict[int, list[object]],
) -> set[int]:
    """Search down first from some of the user's own modules' globals
    (``start``): the usual leak is held by a list or dict of the module that
    made it, the test's or the app's (``KEPT.append(sock)``), found so with
    no scan of the whole heap (each search up costs one): one hop in every
    module (:func:`held_by_globals`), then two hops, briefly.  Fills
    ``paths``; returns the ids found (the chain shown is that module's)."""
    if not wanted or not start or time.thread_time() > deadline:
        return set()
    paths.update(held := held_by_globals(start, wanted, seen))
    budget = min(deadline, time.thread_time() + _NEAR_BUDGET)
    keep, rest = _keeper(targets, wanted), wanted - held.keys()
    levels, groups, found = _search(start, set(seen), rest, keep, budget, _NEAR_LEVELS)
    for tid, (level, pos) in found.items():
        path = _path(levels, groups, level, pos)
        if path is not None:
            paths[tid] = path
    return set(paths) & wanted


def _up(
    targets: Sequence[object],
    wanted: set[int],
    roots: list[object],
    seen: set[int],
    deadline: float,
    max_levels: int,
    paths: dict[int, list[object]],
) -> set[int]:
    """Search up from each target first (:mod:`.referrers`): a few heap
    scans for a short chain.  Fills ``paths``; returns the ids it settled
    (found, or held by no root), leaving the rest to the search down."""
    if not wanted or len(wanted) > _UP_TARGETS or not all(map(gc.is_tracked, targets)):
        return set()  # an untracked target may sit in an untracked tuple: no referrer
    rank = {id(root): i for i, root in enumerate(roots)}
    done: set[int] = set()
    levels = min(max_levels, LEVELS)
    for target in targets:
        if id(target) in wanted and id(target) not in done:
            path = path_up(target, rank, seen, deadline, levels)
            if path is not None:
                done.add(id(target))
                if path:
                    paths[id(target)] = path
    return done


#: More targets than this go straight to the search down, which finds them all
#: in one walk (the search up scans the heap per target and level).
_UP_TARGETS = 4


def culprits(
    objects: Sequence[object], *, time_budget: float = 0.2
) -> list[tuple[object, int, int]]:
    """The members of a leaked set that are not alive only through other members.

    Returns ``(culprit, n_indirect, indirect_bytes)`` in input order:
    ``n_indirect`` members are reachable from the culprit (and from no earlier
    culprit), ``indirect_bytes`` sums their ``sys.getsizeof``.  Of a cycle held
    by nothing else in the set, the first member is the culprit.  Links through
    classes and modules do not count (every instance reaches its class, and
    through it half the program); members the budget leaves unexplored are
    culprits with nothing indirect.
    """
    index = {id(o): i for i, o in enumerate(objects)}
    blocked = {id(objects), id(sys.modules)}
    for mod in list(sys.modules.values()):
        blocked.update((id(mod), id(getattr(mod, "__dict__", None))))
    keep = _keeper(objects, set(index), lambda k: not isinstance(k, type))
    end = time.thread_time() + time_budget
    below: list[set[int]] = []  # members each member reaches, not through another member
    with _gc_paused():
        for i, obj in enumerate(objects):
            # An equal share of the time left: one huge subgraph cannot starve the rest.
            now = time.thread_time()
            share = now + max(0.0, end - now) / (len(objects) - i)
            wanted = set(index) - {id(obj)}
            levels, _, found = _search([obj], {*blocked, id(obj)}, wanted, keep, share, 64, True)
            levels.clear()
            below.append({index[m] for m in found})
    reach = []
    for i in range(len(objects)):
        seen, todo = set(), list(below[i])
        while todo:
            j = todo.pop()
            if j not in seen:
                seen.add(j)
                todo.extend(below[j])
        reach.append(seen - {i})
    dominated = {j for i, r in enumerate(reach) for j in r if i not in reach[j]}
    chosen: list[int] = []
    for i in range(len(objects)):
        if i not in dominated and not any(i in reach[c] for c in chosen):
            chosen.append(i)
    taken, result = set(chosen), []
    for c in chosen:
        victims = sorted(reach[c] - taken)
        taken.update(victims)
        result.append((objects[c], len(victims), sum(sys.getsizeof(objects[j]) for j in victims)))
    return result


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No collection mid-search: on a big heap one full pass costs as much as the search."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _keeper(
    targets: Sequence[object], wanted: set[int], extra: Callable[[object], bool] | None = None
) -> Callable[[object], bool]:
    # An untracked container holds only untracked objects, so while every target is
    # tracked the search skips all untracked referents (str, int, atomic tuples) in C.
    if extra is None and all(map(gc.is_tracked, targets)):
        return gc.is_tracked
    return lambda k: (
        id(k) in wanted
        or ((gc.is_tracked(k) or type(k) in (tuple, dict)) and (extra is None or extra(k)))
    )


def _search(
    start: list[object],
    seen: set[int],
    wanted: set[int],
    keep: Callable[[object], bool],
    deadline: float,
    max_depth: int,
    stop_at_wanted: bool = False,
) -> tuple[_Levels, list[_Groups], dict[int, tuple[int, int]]]:
    """Breadth-first search: the levels, their groups, and (level, position) of each hit.

    A level is expanded a group of parents at a time, and ``groups[L]`` keeps
    each group's parents and where its children end in level ``L+1``: a path
    is rebuilt by rescanning one group per hop instead of storing a parent for
    every object visited.  Huge containers go last in their level, so a
    registry's entries are searched before a cache's million, and every path
    found is still a shortest one.
    """
    levels: _Levels = [start]
    groups: list[_Groups] = []
    found: dict[int, tuple[int, int]] = {}

    def over() -> bool:
        # This thread's CPU time: a budget bounds the work, so a busy machine
        # (the wall clock running while the thread waits for a core) does not
        # cut the search short and change what the report says.
        return not wanted or time.thread_time() > deadline

    while len(levels) <= max_depth and levels[-1] and not over():
        frontier, nxt, big = levels[-1], list[object](), list[int]()
        ends, members = list[int](), list[Sequence[int]]()
        chunks = (range(s, min(s + _CHUNK, len(frontier))) for s in range(0, len(frontier), _CHUNK))
        for idx in chain(chunks, ([q] for q in big)):
            refs = referents(*[frontier[q] for q in idx])
            if len(refs) > _BULK and len(idx) > 1:
                sizes = [len(referents(frontier[q])) for q in idx]
                if max(sizes) > _BULK // 8:  # a huge container: expand it after the rest
                    big += [q for q, n in zip(idx, sizes, strict=True) if n > _BULK // 8]
                    idx = [q for q, n in zip(idx, sizes, strict=True) if n <= _BULK // 8]
                    refs = referents(*[frontier[q] for q in idx])
            members.append(idx)
            for k in range(0, len(refs), _BULK):
                kids = list(filter(keep, refs[k : k + _BULK]))
                new = dict(zip(map(id, kids), kids, strict=True))
                for i in seen.intersection(new):
                    del new[i]
                seen.update(new)
                hits = [h for h in wanted if h in new]  # wanted is small, new may be huge
                if hits:
                    order = list(new)
                    for h in hits:
                        found[h] = (len(levels), len(nxt) + order.index(h))
                        if stop_at_wanted:  # culprits: do not search through members
                            del new[h]
                    wanted = wanted.difference(hits)
                nxt.extend(new.values())
                if over():
                    break
            ends.append(len(nxt))
            if over():
                break
        groups.append((ends, members))
        levels.append(nxt)
    return levels, groups, found


def _path(levels: _Levels, groups: list[_Groups], level: int, pos: int) -> list[object] | None:
    path = [levels[level][pos]]
    while level > 0:
        ends, members = groups[level - 1]
        above, child = levels[level - 1], path[-1]
        parents = members[bisect_right(ends, pos)]
        pos = next((q for q in parents if id(child) in map(id, referents(above[q]))), -1)
        if pos < 0:
            return None  # another thread changed the heap since
        level -= 1
        path.append(above[pos])
    return path[::-1]


def chains_within(targets: list[object], budget: float) -> dict[int, str]:
    """``id(target) -> chain`` for the targets found within ``budget`` seconds;
    never raises (attribution is a bonus: never lose a report over it)."""
    try:
        return find_chains(targets, time_budget=budget)
    except Exception:
        return {}
