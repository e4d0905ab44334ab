"""The engine: snapshot, settle, diff, describe, group.  It knows no kind.

Data flows one way::

    probes.snapshot() --block--> settle (gc, joins, reaping, loop ticks, retries)
      --> probes.snapshot() --> diff by identity --> describe leftovers (origins)
      --> why-alive for their owners --> group into Leaks --> policy --> Report

:class:`Watcher` is one watched span (start/stop); ``watch()``, ``check()``,
the pytest plugin and ``leakwatch run`` are shells over it.  Its steps live
beside it, each an object the watcher holds: :class:`Snapshots` (every
probe's look, and what is new), :class:`Settler`, :class:`Describer`; and
``options``.  Heap, state and native memory are growths
(``leakwatch._probes.protocol.Growth``), asked what the block changed.  This
module starts and stops a watch and builds the report; it must not know a
kind of resource nor a rule.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Hashable
from typing import Any

from leakwatch._attribution import origins as _origins
from leakwatch._attribution import recording as _recording
from leakwatch._attribution import records as _records
from leakwatch._attribution.referrers import forget, remembering
from leakwatch._base.identity import identity
from leakwatch._base.model import Resource, group_resources
from leakwatch._base.platform import LIMITS
from leakwatch._engine.chains import Chains
from leakwatch._engine.collect import collect
from leakwatch._engine.describe import Claims, Describer, _first_use
from leakwatch._engine.options import Options, SettleResult
from leakwatch._engine.settle import Settler
from leakwatch._engine.snapshot import Snapshots
from leakwatch._probes import all_growths, all_probes
from leakwatch._probes.protocol import Departed, Growth, Probe, untraced_first
from leakwatch._report.report import Report


class Watcher:
    """One watched span: :meth:`start` before, :meth:`stop` (or
    :meth:`stop_async` inside a running loop) after.

    Its extension points, for a span of a test runner: :meth:`select`,
    :meth:`keeps_departed` and :meth:`annotate`."""

    def __init__(
        self,
        options: Options | None = None,
        *,
        label: str | None = None,
        probes: dict[str, Probe] | None = None,
    ) -> None:
        self.options = options or Options()
        #: The report's label; ``options.label`` unless given (saves a copy of
        #: the options per test under pytest).
        self.label = options.label if label is None and options is not None else label
        kinds = self.options.kinds
        #: ``probes``: one per kind in ``kinds``, shared by watches that never
        #: overlap (a runner's tests, one after another); made fresh if None.
        #: A probe that fails leaves this watch's dict, not the shared one.
        self.probes: dict[str, Probe] = (
            {k: p for k, p in all_probes().items() if k in kinds}
            if probes is None
            else dict(probes)
        )
        #: The kinds judged as a whole (what the block changed), by kind.
        self.growths: dict[str, Growth] = all_growths(
            kinds,
            info=self.options.info,
            strict_state=self.options.strict_state,
            depth=self.options.tracemalloc_depth,
        )
        self._since = 0
        self._started = 0.0
        self._old_cr_depth = 0
        self._active = False
        self._set_cr_depth = False
        #: ``claims([(kind, key, obj), ...]) -> {id(obj): owner}``: leftovers
        #: someone wider holds (the pytest plugin: a wider fixture's value).
        self.claims: Claims | None = None
        #: What this watch could not do, for the report's notes (one line each).
        self.notes: list[str] = []
        #: The identities of the Python threads running when the watch started
        #: (see _concurrency_note).
        self._threads_before: frozenset[int] = frozenset()
        #: Why-alive chains settling finds and describing shows, until the stop ends.
        self._chains = Chains()
        #: The steps, each holding what it needs of the watch.
        self.looks = Snapshots(self.probes, self.notes, self.select)
        self.settler = Settler(self.options, self.looks, self._chains)
        self.describer = Describer(
            self.options, self.probes, self._chains, self.notes, self.keeps_departed
        )

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
            self.options.origins
            and any(probe.needs_coroutine_origins for probe in self.probes.values())
            and self._old_cr_depth < _recording.depth
        )
        if self._set_cr_depth:
            sys.set_coroutine_origin_tracking_depth(_recording.depth)
        self._since = _records.current_serial()
        # Only identities, every thread: which are others is asked if the note is made.
        self._threads_before = frozenset(map(identity, threading.enumerate()))
        self.looks.start()
        if self.growths:
            for growth in untraced_first(self.growths.values()):
                growth.start()
        self.settler.freeze()
        self._started = time.perf_counter()

    # -- settle --------------------------------------------------------------

    def stop(self, *, block_failed: bool = False) -> Report:
        """Settle (sleeping between attempts), diff and build the report."""
        block_seconds = time.perf_counter() - self._started
        try:
            steps = self.settler.settle(self._since)
            try:
                delay = next(steps)
            except StopIteration as done:  # no wait: most stops, clean at the first look
                return self._finish(done.value, block_seconds, block_failed)
            with remembering():  # the searches of one verdict share their heap scans
                try:
                    while True:
                        forget()  # the heap moves while it waits
                        time.sleep(delay)
                        delay = next(steps)
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
            steps = self.settler.settle(self._since, turns_loop=True)
            try:
                delay = next(steps)
            except StopIteration as done:
                return self._finish(done.value, block_seconds, block_failed)
            with remembering():  # within another coroutine's stop: that one's
                try:
                    while True:
                        forget()
                        await asyncio.sleep(delay)
                        delay = next(steps)
                except StopIteration as done:
                    settled: SettleResult = done.value
                return self._finish(settled, block_seconds, block_failed)
        finally:
            self._deactivate()

    def abort(self) -> None:
        """Stop watching without judging (the block raised, or was abandoned)."""
        self._deactivate()

    def _deactivate(self) -> None:
        self.settler.unfreeze()
        self._chains.clear()  # the owners it kept for describing
        if not self._active:
            return
        self._active = False
        for growth in self.growths.values():
            growth.stop()
        if self._set_cr_depth:
            # Only what this watch changed: watches may end out of order.
            self._set_cr_depth = False
            sys.set_coroutine_origin_tracking_depth(self._old_cr_depth)
        if self.options.origins:
            _recording.deactivate()

    # -- describe and judge ----------------------------------------------------

    def _finish(self, settled: SettleResult, block_seconds: float, block_failed: bool) -> Report:
        report = Report(label=self.label, block_failed=block_failed)
        collected = list(settled.collected)  # what leakwatch's own gc passes finalised
        # Describing reads what it must with leakwatch's own hooks quiet.
        described = self.describer.describe(
            settled.new, since=self._since, expected=settled.expected, claims=self.claims
        )
        if not (described or collected or self.growths):  # most watches: nothing to judge
            return self._closed(report, settled, block_seconds)
        resources = self.annotate(described)
        if self.options.singletons == "info":
            resources = [_first_use(r) if "singleton" in r.details else r for r in resources]
        suspects = [r for r in resources if "benign" not in r.details]
        if len(suspects) < len(resources):
            report.info.extend(group_resources(r for r in resources if "benign" in r.details))
        for growth in self.growths.values():
            if not (growth.judges_changes or self.options.info):
                continue  # information no one asked for
            if growth.collects_first:
                collected += collect()
            changes = growth.changed()
            if growth.judges_changes:
                suspects.extend(changes)
            else:
                report.info.extend(group_resources(changes))
            report.notes.extend(growth.notes())
        report.leaks = group_resources(suspects) if suspects else []
        report.info.extend(c.to_leak(self._since) for c in collected)
        return self._closed(report, settled, block_seconds)

    def _closed(self, report: Report, settled: SettleResult, block_seconds: float) -> Report:
        """``report`` with its notes and figures, judged by the policy."""
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
        if self.options.policy is not None and report.leaks:  # rules judge leaks alone
            self.options.policy.apply(report)
        return report

    # -- the extension points (a span of a test runner: ``leakwatch._suite.spans``)

    def select(self, new: dict[str, dict[Hashable, Any]]) -> dict[str, dict[Hashable, Any]]:
        """Of what is new since the start (per kind, key -> value), what is
        this watch's to settle and judge: all of it.  An extension point: a
        span of a test runner keeps what was made in the windows it judges."""
        return new

    def keeps_departed(self, kind: str, item: Departed) -> bool:
        """Whether a departed resource is this watch's to judge: all are (what
        something wider held as it ended is never filed).  An extension point
        (a span also asks in which window it was made)."""
        return True

    def annotate(self, resources: list[Resource]) -> list[Resource]:
        """The described leftovers, as the report will show them: as they are.
        An extension point: a span adds the window each was made in."""
        return resources


def _concurrency_note(before: frozenset[int]) -> str | None:
    """A note when other threads ran through the block (``before``: the ids
    of the threads alive as it started): a watch is process-wide, so what
    they opened or started meanwhile counts as the block's."""
    from leakwatch._probes.threads import other_threads

    during = [t for t in other_threads() if identity(t) in before]
    if not during:
        return None
    return (
        f"{len(during)} other thread(s) were alive while the block ran: a watch sees the "
        "whole process, so what they made meanwhile and still hold is counted here too"
    )
