"""The debug pages' data: every live resource of every kind, and counts over time.

Every kind ``all_probes()`` has is listed the same way (its probe's snapshot,
each resource described with where it was made), so a kind added later
shows without changes here.  A probe that fails is left out with a note.
Tasks are listed for every loop, whatever thread runs it, and timers too,
recorded or not (:mod:`leakwatch._probes.loop_timers`).  Plain data only.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Hashable
from typing import Any

from leakwatch._attribution import recording as _recording
from leakwatch._base.model import KINDS, Resource, group_resources
from leakwatch._engine.snapshot import OWN_IO
from leakwatch._probes import all_probes
from leakwatch._probes.protocol import Probe
from leakwatch._probes.threads import INTERNAL_PREFIX

SNAPSHOT_SCHEMA = "leakwatch.snapshot/1"
RESOURCES_SCHEMA = "leakwatch.resources/1"

#: Descriptors of the pages' own connections (``serve()``): never listed.
OWN_FDS: set[int] = set()

#: At most this many resources of one kind are described on a page.
MAX_RESOURCES = 5_000


def page_name(kind: str) -> str:
    """A kind's page: ``thread`` -> ``threads``, ``process`` -> ``processes``."""
    return kind + ("es" if kind.endswith("s") else "s")


def kinds() -> list[str]:
    """Every kind with a probe, in report order (``timer`` is always offered)."""
    found = set(all_probes()) | {"timer"}
    return sorted(found, key=lambda k: (KINDS.index(k) if k in KINDS else len(KINDS), k))


def _probes() -> dict[str, Probe]:
    probes = all_probes()
    for probe in probes.values():
        if hasattr(probe, "foreign"):
            probe.foreign = True  # tasks of every loop, whatever thread runs it
        if hasattr(probe, "every_loop"):
            probe.every_loop = True  # timers of every loop, recorded or not
    return probes


def _key(key: Hashable) -> str:
    try:
        return repr(key)[:200]
    except Exception:
        return f"<{type(key).__name__}>"


def _snapshot(kind: str, probe: Probe) -> dict[Hashable, Any]:
    """The probe's snapshot, tried again when another thread changed what it
    walks meanwhile (a loop's task set); the pages' own connections left out."""
    for attempt in range(3):
        try:
            snap = dict(probe.snapshot())
            break
        except RuntimeError:
            if attempt == 2:
                raise
    if kind == "fd" and OWN_FDS:
        snap = {k: v for k, v in snap.items() if v not in OWN_FDS}
    return snap


def resource_dict(res: Resource) -> dict[str, Any]:
    """One resource in the leak objects' shape (origin frames, details), with its key."""
    out = group_resources([res])[0].to_dict()
    out["key"] = _key(res.key)
    return out


def resources(wanted: set[str] | None = None) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """``{kind: [resource, ...]}`` for the kinds wanted (all when None), and notes."""
    out: dict[str, list[dict[str, Any]]] = {}
    notes: list[str] = []
    with OWN_IO, _recording.quiet():
        for kind, probe in _probes().items():
            if wanted is not None and kind not in wanted:
                continue
            try:
                snap = _snapshot(kind, probe)
            except Exception as exc:
                notes.append(f"{kind}: the probe failed ({exc!r}); not listed")
                continue
            notes.extend(f"{kind}: {note}" for note in probe.notes)
            items = out.setdefault(kind, [])
            for key, value in list(snap.items())[:MAX_RESOURCES]:
                try:
                    items.append(resource_dict(probe.describe(key, value, 0)))
                except Exception as exc:
                    items.append(
                        {
                            "kind": kind,
                            "key": _key(key),
                            "title": f"{kind} {_key(key)}",
                            "count": 1,
                            "size": None,
                            "origin": [],
                            "details": {"origin_note": f"describing it failed: {exc!r}"},
                        }
                    )
            if len(snap) > MAX_RESOURCES:
                notes.append(f"{kind}: {len(snap) - MAX_RESOURCES} more not listed")
    return out, notes


def kind_doc(kind: str) -> dict[str, Any]:
    """One kind's page as JSON: every live resource of it (empty if no probe has it)."""
    found, notes = resources({kind})
    items = found.get(kind, [])
    return {
        "schema": RESOURCES_SCHEMA,
        "kind": kind,
        "time": time.time(),
        "pid": os.getpid(),
        "count": len(items),
        "resources": items,
        "notes": notes,
    }


def snapshot_doc() -> dict[str, Any]:
    """Every live resource of every kind with where it was made: ``leakwatch diff``'s input."""
    found, notes = resources()
    flat = [item for kind in found for item in found[kind]]
    return {
        "schema": SNAPSHOT_SCHEMA,
        "time": time.time(),
        "pid": os.getpid(),
        "counts": {kind: len(items) for kind, items in found.items()},
        "resources": flat,
        "notes": notes,
    }


def counts() -> dict[str, int]:
    """How many live resources of each kind (no descriptions: cheap)."""
    out: dict[str, int] = {}
    with OWN_IO, _recording.quiet():
        for kind, probe in _probes().items():
            try:
                out[kind] = len(_snapshot(kind, probe))
            except Exception:
                continue
    return out


class History:
    """Counts per kind sampled every ``interval`` seconds, in a ring (for the plots)."""

    def __init__(self, interval: float = 5.0, points: int = 720) -> None:
        self.interval = interval
        self.points: deque[tuple[float, dict[str, int]]] = deque(maxlen=points)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._users = 0
        self._lock = threading.Lock()
        self.t0 = time.monotonic()

    def sample(self) -> None:
        self.points.append((time.monotonic() - self.t0, counts()))

    def acquire(self) -> None:
        with self._lock:
            self._users += 1
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name=INTERNAL_PREFIX + "service-history", daemon=True
                )
                self._thread.start()

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            thread = self._thread if self._users <= 0 else None
            if thread is not None:
                self._thread = None
                self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    def _run(self) -> None:
        while True:
            try:
                self.sample()
            except Exception:
                pass
            if self._stop.wait(self.interval):
                return

    def series(self) -> dict[str, list[float]]:
        """The ``timeseries`` shape of ``leakwatch run``'s report: ``t`` and one list per kind."""
        points = list(self.points)
        names = {"fd": "fds", "thread": "threads", "task": "tasks", "process": "children"}
        kinds_seen = sorted({k for _, c in points for k in c})
        out: dict[str, list[float]] = {"t": [round(t, 3) for t, _ in points]}
        for kind in kinds_seen:
            out[names.get(kind, page_name(kind))] = [c.get(kind, 0) for _, c in points]
        return out


history = History()
