"""The probe protocol: what the engine asks of every kind of resource.

A probe takes cheap snapshots keyed by stable identity (never a bare count),
describes only what survived settling, and may help things finish while the
engine settles.  This module names the protocol only; it must not import a
probe.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
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


class Departed(Protocol):
    """What some probes also tell: resources that ended during the watch in a
    way that is a leak all the same (a task still pending when its loop shut
    down), described as they ended."""

    key: Hashable
    #: The creation record (``leakwatch._attribution.records.Record``).
    record: Any
    resource: Resource
    #: Who held it as it ended (a wider fixture, in words), or None.
    holder: str | None


def departed(probe: Probe, since: int) -> list[Departed]:
    """The probe's ``departed(since)`` if it has one: see :class:`Departed`."""
    tell = getattr(probe, "departed", None)
    return list(tell(since)) if tell is not None else []


def recorded(probe: Probe) -> Iterable[Any] | None:
    """Every creation record the probe's ``creation`` may return (its
    ``recorded()``), or None when it cannot say: a caller that wants only
    resources whose record it knows (the service's judge) skips the look when
    none of these is one it wants."""
    tell = getattr(probe, "recorded", None)
    return tell() if tell is not None else None


def mark(probe: Probe) -> Snapshot:
    """What a window's end or a watch's start needs: the probe's cheaper
    ``mark()`` if it has one (it may reuse an earlier look while nothing
    could have changed)."""
    cheap = getattr(probe, "mark", None)
    return cheap() if cheap is not None else probe.snapshot()


def new_items(probe: Probe, before: Snapshot, after: Snapshot) -> dict[Hashable, Any]:
    return {k: v for k, v in after.items() if probe.is_new(k, v, before)}
