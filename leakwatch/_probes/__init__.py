"""Probes: one module per kind of resource, each small and knowing only its kind.

A probe takes cheap snapshots keyed by stable identity (never a bare count),
describes only what survived settling, and may help things finish while the
engine settles.  The engine knows no kind; it only speaks the protocol in
:mod:`leakwatch._probes.protocol`.  ``state`` and ``heap`` are read by the
shells directly (growth, not leftovers).  A probe must not judge: it reports
what it saw, the engine and the rules decide.
"""

from __future__ import annotations

from leakwatch._probes.protocol import Probe

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
