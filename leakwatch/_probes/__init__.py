"""Probes: one module per kind of resource, each small and knowing only its kind.

A probe takes cheap snapshots keyed by stable identity (never a bare count),
describes only what survived settling, and may help things finish while the
engine settles.  The engine knows no kind; it only speaks the protocol in
:mod:`leakwatch._probes.protocol`.  Heap, state and native memory are
judged as a whole, not by leftovers: each is a ``Growth`` of the same
protocol (:func:`all_growths`).  A probe must not judge: it reports what it
saw, the engine and the rules decide.
"""

from __future__ import annotations

from collections.abc import Collection

from leakwatch import _native
from leakwatch._probes.protocol import Growth, Probe

_classes: tuple[type[Probe], ...] = ()


def all_probes() -> dict[str, Probe]:
    """One fresh probe per resource kind."""
    global _classes
    if not _classes:  # imported once: a watch is made per test under pytest
        from leakwatch._probes.fds import FdProbe
        from leakwatch._probes.processes import ProcessProbe
        from leakwatch._probes.tasks import TaskProbe
        from leakwatch._probes.tempfiles import TempfileProbe
        from leakwatch._probes.threads import ThreadProbe
        from leakwatch._probes.timers import TimerProbe

        _classes = (FdProbe, ThreadProbe, TaskProbe, TimerProbe, ProcessProbe, TempfileProbe)
    probes: list[Probe] = [cls() for cls in _classes]
    return {p.kind: p for p in probes}


def all_growths(
    kinds: Collection[str],
    *,
    repeated: bool = False,
    info: bool = True,
    strict_state: bool = False,
    depth: int = 16,
    why_alive_budget: float | None = None,
) -> dict[str, Growth]:
    """One fresh growth per kind among ``kinds`` judged as a whole, heap first.

    For one watched block (``repeated`` false): the heap's retained memory
    and state's changes; state is read only when judged (``strict_state``,
    which watches it whatever ``kinds`` says) or shown (``info``).  For
    repeated calls (``check()``), growth on every call: heap, state and
    native memory.  ``depth``: tracemalloc's frames; ``why_alive_budget``:
    seconds for the chains of a growing heap site's objects (None: none).
    """
    out: dict[str, Growth] = {}
    if "heap" in kinds:
        from leakwatch._probes.heap_growth import HeapGrowth  # only where asked for

        out["heap"] = HeapGrowth(depth, why_alive_budget if repeated else None)
    state = "state" in kinds if repeated else strict_state or ("state" in kinds and info)
    if state:
        from leakwatch._probes.state import StateGrowth

        out["state"] = StateGrowth() if repeated else StateGrowth(strict=strict_state)
    if repeated:
        native = _native.growth_for(kinds)
        if native is not None:
            out["native"] = native
    return out
