"""The engine: snapshot, settle, diff, describe, group.  It knows no kind.

Data flows one way::

    probes.snapshot() --block--> settle (gc, joins, reaping, loop ticks, retries)
      --> probes.snapshot() --> diff by identity --> describe leftovers (origins)
      --> why-alive for their owners --> group into Leaks --> policy --> Report

:class:`Watcher` is one watched span (start/stop); ``watch()``, ``check()``,
the pytest plugin and ``leakwatch run`` are shells over it.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Generator, Hashable
from dataclasses import dataclass, field, replace
from typing import Any

from leakwatch._attribution import origins as _origins
from leakwatch._attribution import recording as _recording
from leakwatch._attribution import records as _records
from leakwatch._attribution.singletons import singletons
from leakwatch._base.model import RESOURCE_KINDS, Resource, group_resources
from leakwatch._base.platform import LIMITS
from leakwatch._engine.collect import Collected, collect
from leakwatch._probes import all_probes
from leakwatch._probes.heap import HeapTracker, retained
from leakwatch._probes.protocol import Probe, Snapshot, mark, new_items
from leakwatch._probes.state import diff as state_diff
from leakwatch._probes.state import snapshot as state_snapshot
from leakwatch._report.report import Report

_BACKOFF = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05)
#: Kinds that nothing in the block itself will release by waiting: a
#: descriptor or a temp path, once gc passes ran, goes only if some other
#: code closes it.  A settle left with only these stops once they have stood
#: still for ``_STILL`` of the budget (at most ``_STILL_MAX`` seconds).
_STILL_KINDS = frozenset({"fd", "tempfile"})
_STILL, _STILL_MAX = 0.25, 0.1

#: Held while leakwatch itself lists or describes resources, by every watch in
#: every thread: a descriptor one watch opens for a moment (a /proc listing, a
#: psutil read) is never in another watch's snapshot.
_OWN_IO = threading.RLock()
#: Seconds for describing a watch's leftovers, all of them together.  What is
#: left when it runs out is reported by identity alone, and a note says how many.
DESCRIBE_BUDGET = 2.0
#: Owners searched for a why-alive chain: one per group of leftovers (a group's
#: first member gives its text), and at most this many groups.
MAX_CHAINS = 64


@dataclass(frozen=True)
class Options:
    """What one watch looks at and how patiently.  See ``leakwatch._rules.config``."""

    kinds: tuple[str, ...] = RESOURCE_KINDS
    settle_budget: float = 0.5
    settle_attempts: int = 20
    tracemalloc_depth: int = 16
    strict_state: bool = False
    why_alive: bool = True
    why_alive_budget: float = 0.3
    origins: bool = True  # record creation stacks (off: cheaper, leaks show no origin)
    # gc.freeze() older objects while the block runs, so gc passes cost what the
    # block allocated.  Off by default: a block that itself calls gc.collect()
    # expecting older garbage to go would see a different program.
    freeze_gc: bool = False
    # Information-only findings of one watch: heap retained after the block (a
    # full gc pass, then a walk of the traces) and state changes not judged.
    # Off: not computed (the pytest plugin keeps only what is judged, so it
    # would pay for a gc pass per test and drop the result).  Heap tracing
    # still runs, for the origins it gives.
    info: bool = True
    label: str | None = None
    # A leftover a module global holds through attributes alone (a library's
    # singleton made on first use, see ``_singletons``): "info" reports it as
    # information (one call cannot tell it from a leak); "judge" leaves it to
    # the policy (the pytest plugin fails the second one a suite makes).
    singletons: str = "info"
    policy: Any = None  # leakwatch._rules.policy.Policy: ignore rules, known leaks, baseline

    def with_(self, **changes: Any) -> Options:
        return replace(self, **changes)


@dataclass
class SettleResult:
    new: dict[str, dict[Hashable, Any]] = field(default_factory=dict)
    attempts: int = 0
    seconds: float = 0.0


class Watcher:
    """One watched span: :meth:`start` before, :meth:`stop` (or
    :meth:`stop_async` inside a running loop) after."""

    def __init__(self, options: Options | None = None, *, label: str | None = None) -> None:
        self.options = options or Options()
        #: The report's label; ``options.label`` unless given (saves a copy of
        #: the options per test under pytest).
        self.label = options.label if label is None and options is not None else label
        kinds = set(self.options.kinds)
        if self.options.strict_state:
            kinds.add("state")  # "environment altered" needs the state probe
        self.probes: dict[str, Probe] = {k: p for k, p in all_probes().items() if k in kinds}
        self.heap = HeapTracker(self.options.tracemalloc_depth) if "heap" in kinds else None
        # Without info, state is only worth reading when it is judged (strict).
        self._watch_state = "state" in kinds and (self.options.info or self.options.strict_state)
        self._before: dict[str, Snapshot] = {}
        self._state_before: Any = None
        self._since = 0
        self._started = 0.0
        self._old_cr_depth = 0
        self._active = False
        self._frozen = False
        self._set_cr_depth = False
        #: What leakwatch's own gc passes finalised (see ``_collect``).
        self.collected: list[Collected] = []
        #: Leftovers settling does not wait for (see _park_expected), per kind.
        self._parked: dict[str, dict[Hashable, Any]] = {}
        #: ``claims([(kind, key, obj), ...]) -> {id(obj): owner}``: leftovers
        #: someone wider holds (the pytest plugin: a wider fixture's value).
        self.claims: Callable[[list[tuple[str, Hashable, Any]]], dict[int, str]] | None = None
        #: What this watch could not do, for the report's notes (one line each).
        self.notes: list[str] = []
        #: Python threads already running when the watch started (see _concurrency_note).
        self._threads_before: frozenset[tuple[int | None, int]] = frozenset()
        #: Tasks pending when the block ended; a task made later is not the block's.
        self._tasks_at_end: Snapshot | None = None

    @property
    def since(self) -> int:
        """The serial this watch started at: creation records above it are its."""
        return self._since

    # -- start ---------------------------------------------------------------

    def start(self) -> None:
        if self.options.origins:
            _origins.activate()
        self._active = True
        self._old_cr_depth = sys.get_coroutine_origin_tracking_depth()
        self._set_cr_depth = (
            self.options.origins and "task" in self.probes and self._old_cr_depth < _recording.depth
        )
        if self._set_cr_depth:
            sys.set_coroutine_origin_tracking_depth(_recording.depth)
        self._since = _records.current_serial()
        self._threads_before = _other_threads()
        self._before = self.snapshot()
        if self._watch_state:
            self._state_before = state_snapshot()
        if self.heap is not None:
            self.heap.start()
        if self.options.freeze_gc and gc.isenabled() and gc.get_freeze_count() == 0:
            # Everything older than the block leaves the collector's view, so
            # settle's gc passes cost what the block allocated.
            gc.freeze()
            self._frozen = True
        self._started = time.perf_counter()

    def snapshot(self) -> dict[str, Snapshot]:
        """Every probe's snapshot.  A probe that fails is dropped from this watch
        with a note naming it; the other kinds are still judged."""
        out: dict[str, Snapshot] = {}
        with _OWN_IO, _recording.quiet():
            for kind, probe in list(self.probes.items()):
                try:
                    out[kind] = probe.snapshot()
                except Exception as exc:
                    self._drop_probe(kind, exc)
        return out

    def mark(self) -> dict[str, Snapshot]:
        """A snapshot for a window's end, cheaper where a probe can (see FdProbe.mark)."""
        out: dict[str, Snapshot] = {}
        with _OWN_IO, _recording.quiet():
            for kind, probe in list(self.probes.items()):
                try:
                    out[kind] = mark(probe)
                except Exception as exc:
                    self._drop_probe(kind, exc)
        return out

    def _drop_probe(self, kind: str, exc: BaseException) -> None:
        # Half a view would be worse than none: every resource of the kind
        # would look new (or gone), so the kind leaves this watch altogether.
        self.probes.pop(kind, None)
        self._before.pop(kind, None)
        self.notes.append(
            f"{kind}: the probe failed ({_one_line(exc)}); {kind} leaks were not judged, "
            "the other kinds were"
        )

    def _new(self, after: dict[str, Snapshot]) -> dict[str, dict[Hashable, Any]]:
        out = {}
        for kind, probe in self.probes.items():
            items = new_items(probe, self._before.get(kind, {}), after[kind])
            if items:
                out[kind] = items
        return out

    # -- settle --------------------------------------------------------------

    def _settle(self) -> Generator[float, None, SettleResult]:
        """Retry until clean, by attempts with backoff, within the budget.

        Yields the delay to wait before the next look; the sync and async
        drivers wait it their own way.  No gc and no wait at all when the
        first look is clean, and a second look (no wait) before any gc pass
        when nothing is frozen.
        """
        t0 = time.perf_counter()
        after = self.snapshot()
        result = SettleResult(new=self._new(after))
        budget = self.options.settle_budget
        if result.new and not self._frozen and budget > 0 and self.options.settle_attempts:
            # One more look before the first gc pass, which here sees the whole
            # heap (nothing frozen: a full collection, a quarter of a second on
            # a large pytest session).  What the first look caught is often
            # already gone: a thread that returned from join() a moment ago is
            # still listed by the OS (a "native" thread) for a few microseconds.
            yield 0.0
            after = self.snapshot()
            result.new = self._new(after)
        attempt = 0
        # The attempts spread over the whole budget: a budget of 6 s is not
        # cut to the ~0.7 s twenty short backoffs take.
        longest = max(_BACKOFF[-1], 2 * budget / max(1, self.options.settle_attempts))
        still_for = min(_STILL_MAX, budget * _STILL)
        keys, still_since = _keys(result.new), time.perf_counter()
        while result.new and attempt < self.options.settle_attempts:
            now = time.perf_counter()
            elapsed = now - t0
            if elapsed >= budget:
                break
            if attempt >= 2 and set(result.new) <= _STILL_KINDS:
                current = _keys(result.new)
                if current != keys:
                    keys, still_since = current, now
                elif now - still_since >= still_for:
                    break  # only descriptors or paths, standing still after gc passes
            delay = min(
                _BACKOFF[min(attempt, len(_BACKOFF) - 1)] * 2 ** max(0, attempt - 7), longest
            )
            if attempt == 1:
                # Still something new after a cheap pass: an older garbage
                # cycle may hold it, so let the collector see everything.
                self._unfreeze()
            if attempt > 0 or set(result.new) <= _STILL_KINDS:
                # A thread, task or child that is ending needs a join, a loop
                # turn or a reap, not a collection of the whole heap (a
                # quarter of a second on a large suite): the first attempt
                # only waits for them; the collector runs from the second on.
                self.collected += collect()
            for kind, items in result.new.items():
                self.probes[kind].settle(items, timeout=min(max(delay, 0.005), budget - elapsed))
            yield min(delay, max(0.0, budget - (time.perf_counter() - t0)))
            attempt += 1
            after = self.snapshot()
            result.new = self._new(after)
            if attempt == 1:
                self._park_expected(result.new)
            if self._parked:
                result.new = self._unparked(result.new)
        if self._parked:
            # What was set aside is judged (as known, ignored or information)
            # if it is still there.
            for kind, items in self._parked.items():
                alive = {k: v for k, v in items.items() if k in after.get(kind, {})}
                if alive:
                    result.new.setdefault(kind, {}).update(alive)
            self._parked = {}
        result.attempts = attempt
        result.seconds = time.perf_counter() - t0
        return result

    def _park_expected(self, new: dict[str, dict[Hashable, Any]]) -> None:
        """Set aside leftovers no wait will change the verdict on: information
        (an event loop's executor thread) and what the policy's rules or known
        library leaks take out (anyio's idle worker threads live 10 s).  They
        are judged as usual at the end, if still there; settling waits only
        for the rest."""
        policy = self.options.policy
        expected = getattr(policy, "expected", None)
        for kind, items in new.items():
            probe = self.probes[kind]
            for key, value in items.items():
                try:
                    res = probe.describe(key, value, self._since)
                    if "benign" in res.details or (
                        expected is not None and expected(group_resources([res])[0])
                    ):
                        self._parked.setdefault(kind, {})[key] = value
                except Exception:  # describing again at the end reports it
                    continue

    def _unparked(self, new: dict[str, dict[Hashable, Any]]) -> dict[str, dict[Hashable, Any]]:
        out = {}
        for kind, items in new.items():
            parked = self._parked.get(kind, {})
            rest = {k: v for k, v in items.items() if k not in parked}
            if rest:
                out[kind] = rest
        return out

    def stop(self, *, block_failed: bool = False) -> Report:
        """Settle (sleeping between attempts), diff and build the report."""
        block_seconds = time.perf_counter() - self._started
        try:
            self._tasks_at_end = self._pending_tasks()
            steps = self._settle()
            try:
                while True:
                    time.sleep(next(steps))
            except StopIteration as done:
                settled: SettleResult = done.value
            return self._finish(settled, block_seconds, block_failed)
        finally:
            self._deactivate()

    async def stop_async(self, *, block_failed: bool = False) -> Report:
        """Like :meth:`stop`, letting the running event loop turn between attempts."""
        import asyncio

        block_seconds = time.perf_counter() - self._started
        try:
            for _ in range(3):  # callbacks scheduled by the block's last awaits
                await asyncio.sleep(0)
            self._tasks_at_end = self._pending_tasks()
            steps = self._settle()
            try:
                while True:
                    await asyncio.sleep(next(steps))
            except StopIteration as done:
                settled: SettleResult = done.value
            return self._finish(settled, block_seconds, block_failed)
        finally:
            self._deactivate()

    def abort(self) -> None:
        """Stop watching without judging (the block raised, or was abandoned)."""
        self._deactivate()

    def _unfreeze(self) -> None:
        if self._frozen:
            self._frozen = False
            gc.unfreeze()

    def _deactivate(self) -> None:
        self._unfreeze()
        if not self._active:
            return
        self._active = False
        if self.heap is not None:
            self.heap.stop()
        if self._set_cr_depth:
            # Only what this watch changed: watches may end out of order.
            self._set_cr_depth = False
            sys.set_coroutine_origin_tracking_depth(self._old_cr_depth)
        if self.options.origins:
            _recording.deactivate()

    # -- describe and judge ----------------------------------------------------

    def _finish(self, settled: SettleResult, block_seconds: float, block_failed: bool) -> Report:
        report = Report(label=self.label, block_failed=block_failed)
        with _recording.quiet():
            resources = self._describe(settled.new)
        if self.options.singletons == "info":
            resources = [_first_use(r) if "singleton" in r.details else r for r in resources]
        suspects = [r for r in resources if "benign" not in r.details]
        report.info.extend(group_resources(r for r in resources if "benign" in r.details))
        if self.heap is not None and self.options.info:
            self.collected += collect()
            report.info.extend(group_resources(retained(self.heap.sample())))
            if self.heap.note:
                report.notes.append(self.heap.note)
        if self._state_before is not None:
            changes = state_diff(self._state_before, state_snapshot())
            if self.options.strict_state:
                suspects.extend(changes)
            else:
                report.info.extend(group_resources(changes))
        report.leaks = group_resources(suspects)
        report.info.extend(c.to_leak(self._since) for c in self.collected)
        self.collected.clear()
        for kind in self.probes:
            if kind in LIMITS:
                report.notes.append(f"{kind}: {LIMITS[kind]}")
        report.notes.extend(self.notes)
        if report.leaks:
            others = _concurrency_note(self._threads_before)
            if others:
                report.notes.append(others)
        report.stats = {
            "kinds": list(self.options.kinds),
            "block_seconds": round(block_seconds, 6),
            "settle_attempts": settled.attempts,
            "settle_seconds": round(settled.seconds, 6),
        }
        if self.options.policy is not None:
            self.options.policy.apply(report)
        return report

    def _describe(self, new: dict[str, dict[Hashable, Any]]) -> list[Resource]:
        """Describe each leftover, one at a time: a leftover that cannot be
        described is reported by identity with a note, never at the cost of
        the others.  Describing all of them is given :data:`DESCRIBE_BUDGET`
        seconds; why-alive chains are searched for one owner per group."""
        resources: list[Resource] = []
        owners: list[tuple[int, Any]] = []
        held: list[tuple[int, Any]] = []  # (resource, the object a singleton would hold)
        keyed: list[tuple[str, Hashable, Any]] = []  # the same, by kind and key
        chained: set[Hashable] = set()
        failed: dict[str, list[str]] = {}
        cut = 0
        deadline = time.perf_counter() + DESCRIBE_BUDGET
        with _OWN_IO:
            for kind, items in new.items():
                probe = self.probes.get(kind)
                if probe is None:
                    continue
                if kind == "task" and self._tasks_at_end is not None:
                    items = _made_by_block(items, self._tasks_at_end)
                owner_of = getattr(probe, "owner", None)
                for key, value in items.items():
                    if time.perf_counter() > deadline:
                        cut += 1
                        resources.append(_undescribed(kind, key, "budget"))
                        continue
                    try:
                        res = probe.describe(key, value, self._since)
                    except Exception as exc:
                        failed.setdefault(kind, []).append(_one_line(exc))
                        resources.append(_undescribed(kind, key, _one_line(exc)))
                        continue
                    resources.append(res)
                    if "benign" in res.details:
                        continue
                    try:
                        owner = owner_of(key, value) if owner_of is not None else None
                    except Exception:  # attribution is a bonus
                        owner = None
                    # What a singleton would hold: the resource's own object (a
                    # thread, a task), else the object owning it (a descriptor's
                    # socket or file) -- never what a thread merely runs on.
                    obj = value() if isinstance(value, weakref.ref) else owner
                    if obj is not None:
                        held.append((len(resources) - 1, obj))
                        keyed.append((kind, key, obj))
                    signature = (kind, res.group, res.origin)
                    if (
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
        if held:
            try:
                found = singletons([obj for _, obj in held])
            except Exception:  # a refinement: without it the leftover is judged
                found = {}
            try:
                claimed = self.claims(keyed) if self.claims is not None else {}
            except Exception:
                claimed = {}
            for index, obj in held:
                res = resources[index]
                path = found.get(id(obj))
                if path and "singleton" not in res.details:
                    res = replace(res, details={**res.details, "singleton": path})
                holder = claimed.get(id(obj))
                if holder and "benign" not in res.details:
                    note = f"kept by {holder}, whose value holds it: judged when it is finalised"
                    res = replace(res, details={**res.details, "benign": note, "kept_by": holder})
                resources[index] = res
            held.clear()
            keyed.clear()
        if owners:
            chains = _find_chains([o for _, o in owners], self.options.why_alive_budget)
            for index, owner in owners:
                chain = chains.get(id(owner))
                if chain:
                    res = resources[index]
                    resources[index] = replace(res, details={**res.details, "held_by": chain})
            owners.clear()
        return resources

    def _pending_tasks(self) -> Snapshot | None:
        probe = self.probes.get("task")
        if probe is None:
            return None
        try:
            return probe.snapshot()
        except Exception:
            return None


def _one_line(exc: BaseException) -> str:
    try:
        return "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
    except Exception:
        return type(exc).__name__


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


def _made_by_block(items: dict[Hashable, Any], at_end: Snapshot) -> dict[Hashable, Any]:
    """Leftover tasks that were already pending when the block ended.

    A task another task started (and maybe finished) while this watch settled
    is not the block's, whoever's it is.
    """
    kept = {}
    for key, ref in items.items():
        old = at_end.get(key)
        if old is not None and old() is ref():
            kept[key] = ref
    return kept


def _other_threads() -> frozenset[tuple[int | None, int]]:
    from leakwatch._probes.threads import INTERNAL_PREFIX

    current = threading.get_ident()
    out: set[tuple[int | None, int]] = set()
    for t in threading.enumerate():
        name = getattr(t, "_name", "")
        if t.ident != current and not (isinstance(name, str) and name.startswith(INTERNAL_PREFIX)):
            out.add((t.ident, id(t)))
    return frozenset(out)


def _concurrency_note(before: frozenset[tuple[int | None, int]]) -> str | None:
    """A note when other threads ran through the block: a watch is process-wide,
    so what they opened or started meanwhile counts as the block's."""
    during = before & _other_threads()
    if not during:
        return None
    return (
        f"{len(during)} other thread(s) were alive while the block ran: a watch sees the "
        "whole process, so what they made meanwhile and still hold is counted here too"
    )


def _keys(new: dict[str, dict[Hashable, Any]]) -> set[tuple[str, Hashable]]:
    return {(kind, key) for kind, items in new.items() for key in items}


def _first_use(res: Resource) -> Resource:
    """A singleton's resource as information: see ``Options.singletons``."""
    note = (
        f"held by the module global {res.details['singleton']} through attributes alone: "
        "a process-wide object made on first use (check() with warmup tells it from a leak)"
    )
    return replace(res, details={**res.details, "benign": note})


def _find_chains(targets: list[Any], budget: float) -> dict[int, str]:
    try:
        from leakwatch._attribution.whyalive import find_chains
    except ImportError:
        return {}
    try:
        return find_chains(targets, time_budget=budget)
    except Exception:  # attribution is a bonus: never lose the report over it
        return {}
