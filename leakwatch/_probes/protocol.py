"""The probe protocol: what the engine asks of every kind of resource, and
the facts about a kind the engine needs, with their defaults.

A probe takes cheap snapshots keyed by stable identity (never a bare count),
describes only what survived settling, and may help things finish while the
engine settles.  The engine never names a kind: what differs between kinds
(who can release a leftover, what holding its owner means, which of its
leftovers are the block's) is a fact or a method of its probe here.

A kind judged as a whole rather than by leftovers (heap, state, native) is a
:class:`Growth`: the engine asks it what one block changed, ``check()`` what
grew on every one of repeated calls.  This module names the protocols only;
it must not import a probe.
"""

from __future__ import annotations

from collections.abc import Generator, Hashable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from leakwatch._base.model import Resource

Snapshot = Mapping[Hashable, Any]

#: :meth:`Probe.waker_holders`' answers: nothing but the leftover itself holds what
#: could end it, through objects it holds itself (none garbage: true before
#: any gc pass); nothing but the leftover itself (once a gc pass ran); a module
#: global holds it (and no other thread's frame on the way there).
OWN, ALONE, ROOTED = "own", "alone", "rooted"


class Probe:
    """One kind of resource.  A probe overrides the four looks and whichever
    facts and methods differ for its kind from the defaults here."""

    kind: str = ""

    #: Only other code can release a leftover of this kind: once gc passes
    #: ran, nothing in the block waits toward it (a descriptor, a temp path).
    #: Settling stops early when only such leftovers stand still.
    released_by_others: bool = False

    #: Whether a global that holds a leftover's owner holds the leftover too.
    #: A native thread's owner is only what it runs on: no.
    owner_holds_it: bool = True

    #: Whether an owner held from a root means the leftover cannot go while
    #: settling.  A running thread is held by threading's own table until it
    #: ends: no.
    held_means_stays: bool = True

    #: Whether watching this kind needs coroutine origins tracked (a task's
    #: creation stack).
    needs_coroutine_origins: bool = False

    #: What the last look could not see, one line each (a page shows them).
    notes: Sequence[str] = ()

    def snapshot(self) -> Snapshot:
        """Every live resource of this kind, keyed by a stable identity. Cheap."""
        raise NotImplementedError

    def is_new(self, key: Hashable, value: Any, before: Snapshot) -> bool:
        """Whether ``key`` (seen now with ``value``) was not there before."""
        raise NotImplementedError

    def settle(self, new: Snapshot, timeout: float) -> None:
        """Help new resources finish (join threads, reap children). May do nothing."""

    def describe(self, key: Hashable, value: Any, since: int) -> Resource:
        """Plain-data description with origin; only called for leftovers."""
        raise NotImplementedError

    def mark(self) -> Snapshot:
        """What a window's end or a watch's start needs: may be cheaper than
        :meth:`snapshot` (an earlier look reused while nothing could have
        changed)."""
        return self.snapshot()

    def creation(self, key: Hashable, value: Any, since: int) -> Any:
        """The creation record of a live resource (a
        ``leakwatch._attribution.records.Record``), or None when none is known."""
        return None

    def recorded(self) -> Iterable[Any] | None:
        """Every creation record :meth:`describe` may show, or None when it
        cannot say: a caller that wants only resources whose record it knows
        (the service's judge) skips the look when none of these is one it wants."""
        return None

    def owner(self, key: Hashable, value: Any) -> Any:
        """The object whose life holds the leftover open (a descriptor's socket
        or file), or None."""
        return None

    def departed(self, since: int) -> Sequence[Departed]:
        """Resources that ended during the watch as leaks all the same: see
        :class:`Departed`.  Each is filed as it ends (a
        ``leakwatch._probes.departures.Casualties``): a watch during which
        nothing was filed does not ask."""
        return []

    def waits_for_others(self, key: Hashable) -> bool:
        """Whether only another thread could end this leftover (a parked Python
        thread, a descriptor): nothing running toward its end in the block."""
        return self.released_by_others

    def waits_out(self, key: Hashable, value: Any, budget: float) -> bool:
        """Whether this leftover cannot end by itself within ``budget``
        seconds, only by what other code does: a descriptor or a path (see
        :attr:`released_by_others`), a thread parked or in a wait longer than
        that.  Settling stops once such leftovers stood still a moment."""
        return self.released_by_others

    def waker_holders(self, key: Hashable, value: Any, budget: float) -> str | None:
        """Who holds what could end the leftover within ``budget`` seconds,
        for one parked on it (a thread in ``Event.wait()``): :data:`OWN`
        when only the leftover itself does, through objects all its own (an
        event only its own target holds: no other code can end it, and no
        garbage holds it), :data:`ALONE` when only the leftover itself does
        past objects nothing else holds (garbage until a gc pass ran), :data:`ROOTED`
        when a module global does (with no other thread able to run, nothing
        will), None when unsure or not parked."""
        return None

    def own_chain(self, key: Hashable, value: Any, owner: Any) -> str | None:
        """The why-alive chain of ``owner`` (see :meth:`owner`) where settling
        found that nothing but the leftover itself holds it (a thread's
        target's object, met by :meth:`waker_holders`): told from the
        leftover's own frames, with no search of the heap; None to search."""
        return None

    def of_block(self, items: dict[Hashable, Any], at_end: Snapshot) -> dict[Hashable, Any]:
        """The leftovers that are the block's, given this kind's look as the
        block ended (a task started after it is not the block's)."""
        return items


class Departed(Protocol):
    """What some probes also tell: resources that ended during the watch in a
    way that is a leak all the same (a task still pending when its loop shut
    down), described as they ended."""

    @property
    def key(self) -> Hashable: ...

    @property
    def record(self) -> Any:
        """The creation record (``leakwatch._attribution.records.Record``)."""

    @property
    def resource(self) -> Resource: ...


class Growth:
    """One kind judged as a whole, not by leftovers: what a watched block
    changed, or what grew on every one of repeated calls.

    A watch calls :meth:`start` before the block, :meth:`changed` after it
    and :meth:`stop`.  ``check()`` calls :meth:`start` before the judged
    calls; after each, :meth:`measure`, then (leakwatch's own sampling)
    :meth:`sample` and :meth:`sampled`; then :meth:`judge` and :meth:`stop`.
    A growth overrides the steps and facts that differ from the defaults here.
    """

    kind: str = ""

    #: Whether it runs tracemalloc.  Those that do start after, and judge
    #: after, those that do not: see :func:`untraced_first`.
    traces: bool = False

    #: Whether the changes one block made are judged (leaks) rather than
    #: information.  Information is looked at only when a watch asks for it
    #: (``Options.info``).
    judges_changes: bool = False

    #: Whether a gc pass must run before :meth:`changed`: garbage is not kept.
    collects_first: bool = False

    #: Whether starting fills leakwatch's and the interpreter's caches, which
    #: repeated calls empty again before their first count.
    fills_caches: bool = False

    def start(self) -> None:
        """Before the block, or before the first judged call."""

    def changed(self) -> list[Resource]:
        """What the block changed since :meth:`start` (a watch's end)."""
        return []

    def measure(self) -> None:
        """After a judged call and its gc pass, before leakwatch's own sampling."""

    def sample(self) -> None:
        """After a judged call: what it left, as this kind counts it."""

    def sampled(self) -> None:
        """After leakwatch's own sampling (what that kept is not the calls')."""

    def judge(self, repeat: int, blocks: Sequence[int]) -> Generator[str, Any, list[Resource]]:
        """What grew on every judged call.  Yields "call" for each more call
        it needs (confirming, attributing); returns the leaks.  ``blocks``:
        the interpreter's allocated blocks before the judged calls and after
        each, leakwatch's own sampling taken out."""
        yield from ()
        return self.grown(repeat, blocks)

    def grown(self, repeat: int, blocks: Sequence[int]) -> list[Resource]:
        """:meth:`judge` for a growth that needs no more calls."""
        return []

    def stop(self) -> None:
        """Stop what :meth:`start` started (also when a call raised).  Idempotent."""

    def notes(self) -> list[str]:
        """What the report should say about how it looked, one line each."""
        return []

    def stats(self) -> dict[str, Any]:
        """Figures for the report's ``stats`` once judged (``check()``)."""
        return {}


def untraced_first(growths: Iterable[Growth]) -> list[Growth]:
    """The order growths start and judge in: those that run no tracemalloc
    first.  A reading taken under tracing costs memory for good on Pythons
    whose ``tracemalloc.stop()`` leaks (see ``leakwatch._probes.heap``), and
    judging state asks tracemalloc where an added entry was made, before
    the tracing growths stop it."""
    return sorted(growths, key=lambda growth: growth.traces)


def new_items(probe: Probe, before: Snapshot, after: Snapshot) -> dict[Hashable, Any]:
    """What ``after`` holds that ``before`` did not, as ``probe`` tells.

    Two equal looks hold nothing new, whatever the probe: a key present
    before with the same value is never new (a task's weak reference equal
    to the one before names the same task).  Most of a suite's looks are
    equal, and comparing them is one C call."""
    if after == before:
        return {}
    return {k: v for k, v in after.items() if probe.is_new(k, v, before)}
