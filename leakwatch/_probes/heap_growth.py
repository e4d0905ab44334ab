"""The heap as a :class:`~leakwatch._probes.protocol.Growth`: what one block
retained, or the sites and object types that grew on every judged call.

:class:`HeapGrowth` turns per-call tracemalloc samples and gc-object counts
into heap :class:`~leakwatch._base.model.Resource`\\ s, with the objects at a
growing site handed to why-alive so culprits and victims are told apart.
Must not call the user's function: :mod:`leakwatch._watch.growth` does.
"""

from __future__ import annotations

import gc
import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any

from leakwatch._attribution.stacks import tracemalloc_origin
from leakwatch._base.model import Resource
from leakwatch._base.paths import is_own, is_user_file
from leakwatch._base.wording import format_size
from leakwatch._probes.heap import HeapTracker, Site, SiteStat, growing, object_site, retained
from leakwatch._probes.protocol import Growth


class HeapGrowth(Growth):
    """The heap's tracer for one watch (what the block retained, information
    only) or one check (what grew on every judged call: :meth:`judge`).

    ``why_alive_budget``: seconds for the chains of a growing site's objects,
    or None for none."""

    kind = "heap"
    traces = True
    collects_first = True  # what is garbage is not retained
    # Sampling the traces at start (tracemalloc already running) fills
    # leakwatch's and the interpreter's caches.
    fills_caches = True

    def __init__(self, depth: int = 16, why_alive_budget: float | None = None) -> None:
        self.tracker = HeapTracker(depth)
        self.why_alive_budget = why_alive_budget
        self.traces_seen: list[Any] = []
        self.types: list[Counter[str]] = []
        self.site_types: dict[Site, Counter[str]] = {}
        self.type_growth: dict[str, int] = {}

    def start(self) -> None:
        self.tracker.start()

    def changed(self) -> list[Resource]:
        return retained(self.tracker.sample())

    def sample(self) -> None:
        self.traces_seen.append(self.tracker.sample())
        by_type, self.site_types = _new_objects()
        self.types.append(by_type)

    def grown(self, repeat: int, blocks: Sequence[int]) -> list[Resource]:
        """Tracing stops here.  Where the growing sites' objects are only
        tracemalloc knows; why-alive chains and culprits need no tracing and
        cost many times more under it (every allocation of the search would
        record a traceback): trace no longer than needed."""
        grown = growing(self.traces_seen, blocks=blocks)
        budget = self.why_alive_budget
        sites = {site for site, _, _ in grown[:10]} if budget is not None else set()
        held = _objects_at(sites) if sites else {}
        self.tracker.stop()
        growth = _heap_leaks(grown, held, self.site_types, repeat, budget or 0.0)
        # Object types carry the same free-list caveat as sites: only shown
        # beside a confirmed heap leak.
        self.type_growth = _growing_types(self.types) if growth else {}
        return growth

    def stop(self) -> None:
        self.tracker.stop()

    def notes(self) -> list[str]:
        note = self.tracker.note
        return [note] if note else []

    def stats(self) -> dict[str, Any]:
        return {"type_growth": self.type_growth}


def _find_chains(targets: list[Any], budget: float) -> dict[int, str]:
    """``id(target) -> chain`` within ``budget`` (the search, imported when asked)."""
    from leakwatch._attribution.whyalive import chains_within

    return chains_within(targets, budget)


def _new_objects() -> tuple[Counter[str], dict[Site, Counter[str]]]:
    """Types of the objects made since the freeze, overall and by site."""
    by_type: Counter[str] = Counter()
    by_site: dict[Site, Counter[str]] = {}
    objects = gc.get_objects()
    try:
        for obj in objects:
            site = object_site(obj)
            if site is None or _own(site):
                continue
            name = type(obj).__qualname__
            by_type[name] += 1
            by_site.setdefault(site, Counter())[name] += 1
    finally:
        del objects
    return by_type, by_site


def _own(site: Site) -> bool:
    for filename, _ in site:
        if is_own(filename):
            return True
        if is_user_file(filename):
            return False
    return False


def _objects_at(sites: set[Site], limit: int = 20) -> dict[Site, list[Any]]:
    found: dict[Site, list[Any]] = {}
    objects = gc.get_objects()
    try:
        for obj in objects:
            site = object_site(obj)
            if site is not None and site in sites and len(found.setdefault(site, [])) < limit:
                found[site].append(obj)
    finally:
        del objects
    return found


def _growing_types(series: list[Counter[str]]) -> dict[str, int]:
    if not series:
        return {}
    out = {}
    for name, last in series[-1].items():
        counts = [0] + [c.get(name, 0) for c in series]
        if all(b > a for a, b in itertools.pairwise(counts)):
            out[name] = last
    return dict(sorted(out.items(), key=lambda kv: -kv[1])[:20])


def _heap_leaks(
    grown: list[tuple[Site, list[int], SiteStat]],
    objects: dict[Site, list[Any]],
    site_types: dict[Site, Counter[str]],
    repeat: int,
    budget: float,
) -> list[Resource]:
    """A heap leak per growing site, with what holds its objects (``objects``:
    some of each site's live objects, found while tracing; emptied here)."""
    if not grown:
        return []
    victims, indirect = _fold_victims(objects)
    out = []
    for site, series, last in grown:
        if site in victims:
            continue  # counted under the site whose objects hold these
        per_call = (series[-1] - series[0]) / repeat
        origin = tracemalloc_origin(site)
        types = dict(site_types.get(site, Counter()).most_common(5))
        details: dict[str, Any] = {
            "growth_per_call": round(per_call),
            "series": series[1:],
            "blocks": last.count,
            "types": types,
            "group": "growth",
        }
        held = objects.get(site)
        if held:
            chains = _find_chains(held[:5], budget)
            chain = next((c for c in chains.values() if c), None)
            if chain:
                details["held_by"] = chain
        del held
        what = ", ".join(f"{n} {t}" for t, n in types.items()) or f"{last.count} blocks"
        total = format_size(last.size)
        title = f"heap grows {format_size(per_call)} per call ({total} over {repeat} calls: {what})"
        n_indirect, indirect_bytes = indirect.get(site, (0, 0))
        if n_indirect:
            details["indirect"] = {"objects": n_indirect, "bytes": indirect_bytes}
            title += f" (+{n_indirect} indirect, {format_size(indirect_bytes)})"
        out.append(Resource("heap", site, title, origin, details, size=last.size, group="growth"))
    objects.clear()
    return out


def _fold_victims(
    objects: dict[Site, list[Any]],
) -> tuple[set[Site], dict[Site, tuple[int, int]]]:
    """Culprits, not victims: sites whose sampled objects are only reachable
    through another growing site's objects, and per culprit site the count
    and bytes of what it holds that way."""
    if len(objects) < 2:
        return set(), {}
    try:
        from leakwatch._attribution.whyalive import culprits
    except ImportError:
        return set(), {}
    members = [obj for objs in objects.values() for obj in objs]
    try:
        found = culprits(members)
    except Exception:  # attribution is a bonus
        return set(), {}
    by_id = {id(obj): (n, size) for obj, n, size in found}
    del found, members
    victims: set[Site] = set()
    indirect: dict[Site, tuple[int, int]] = {}
    for site, objs in objects.items():
        mine = [by_id[id(o)] for o in objs if id(o) in by_id]
        if not mine:
            victims.add(site)
        else:
            indirect[site] = (sum(n for n, _ in mine), sum(b for _, b in mine))
    return victims, indirect
