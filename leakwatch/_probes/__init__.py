"""Probes: one module per kind of resource, each small and knowing only its kind.

A probe takes cheap snapshots keyed by stable identity (never a bare count),
describes only what survived settling, and may help things finish while the
engine settles.  The engine knows no kind; it only speaks this protocol.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Protocol

from leakwatch._base.model import Resource

Snapshot = Mapping[Hashable, Any]


class Probe(Protocol):
    kind: str

    def snapshot(self) -> Snapshot:
        """Every live resource of this kind, keyed by a stable identity. Cheap."""

    def is_new(self, key: Hashable, value: Any, before: Snapshot) -> bool:
        """Whether ``key`` (seen now with ``value``) was not there before."""

    def settle(self, new: Snapshot, timeout: float) -> None:
        """Help new resources finish (join threads, reap children). May do nothing."""

    def describe(self, key: Hashable, value: Any, since: int) -> Resource:
        """Plain-data description with origin; only called for leftovers."""


def mark(probe: Probe) -> Snapshot:
    """What a window's end needs: the probe's cheaper ``mark()`` if it has one."""
    cheap = getattr(probe, "mark", None)
    return cheap() if cheap is not None else probe.snapshot()


def new_items(probe: Probe, before: Snapshot, after: Snapshot) -> dict[Hashable, Any]:
    return {k: v for k, v in after.items() if probe.is_new(k, v, before)}


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

        _classes = (FdProbe, ThreadProbe, TaskProbe, ProcessProbe, TempfileProbe)
    probes: list[Probe] = [cls() for cls in _classes]
    return {p.kind: p for p in probes}
