"""Heap: allocations made inside the block and still alive after it, by site.

If tracemalloc is not running, it is started at block entry, so the snapshot
taken at the end holds only what the block allocated: the cost follows the
block, not the heap.  If it was already running (``-X tracemalloc``, an outer
watch), the end snapshot is compared with one taken at entry instead, which
costs in proportion to the whole heap; the report says so.

leakwatch's own allocations are left out: a trace is dropped when a
leakwatch frame comes before any user frame in its traceback.

Before 3.12.5, ``tracemalloc.stop()`` leaks every traceback recorded while
tracing (CPython gh-121390): ~25 KiB per ``check()``, 27 MB over 1,000.
There leakwatch counts what its stops have cost; once that passes
:data:`STOP_LEAK_BUDGET` it leaves tracemalloc running instead (no further
leak; the program runs traced from then on, which only a process making
hundreds of checks reaches), and later blocks compare against a sample taken
at their start, as with ``-X tracemalloc``.

Like every probe, it lists and describes; it must not judge.
"""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leakwatch._attribution.stacks import tracemalloc_origin
from leakwatch._base.model import Resource
from leakwatch._base.paths import is_own, is_user_file
from leakwatch._base.pyversion import TRACEMALLOC_STOP_LEAKS
from leakwatch._base.wording import format_size

Site = tuple[tuple[str, int], ...]  # tracemalloc traceback, most recent first


@dataclass
class SiteStat:
    size: int = 0
    count: int = 0


def _raw_traces() -> list[Any]:
    """(domain, size, traceback, ...) of every live traced block.

    ``_get_traces`` is what ``take_snapshot`` itself reads; its tracebacks are
    already tuples of (filename, lineno), most recent first, shared between
    blocks, so they serve as site keys without building a Snapshot.
    """
    get = getattr(tracemalloc, "_get_traces", None)
    if get is None:
        snap = tracemalloc.take_snapshot()
        return [(t.domain, t.size, site_of(t.traceback)) for t in snap.traces]
    return get()  # type: ignore[no-any-return]


#: Sites a tracker remembers as leakwatch's own or not, at most.  The memo
#: lives with one tracker, from its start to its stop: sites recur across
#: the samples of one check, but a memo kept across checks would hold a
#: 16-frame tuple for every stack leakwatch was ever called from.
OWN_MEMO = 20_000


def _sites(own_cache: dict[Site, bool]) -> dict[Site, SiteStat]:
    """Live traced blocks by site, leakwatch's own left out (``own_cache``: the memo)."""
    out: dict[Site, SiteStat] = {}
    if len(own_cache) > OWN_MEMO:
        own_cache.clear()
    for trace in _raw_traces():
        site = trace[2]
        stat = out.get(site)
        if stat is None:
            own = own_cache.get(site)
            if own is None:
                own = own_cache[site] = _allocated_by_leakwatch(site)
            if own:
                continue
            stat = out[site] = SiteStat()
        stat.size += trace[1]
        stat.count += 1
    return out


def site_of(traceback: tracemalloc.Traceback) -> Site:
    """A traceback as a site key, most recent frame first (as ``_get_traces`` gives)."""
    return tuple((f.filename, f.lineno) for f in reversed(traceback))


def object_site(obj: object) -> Site | None:
    """Where ``obj`` was allocated, as a site key; None when not traced."""
    raw = getattr(tracemalloc, "_get_object_traceback", None)
    if raw is not None:
        return raw(obj)  # type: ignore[no-any-return]
    tb = tracemalloc.get_object_traceback(obj)
    return None if tb is None else site_of(tb)


def _allocated_by_leakwatch(site: Site) -> bool:
    for filename, _ in site:
        if is_own(filename) or filename == tracemalloc.__file__:
            return True
        if is_user_file(filename):
            return False
    return False


#: Bytes (as ``tracemalloc.get_tracemalloc_memory()`` counts them just before
#: each stop, an upper bound of what the stop leaks) that leakwatch lets
#: CPython leak before it keeps tracemalloc running instead.
STOP_LEAK_BUDGET = 16 * 1024 * 1024


class _Stops:
    """What leakwatch's own stops of tracemalloc have cost, process-wide."""

    spent = 0
    #: leakwatch left tracemalloc running (the budget is spent): it is ours.
    kept = False


class HeapTracker:
    """Start at block entry, :meth:`sample` at the end (or after each call)."""

    def __init__(self, depth: int = 16) -> None:
        self.depth = depth
        self.owned = False
        #: tracemalloc was running, started by someone else (-X tracemalloc).
        self.foreign = False
        self._base: dict[Site, SiteStat] | None = None
        #: Whether a site is leakwatch's own allocation, while tracing (see OWN_MEMO).
        self._own: dict[Site, bool] = {}

    def start(self) -> None:
        if _Stops.kept and not tracemalloc.is_tracing():
            _Stops.kept = False  # someone stopped it since: start afresh
        if tracemalloc.is_tracing():
            self.owned = _Stops.kept
            self.foreign = not _Stops.kept
            self._base = _sites(self._own)
        else:
            tracemalloc.start(self.depth)
            self.owned, self.foreign = True, False
            self._base = None

    @property
    def note(self) -> str | None:
        if self.foreign:
            return (
                "tracemalloc was already running: "
                "heap figures compare two snapshots of the whole heap"
            )
        if _Stops.kept:
            return (
                "tracemalloc is kept running: on this Python each stop leaks the tracebacks "
                "it recorded (CPython gh-121390, fixed in 3.12.5 and 3.13), and leakwatch's "
                f"stops had cost up to {_Stops.spent / 2**20:.0f} MiB"
            )
        return None

    def sample(self) -> dict[Site, SiteStat]:
        """Live allocations made since :meth:`start`, by site."""
        if not tracemalloc.is_tracing():
            return {}
        now = _sites(self._own)
        if self._base is None:
            return now
        out = {}
        for site, stat in now.items():
            old = self._base.get(site)
            size = stat.size - (old.size if old else 0)
            if size > 0:
                out[site] = SiteStat(size, max(0, stat.count - (old.count if old else 0)))
        return out

    def stop(self) -> None:
        if self.owned and tracemalloc.is_tracing() and not _Stops.kept:
            if stop_costs_memory():
                _Stops.spent += tracemalloc.get_tracemalloc_memory()
                _Stops.kept = _Stops.spent > STOP_LEAK_BUDGET
            if not _Stops.kept:
                tracemalloc.stop()
        self.owned = False
        self._base = None
        self._own = {}


def stop_costs_memory() -> bool:
    """Whether stopping tracemalloc leaks its tracebacks on this Python."""
    return TRACEMALLOC_STOP_LEAKS


def retained(
    sample: dict[Site, SiteStat], *, limit: int = 10, min_size: int = 512
) -> list[Resource]:
    """The largest sites still holding memory after one block: information only."""
    ranked = sorted(sample.items(), key=lambda kv: kv[1].size, reverse=True)
    out = []
    for site, stat in ranked[:limit]:
        if stat.size < min_size:
            break
        origin = tracemalloc_origin(site)
        where = _where(origin)
        title = f"{format_size(stat.size)} retained in {stat.count} blocks, allocated at {where}"
        details = {"blocks": stat.count, "note": "one call cannot tell a cache from a leak"}
        out.append(Resource("heap", site, title, origin, details, size=stat.size, group="retained"))
    return out


#: Per-call growth a single site must show when the block count alone does
#: not confirm it: large blocks come from malloc, which getallocatedblocks()
#: does not count.
LARGE_GROWTH = 1024


def growing(
    samples: Sequence[dict[Site, SiteStat]],
    *,
    blocks: Sequence[int] = (),
    min_growth: int = 1,
) -> list[tuple[Site, list[int], SiteStat]]:
    """Sites whose retained size grew on every judged call (regrtest -R's rule).

    ``samples[i]`` is what the judged calls had left alive after call ``i``;
    the series starts from 0 before the first call, so a site filled once
    (a cache reaching its size) shows one delta and then none: not growth.

    Per-site figures alone can mislead: CPython's free lists hand out memory
    allocated before tracing started, so a cache that merely turns over reads
    as a slow climb of traced blocks.  ``blocks`` is ``sys.getallocatedblocks()``
    before the judged calls and after each (leakwatch's own bookkeeping taken
    out); when it did not grow on every call, only sites growing by at least
    :data:`LARGE_GROWTH` bytes per call (malloc'd blocks it cannot see) count.
    """
    if not samples:
        return []
    confirmed = len(blocks) > 1 and all(b > a for a, b in itertools.pairwise(blocks))
    out = []
    for site, last in samples[-1].items():
        series = [0] + [s[site].size if site in s else 0 for s in samples]
        deltas = [b - a for a, b in itertools.pairwise(series)]
        if not all(d >= min_growth for d in deltas):
            continue
        if confirmed or min(deltas) >= LARGE_GROWTH:
            out.append((site, series, last))
    out.sort(key=lambda item: item[2].size, reverse=True)
    return out


def _where(origin: Sequence[object]) -> str:
    frames = list(origin)
    users = [f for f in frames if is_user_file(getattr(f, "filename", ""))]
    f = users[-1] if users else (frames[-1] if frames else None)
    if f is None:
        return "?"
    return f"{getattr(f, 'filename', '?')}:{getattr(f, 'lineno', '?')}"
