"""Settling: look again, with backoff, until only what stays is left.

gc passes, thread joins, child reaping and loop turns are given a budget of
attempts and seconds; leftovers the verdict will not depend on (information,
known library leaks) are set aside so settling waits only for the rest.
Must not describe or judge: it hands the leftovers on.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Generator, Hashable
from typing import Any

from leakwatch._engine.chains import Chains
from leakwatch._engine.collect import Collected, collect, older_collections, older_mark
from leakwatch._engine.options import Options, SettleResult
from leakwatch._engine.parking import Parking
from leakwatch._engine.snapshot import Snapshots
from leakwatch._engine.waits import (
    NOT_SEEN,
    STILL,
    STILL_MAX,
    Progress,
    by_others,
    cannot_end,
    held_by_globals,
    keys_of,
    no_waker,
    others_now,
    owners_of,
    waited_out,
)
from leakwatch._probes.protocol import Snapshot

_BACKOFF = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05)


class Settler:
    """Settling one watch: look again, with backoff, until only what stays is left.

    Reads the watch's ``options``, looks through ``looks`` (snapshots, and
    what is new), adds the why-alive chains it finds to ``chains`` (describing
    shows them).  :meth:`freeze` at the watch's start, :meth:`settle` at its
    stop (a ``SettleResult``), :meth:`unfreeze` at its end."""

    def __init__(self, options: Options, looks: Snapshots, chains: Chains) -> None:
        self.options, self.looks, self.probes = options, looks, looks.probes
        self._chains = chains
        #: Whether this watch froze the collector (see :meth:`freeze`), and
        #: the older generations' collections as it started.
        self._frozen, self._older = False, -1
        # One settle's own state (see :meth:`settle`): the serial the watch
        # started at, whether this thread's event loop turns between looks.
        self._since, self._turns_loop = 0, False
        #: The first look as the block ended (None: not known), per kind.
        self._at_end: dict[str, Snapshot] | None = None
        #: Leftovers settling does not wait for (see parking).
        self._parking = Parking()
        #: What its gc passes finalised.
        self.collected: list[Collected] = []

    def freeze(self) -> None:
        """At the watch's start, if ``Options.freeze_gc``: everything older
        than the block leaves the collector's view, so settling's gc passes
        cost what the block allocated.  Counts the older generations'
        collections so far (see ``_collect_for``)."""
        self._older = older_mark()
        if self.options.freeze_gc and gc.isenabled() and gc.get_freeze_count() == 0:
            gc.freeze()
            self._frozen = True

    def unfreeze(self) -> None:
        if self._frozen:
            self._frozen = False
            gc.unfreeze()

    def settle(
        self, since: int, *, turns_loop: bool = False
    ) -> Generator[float, None, SettleResult]:
        """:meth:`_settle` for a watch started at creation serial ``since``."""
        self._since, self._turns_loop = since, turns_loop
        self._at_end, self._parking, self.collected = None, Parking(), []
        result = yield from self._settle()
        result.expected, result.collected = self._parking.expected, self.collected
        return result

    def _settle(self) -> Generator[float, None, SettleResult]:
        """Retry until clean, by attempts with backoff, within the budget.

        Yields the delay to wait before the next look; the sync and async
        drivers wait it their own way.  No gc and no wait at all when the
        first look is clean, and a second look (no wait) before any gc pass
        when nothing is frozen (after the young pass, when only a collection
        could change what is left).  A full gc pass runs again only when the
        leftovers changed since the last one; else the young generations are
        enough (a leaky test on a large heap pays one full pass, not one per
        attempt).
        """
        t0 = time.perf_counter()
        after = self.looks.snapshot()
        # The first look is taken as the block ended (no loop turn since):
        # what it shows was there then (see _blocks).
        self._at_end = after
        result = SettleResult(new=self._blocks(self.looks.new(after)))
        if not result.new:  # most watches: clean at the first look
            result.seconds = time.perf_counter() - t0
            return result
        budget = self.options.settle_budget
        young_at = None
        if not self._frozen and budget > 0 and self.options.settle_attempts:
            # One more look before the first gc pass, which here sees the whole
            # heap (nothing frozen: a full collection, a quarter of a second on
            # a large pytest session).  What the first look caught is often
            # already gone: a thread that returned from join() a moment ago is
            # still listed by the OS (a "native" thread) for a few microseconds.
            # Unless nothing else runs and what is left only other code could
            # end: then only a gc pass can change it, the young one first.
            young_at = self._young_pass_first(result.new)
            if young_at is None:
                yield 0.0
            others = others_now(self.probes, result.new, budget)
            result.new, after = self._look()
        else:
            others = NOT_SEEN
        attempt = 0
        # The attempts spread over the whole budget: a budget of 6 s is not
        # cut to the ~0.7 s twenty short backoffs take.
        longest = max(_BACKOFF[-1], 2 * budget / max(1, self.options.settle_attempts))
        progress = Progress(
            keys=keys_of(result.new),
            still_since=time.perf_counter(),
            still_for=min(STILL_MAX, budget * STILL),
            tried_chains=not self.options.why_alive,
            young_at=young_at,
        )
        while result.new and attempt < self.options.settle_attempts:
            now = time.perf_counter()
            elapsed = now - t0
            if elapsed >= budget or self._no_wait_helps(result.new, progress, others, attempt, now):
                break
            delay = min(
                _BACKOFF[min(attempt, len(_BACKOFF) - 1)] * 2 ** max(0, attempt - 7), longest
            )
            self._collect_for(result.new, progress, attempt, others)
            for kind, items in result.new.items():
                self.probes[kind].settle(items, timeout=min(max(delay, 0.005), budget - elapsed))
            yield min(delay, max(0.0, budget - (time.perf_counter() - t0)))
            attempt += 1
            others = others_now(self.probes, result.new, self.options.settle_budget)
            result.new, after = self._look()
            if attempt == 1:
                self._parking.park_expected(
                    self.probes, result.new, self._since, self.options.policy
                )
            result.new = self._parking.unparked(result.new)
        self._parking.readmit(result.new, after)
        result.attempts = attempt
        result.seconds = time.perf_counter() - t0
        return result

    def _young_pass_first(
        self, new: dict[str, dict[Hashable, Any]]
    ) -> set[tuple[str, Hashable]] | None:
        """The first attempt's young gc pass now, in place of a bare second
        look, when no other thread is there and only other code could end
        what is left (descriptors, paths: no thread or task of the block's
        runs toward its end, no loop turns here): nothing but a collection
        (a finaliser) can change it, so a look before one shows the same.
        The look after it then tells what the pass left, and a leak a root
        holds is settled with no further look (see :meth:`_no_wait_helps`).
        The leftovers it passed with, or None when it did not run."""
        if self._turns_loop or not (by_others(self.probes, new) and cannot_end(self.probes, new)):
            return None
        if others_now(self.probes, new)[0] is not True or older_collections() != self._older:
            return None  # another thread, or an older generation collected: see _young_next
        self.collected += collect(1)
        return keys_of(new)

    def _look(self) -> tuple[dict[str, dict[Hashable, Any]], dict[str, Snapshot]]:
        """(the block's leftovers, the whole look they were found in)."""
        after = self.looks.snapshot()
        return self._blocks(self.looks.new(after)), after

    def _no_wait_helps(
        self,
        new: dict[str, dict[Hashable, Any]],
        progress: Progress,
        others: tuple[bool | None, bool],
        attempt: int,
        now: float,
    ) -> bool:
        """Whether waiting longer cannot change what is left: it cannot end by
        itself and a full gc pass (or, after a young one, a root holding its
        owners) says so; after a gc pass, only each leftover holds what could
        end it, or nothing runs and a module global holds each one's owner or
        waker; or it is only what other code ends, standing still after gc passes.

        ``others``: who else could act, seen just before the look that found
        these (a thread that closes one and ends between that look and now
        must not count as none at all)."""
        # What is left cannot end by itself: only descriptors, paths and
        # parked threads, nothing else running, no loop turning here (a sync
        # stop).  Once a full gc pass left them, no wait changes them; a leak
        # held by a global costs its looks, not the wait.
        stuck = False
        quiet, runnable = others
        if cannot_end(self.probes, new) and not self._turns_loop:
            # With parked threads, twice in a row: one woken a moment ago may
            # still be inside its wait.
            progress.parked_looks = progress.parked_looks + 1 if quiet is None else 0
            stuck = quiet is True or progress.parked_looks >= 2
        current = keys_of(new)
        if stuck and progress.full_at == current:
            return True
        if stuck and not progress.tried_chains and progress.young_at == current:
            # After a young gc pass (the block's own garbage cycles and their
            # finalisers are gone), before any full one: an owner held from a
            # root is no garbage, so no pass can free it (the chains are
            # searched once, and describing shows them).
            progress.tried_chains = True
            held_stays = all(self.probes[kind].held_means_stays for kind in new)
            if held_stays and self._all_held(new):
                return True
        # Who holds what could end them: once a gc pass left them, or before a
        # full one (saved by an answer needing none; a young one is cheap).
        passed = current in (progress.full_at, progress.young_at)
        ask = not self._turns_loop and (passed or not self._young_next(progress, current, others))
        budget = self.options.settle_budget
        if ask and no_waker(self.probes, new, progress, passed, runnable, budget):
            return True
        if not runnable and passed:
            # Left by a gc pass, nothing runnable, and a module global holds
            # each one's owner: what is asleep was not given it to close, and
            # no collection frees what a root holds.
            if progress.globals_at != current:
                progress.globals_at = current
                progress.held_globally = held_by_globals(
                    self.probes, self._chains, new, self.options.why_alive_budget
                )
            if progress.held_globally:
                return True
        if attempt >= 2 and waited_out(self.probes, new, self.options.settle_budget):
            if current != progress.keys or runnable:
                # Changed, or a thread that could still change them is waiting
                # for a CPU (a busy machine): not still yet.
                progress.keys, progress.still_since = current, now
            elif now - progress.still_since >= progress.still_for:
                return True  # only what others end, standing still after gc passes
        return False

    def _collect_for(
        self,
        new: dict[str, dict[Hashable, Any]],
        progress: Progress,
        attempt: int,
        others: tuple[bool | None, bool],
    ) -> None:
        """The gc pass this attempt needs, if any (see :meth:`_settle`)."""
        if attempt == 1:
            # Still something new: an older garbage cycle may hold it.
            self.unfreeze()
        if attempt == 0 and not by_others(self.probes, new):
            # A thread, task or child that is ending needs a join, a loop turn
            # or a reap, not a gc pass: the first attempt only waits for them.
            return
        current = keys_of(new)
        if self._young_next(progress, current, others):
            # No other thread can act, or none runs: a young pass, then does a
            # root or a module global hold what is left, or only a parked
            # thread its waker (_no_wait_helps)?  A full pass (tens of ms on a
            # large heap) runs next if none does, or now if an older
            # generation was collected since the block began: what it dropped
            # may be out of a young pass's reach (this pass counts as one).
            self.collected += collect(1)
            progress.young_at = current
            return
        if self._frozen or current != progress.full_at:
            self.collected += collect()
            if not self._frozen:
                progress.full_at = current
        else:
            # A full pass left exactly these: another one frees nothing more
            # unless new garbage formed since, and that is young (what the
            # block's threads dropped meanwhile).  A leftover that goes
            # changes the set: a full pass again.
            self.collected += collect(1)

    def _young_next(
        self, progress: Progress, current: set[Any], others: tuple[bool | None, bool]
    ) -> bool:
        """Whether the next gc pass is a young one (see :meth:`_collect_for`)."""
        quiet, runnable = others
        return (
            not self._frozen
            and (quiet is not False or not runnable)
            and progress.full_at is None
            and progress.young_at != current
            and older_collections() == self._older
        )

    def _all_held(self, new: dict[str, dict[Hashable, Any]]) -> bool:
        """Whether every leftover has an owner that a root holds now."""
        owners = owners_of(self.probes, new)
        try:
            if owners is None:
                return False  # a bare descriptor or a path: the pass decides
            return self._chains.all_held(owners, self.options.why_alive_budget)
        except Exception:  # a refinement: the gc pass decides
            return False
        finally:
            del owners

    def _blocks(self, new: dict[str, dict[Hashable, Any]]) -> dict[str, dict[Hashable, Any]]:
        """Without what was made after the block ended (each probe's
        ``of_block``: a task started while settling): describing drops it
        (not the block's), so settling does not wait for it either.  A task
        that keeps starting short ones (a server's, a poller's) kept every
        attempt busy until the whole budget was spent."""
        at_end = self._at_end
        if at_end is None or not new:
            return new
        out = {}
        for kind, items in new.items():
            kept = self.probes[kind].of_block(items, at_end.get(kind, {}))
            if kept:
                out[kind] = kept
        return out
