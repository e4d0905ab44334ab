"""Describing leftovers: each probe's plain-data description, with why-alive chains.

One leftover that cannot be described is reported by identity with a note,
never at the cost of the others; describing all of them together is given
:data:`DESCRIBE_BUDGET` seconds.  Must not judge: the policy does.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import Any

from leakwatch._attribution import recording as _recording
from leakwatch._attribution.owners import Owner, pools
from leakwatch._attribution.singletons import search_singletons, singletons
from leakwatch._base.model import Resource
from leakwatch._base.wording import one_line
from leakwatch._engine import searched as _searched
from leakwatch._engine.chains import Chains
from leakwatch._engine.options import Options
from leakwatch._engine.snapshot import OWN_IO
from leakwatch._probes import departures as _departures
from leakwatch._probes.protocol import Departed, Probe

#: Seconds (of this thread's CPU time, so the load does not cut it short) for
#: describing a watch's leftovers, all of them together.  What is
#: left when it runs out is reported by identity alone, and a note says how many.
DESCRIBE_BUDGET = 2.0


#: Owners searched for a why-alive chain: one per group of leftovers (a group's
#: first member gives its text), and at most this many groups.
MAX_CHAINS = 64


def _key_text(key: Hashable) -> str:
    try:
        return repr(key)[:200]
    except Exception:
        return f"<{type(key).__name__}>"


def _undescribed(kind: str, key: Hashable, why: str) -> Resource:
    """What is known of a leftover that could not be described: its kind and identity."""
    title = f"{kind} {_key_text(key)}, creation not seen: not described"
    if why == "budget":
        note = f"not described: the {DESCRIBE_BUDGET:g} s budget for describing leftovers ran out"
    else:
        note = f"describing it failed: {why}"
    return Resource(kind, key, title, (), {"origin_note": note}, group="undescribed")


def _first_use(res: Resource) -> Resource:
    """A singleton's resource as information: see ``Options.singletons``."""
    note = (
        f"held by the module global {res.details['singleton']} through attributes alone: "
        "a process-wide object made on first use (check() with warmup tells it from a leak)"
    )
    return replace(res, details={**res.details, "benign": note})


#: ``claims([(kind, key, obj), ...]) -> {id(obj): owner}``: leftovers someone
#: wider holds (the pytest plugin: a wider fixture's value).
Claims = Callable[[list[tuple[str, Hashable, Any]]], dict[int, str]]
#: ``keeps_departed(kind, item)``: whether a departed resource is the watch's
#: to judge (see ``Watcher.keeps_departed``).
KeepsDeparted = Callable[[str, Departed], bool]


class Describer:
    """Describing one watch's leftovers within a budget, with why-alive chains
    for their owners.

    Reads the watch's ``options`` and asks its ``probes``; shows the chains
    settling found in ``chains`` (searching the rest); asks
    ``keeps_departed`` which departed resources are the watch's.
    :meth:`describe` returns the resources, and what it could not do is
    added to ``notes`` (the watch's)."""

    def __init__(
        self,
        options: Options,
        probes: dict[str, Probe],
        chains: Chains,
        notes: list[str],
        keeps_departed: KeepsDeparted,
    ) -> None:
        self.options = options
        self.probes = probes
        #: Why-alive chains settling found already (see ``_engine/chains.py``).
        self._chains = chains
        self.notes = notes
        self.keeps_departed = keeps_departed
        #: How many casualties were filed before the watch began (read as it
        #: is made, before it starts: see :meth:`_departed`).
        self.filed_at = _departures.filed
        # One describe's own inputs (see :meth:`describe`).
        self._since = 0
        self._expected: set[tuple[str, Hashable]] = set()
        self.claims: Claims | None = None

    def describe(
        self,
        new: dict[str, dict[Hashable, Any]],
        *,
        since: int,
        expected: set[tuple[str, Hashable]],
        claims: Claims | None,
    ) -> list[Resource]:
        """The leftovers ``new`` of a watch started at creation serial
        ``since``, described, and what ended during it as a leak all the same.
        ``expected``: ``(kind, key)`` the policy takes out (set aside while
        settling), whose verdict needs no search; ``claims``: who wider holds
        a leftover, or None."""
        self._since, self._expected, self.claims = since, expected, claims
        return self._describe(new)

    def _describe(self, new: dict[str, dict[Hashable, Any]]) -> list[Resource]:
        """Describe each leftover, one at a time: a leftover that cannot be
        described is reported by identity with a note, never at the cost of
        the others.  Describing all of them is given :data:`DESCRIBE_BUDGET`
        seconds; why-alive chains are searched for one owner per group."""
        if not new:  # most watches end clean: only what ended as a leak
            return self._departed(set())
        with _recording.quiet():  # its reads (psutil, /proc, sources) are leakwatch's own
            return self._describe_new(new)

    def _describe_new(self, new: dict[str, dict[Hashable, Any]]) -> list[Resource]:
        resources: list[Resource] = []
        owners: list[tuple[int, Any]] = []
        held: list[tuple[int, Any, bool]] = []  # (resource, its object, may a global hold it)
        keyed: list[tuple[str, Hashable, Any]] = []  # the same, by kind and key
        self._describe_each(new, resources, owners, held, keyed)
        if owners:  # first: a chain is part of what a singleton search remembers
            self._add_chains(resources, owners)
            owners.clear()
        if held:
            self._mark_held(resources, held, keyed)
            held.clear()
            keyed.clear()
        resources = self._owned(resources, new)
        resources.extend(self._departed({(r.kind, r.key) for r in resources}))
        return resources

    def _describe_each(
        self,
        new: dict[str, dict[Hashable, Any]],
        resources: list[Resource],
        owners: list[tuple[int, Any]],
        held: list[tuple[int, Any, bool]],
        keyed: list[tuple[str, Hashable, Any]],
    ) -> None:
        """Each leftover's description into ``resources``; into ``held`` and
        ``keyed`` the object a global or a wider fixture might hold, into
        ``owners`` one owner per group to search a chain for.  What could not
        be described, or was past the budget, is noted."""
        chained: set[Hashable] = set()
        failed: dict[str, list[str]] = {}
        cut = 0
        deadline = time.thread_time() + DESCRIBE_BUDGET  # CPU time: not cut short by load
        # leakwatch's own reads (source lines for the stacks) are no creations.
        with OWN_IO, _recording.quiet():
            for kind, items in new.items():
                probe = self.probes.get(kind)
                if probe is None:
                    continue
                for key, value in items.items():
                    if isinstance(value, weakref.ref) and value() is None:
                        continue  # gone since the last look (a task done, a thread ended)
                    if time.thread_time() > deadline:
                        cut += 1
                        resources.append(_undescribed(kind, key, "budget"))
                        continue
                    try:
                        res = probe.describe(key, value, self._since)
                    except Exception as exc:
                        failed.setdefault(kind, []).append(one_line(exc))
                        resources.append(_undescribed(kind, key, one_line(exc)))
                        continue
                    resources.append(res)
                    if "benign" in res.details or (kind, key) in self._expected:
                        # Information, or what the policy takes out (a known
                        # library leak): its verdict needs no search through
                        # the heap for a singleton, a claim or a chain.
                        continue
                    try:
                        owner = probe.owner(key, value)
                    except Exception:  # attribution is a bonus
                        owner = None
                    # What a singleton would hold: the resource's own object (a
                    # thread, a task), else the object owning it (a descriptor's
                    # socket or file) -- never what a thread merely runs on.
                    obj = value() if isinstance(value, weakref.ref) else owner
                    if obj is not None:
                        # A native thread's owner is what it runs on (its
                        # target's object): a global holding that object says
                        # nothing of the thread (a wider fixture's claim does).
                        alone = probe.owner_holds_it or obj is not owner
                        held.append((len(resources) - 1, obj, alone))
                        keyed.append((kind, key, obj))
                    signature = (kind, res.group, res.origin)
                    own = _own(probe, key, value, owner) if self.options.why_alive else None
                    if own:  # settling found nothing but the leftover holds it: no search
                        resources[-1] = replace(res, details={**res.details, "held_by": own})
                    elif (
                        owner is not None
                        and self.options.why_alive
                        and signature not in chained
                        and len(chained) < MAX_CHAINS
                    ):
                        chained.add(signature)
                        owners.append((len(resources) - 1, owner))
                    del owner, obj
        for kind, errors in failed.items():
            self.notes.append(
                f"{kind}: {len(errors)} leftover(s) could not be described ({errors[0]}); "
                "reported by identity only"
            )
        if cut:
            self.notes.append(
                f"{cut} of {sum(len(v) for v in new.values())} leftovers were not described: "
                f"describing is given {DESCRIBE_BUDGET:g} s in all; they are reported by "
                "identity only"
            )

    def _mark_held(
        self,
        resources: list[Resource],
        held: list[tuple[int, Any, bool]],
        keyed: list[tuple[str, Hashable, Any]],
    ) -> None:
        """A leftover a module global holds through attributes alone (a
        singleton) says so; one a wider fixture's value holds is information."""
        shapes = {i: _searched.shape(resources[i]) for i, _, alone in held if alone}
        asked = [obj for i, obj, alone in held if alone and not _searched.settled(shapes[i])]
        try:
            found, none = search_singletons(asked, own=(*held, *keyed, *self._chains.holding()))
        except Exception:  # a refinement: without it the leftover is judged
            found, none = {}, set()
        for i, obj, alone in held:
            if alone and id(obj) in none:
                _searched.remember(shapes[i])
        del asked
        try:
            claimed = self.claims(keyed) if self.claims is not None else {}
        except Exception:
            claimed = {}
        for index, obj, alone in held:
            res = resources[index]
            path = found.get(id(obj)) if alone else None
            if path and "singleton" not in res.details:
                res = replace(res, details={**res.details, "singleton": path})
            holder = claimed.get(id(obj))
            if holder and "benign" not in res.details:
                note = f"kept by {holder}, whose value holds it: judged when it is finalised"
                res = replace(res, details={**res.details, "benign": note, "kept_by": holder})
            resources[index] = res

    def _add_chains(self, resources: list[Resource], owners: list[tuple[int, Any]]) -> None:
        """Each searched owner's why-alive chain, on its leftover."""
        chains = self._chains.get([o for _, o in owners], self.options.why_alive_budget)
        for index, owner in owners:
            chain = chains.get(id(owner))
            if chain:
                res = resources[index]
                resources[index] = replace(res, details={**res.details, "held_by": chain})

    def _owned(
        self, resources: list[Resource], new: dict[str, dict[Hashable, Any]]
    ) -> list[Resource]:
        """One verdict for the parts of one owner (a pool: see ``_attribution.owners``)."""
        try:
            owners = pools() if resources else []
        except Exception:  # a refinement: without it each part is judged alone
            owners = []
        if not owners:
            return resources
        parts: dict[int, list[int]] = {}
        for index, res in enumerate(resources):
            probe = self.probes.get(res.kind)
            value = new.get(res.kind, {}).get(res.key)
            obj = None
            try:
                obj = probe.owner(res.key, value) if probe is not None else None
                hit = next((o for o in owners if o.has(res.kind, value, obj)), None)
            except Exception:
                hit = None
            del obj
            if hit is not None:
                parts.setdefault(id(hit), []).append(index)
        for owner in owners:
            indexes = parts.get(id(owner), [])
            if indexes:
                _one_verdict(owner, [resources[i] for i in indexes], resources, indexes)
        return resources

    def _departed(self, alive: set[tuple[str, Hashable]]) -> list[Resource]:
        """What ended during the watch as a leak all the same (a task still
        pending when its loop shut down), made in the watch and held by no one
        wider as it ended; described as it ended."""
        out: list[Resource] = []
        if _departures.filed == self.filed_at:  # most watches: nothing ended so
            return out
        for kind, probe in self.probes.items():
            try:
                gone = list(probe.departed(self._since))
            except Exception:  # one probe's refinement: never the report
                continue
            for item in gone:
                # Still alive (a task on a loop closed without cancelling it):
                # reported once, as it is now.
                if (kind, item.key) not in alive and self.keeps_departed(kind, item):
                    out.append(item.resource)
        return out


def _one_verdict(owner: Owner, members: list[Resource], out: list[Resource], at: list[int]) -> None:
    """Give every part of ``owner`` the same details: its name, and one verdict.

    A wider owner's claim on any part (a fixture's value holding the pool)
    or a singleton path to the pool object decides for all parts; else a
    running pool is a leak, all of it, and a shut-down one is not.
    """
    kept = next((m.details for m in members if m.details.get("kept_by")), None)
    pool = owner.ref()
    found = singletons([pool]) if pool is not None and owner.running else {}
    path = found.get(id(pool))
    del pool
    for index, res in zip(at, members, strict=True):
        details = {k: v for k, v in res.details.items() if k not in ("benign", "singleton")}
        details["owned_by"] = owner.verdict
        if kept is not None:
            details["benign"], details["kept_by"] = kept["benign"], kept["kept_by"]
        elif path:
            details["singleton"] = path
        elif not owner.running:
            details["benign"] = f"part of {owner.verdict}"
        out[index] = replace(res, details=details)


def _own(probe: Probe, key: Hashable, value: Any, owner: Any) -> str | None:
    """``probe.own_chain``; None without an owner or if it raises (attribution is a bonus)."""
    try:
        return probe.own_chain(key, value, owner) if owner is not None else None
    except Exception:
        return None
