"""When waiting helps: what settling asks of its leftovers between looks.

Who else could end them (other threads parked, runnable), whether only
other code could, and whether a module global holds them.  Must not look
or judge: settling looks, and decides with these.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from leakwatch._attribution import recording as _recording
from leakwatch._attribution.chain_text import from_module_global
from leakwatch._engine.chains import Chains
from leakwatch._engine.snapshot import OWN_IO
from leakwatch._probes.others import others_parked, others_runnable
from leakwatch._probes.protocol import ALONE, OWN, ROOTED, Probe

#: A settle left with only leftovers that nothing in the block itself will
#: release by waiting (see :func:`waited_out`: a descriptor or a temp path,
#: once gc passes ran; a thread parked, or in a wait longer than the budget)
#: stops once they have stood still, nothing runnable, for ``STILL`` of the
#: budget (at most ``STILL_MAX`` seconds).
STILL, STILL_MAX = 0.25, 0.1


def by_others(probes: Mapping[str, Probe], new: dict[str, dict[Hashable, Any]]) -> bool:
    """Whether only other code could release every kind left: no wait for a
    thread, task or child to end helps them, a gc pass may."""
    return all(probes[kind].released_by_others for kind in new)


def waited_out(
    probes: Mapping[str, Probe], new: dict[str, dict[Hashable, Any]], budget: float
) -> bool:
    """Whether no leftover can end by itself within ``budget`` seconds
    (each probe's ``waits_out``): only what other code does changes them."""
    return all(
        probes[kind].waits_out(key, value, budget)
        for kind, items in new.items()
        for key, value in items.items()
    )


def left_alone(
    probes: Mapping[str, Probe], new: dict[str, dict[Hashable, Any]], budget: float
) -> str | None:
    """Who holds what could end every leftover within ``budget`` seconds
    (each probe's ``waker_holders``): ``OWN`` when nothing but each
    leftover itself does, through its own objects (a thread parked on an
    event only its own target holds: no gc pass needed), ``ALONE`` when
    that is so once a gc pass ran, ``ROOTED`` when each is one of those or
    held by a module global (a worker parked on a module-level queue), None
    otherwise (and, with no walk, where a kind left cannot tell)."""
    if any(type(probes[kind]).waker_holders is Probe.waker_holders for kind in new):
        return None
    answer = OWN
    try:
        for kind, items in new.items():
            holders = probes[kind].waker_holders
            for key, value in items.items():
                held = holders(key, value, budget)
                if held is None:
                    return None
                if held == ROOTED or answer == ROOTED:
                    answer = ROOTED
                elif held == ALONE:
                    answer = ALONE
    except Exception:  # a refinement: waiting decides
        return None
    return answer


def no_waker(
    probes: Mapping[str, Probe],
    new: dict[str, dict[Hashable, Any]],
    progress: Progress,
    passed: bool,
    runnable: bool,
    budget: float,
) -> bool:
    """Whether nothing could end the leftovers: nothing but each one itself
    holds what could, through its own objects (an event only a parked
    thread's target holds; :func:`left_alone`), which no gc pass or wait
    changes; or, once a gc pass left them (``passed``) and each is still
    parked, only it holds that past what was garbage, or, nothing
    ``runnable``, a module global or a parked thread does.  Asked once per
    set of leftovers, and again after a pass only if unsure (garbage, a
    dropped frame, may have held it)."""
    current = keys_of(new)
    if progress.alone_at != current or (
        passed and progress.alone is None and not progress.alone_passed
    ):
        progress.alone_at, progress.alone_passed = current, passed
        progress.alone = left_alone(probes, new, budget)
    if progress.alone == OWN:
        return True
    if passed and progress.alone == ROOTED:
        return not runnable  # not runnable: each still parked (see others_now)
    return passed and progress.alone == ALONE and waited_out(probes, new, budget)


def keys_of(new: dict[str, dict[Hashable, Any]]) -> set[tuple[str, Hashable]]:
    return {(kind, key) for kind, items in new.items() for key in items}


def cannot_end(probes: Mapping[str, Probe], new: dict[str, dict[Hashable, Any]]) -> bool:
    """Leftovers only another thread could end (descriptors, paths, parked
    Python threads: their probes' ``waits_for_others``)."""
    return all(probes[kind].waits_for_others(key) for kind, items in new.items() for key in items)


#: Who else could act, not looked at: someone could (see others_now).
NOT_SEEN: tuple[bool | None, bool] = (False, True)


def others_now(
    probes: Mapping[str, Probe], new: dict[str, dict[Hashable, Any]], budget: float | None = None
) -> tuple[bool | None, bool]:
    """Whether the other threads are all parked (``others_parked``) and
    whether one is runnable, looked at only where the leftovers ``new``
    make the answer count: taken just before a snapshot, so the leftovers
    it finds were there after the others were seen.  Reading the threads'
    states opens files in ``/proc``: leakwatch's own I/O, unrecorded and out
    of every watch's snapshots.  ``budget``: the seconds settling may still
    look (a timed wait that cannot end within them is parked)."""
    with OWN_IO, _recording.quiet():
        quiet = others_parked(budget) if cannot_end(probes, new) else False
        waits = budget is not None and waited_out(probes, new, budget)
        runnable = others_runnable(budget) if waits else True
    return quiet, runnable


def held_by_globals(
    probes: Mapping[str, Probe], chains: Chains, new: dict[str, dict[Hashable, Any]], budget: float
) -> bool:
    """Whether a module global holds the owner of every leftover (a socket a
    module list keeps): no gc pass frees it, and no thread that is not
    running (a pool's idle worker, asleep in a timed wait) was given it to
    close.  The chains are searched once; describing shows them."""
    if not all(probes[kind].held_means_stays for kind in new):
        return False
    owners = owners_of(probes, new)
    try:
        if owners is None:
            return False
        found = chains.get(owners, budget)
        return all(from_module_global(found.get(id(owner), "")) for owner in owners)
    except Exception:  # a refinement: waiting still decides
        return False
    finally:
        del owners


def owners_of(probes: Mapping[str, Probe], new: dict[str, dict[Hashable, Any]]) -> list[Any] | None:
    """The object whose life holds each leftover open (each probe's
    ``owner``), or None when one has none (a bare descriptor, a path: a gc
    pass decides) or a probe failed."""
    owners: list[Any] = []
    try:
        for kind, items in new.items():
            owner_of = probes[kind].owner
            for key, value in items.items():
                owner = owner_of(key, value)
                if owner is None:
                    return None
                owners.append(owner)
    except Exception:  # a refinement: waiting decides
        return None
    return owners


@dataclass
class Progress:
    """What one settle has seen so far, across its attempts."""

    #: The leftovers of the last change, and since when they stood still.
    keys: set[tuple[str, Hashable]]
    still_since: float
    #: How long only-by-others leftovers must stand still (see ``STILL``).
    still_for: float
    #: Whether the owners' chains were searched already (or are not to be).
    tried_chains: bool
    #: The leftovers the last full gc pass saw, and the young pass before any.
    full_at: set[tuple[str, Hashable]] | None = None
    young_at: set[tuple[str, Hashable]] | None = None
    #: Looks in a row with parked threads and the others' state unknown.
    parked_looks: int = 0
    #: The leftovers :func:`held_by_globals` was asked about, and its answer.
    globals_at: set[tuple[str, Hashable]] | None = None
    held_globally: bool = False
    #: The leftovers :func:`left_alone` was asked about, its answer, and
    #: whether a gc pass had left them then.
    alone_at: set[tuple[str, Hashable]] | None = None
    alone: str | None = None
    alone_passed: bool = False
