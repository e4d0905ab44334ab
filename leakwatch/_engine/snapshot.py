"""Snapshots: every probe's view at once, and what is new since the start.

A probe that fails is dropped from the watch with a note; half a view would
be worse than none.  Must not judge: it only lists.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from leakwatch._attribution import recording as _recording
from leakwatch._base.wording import one_line
from leakwatch._probes.protocol import Probe, Snapshot, new_items

#: Held while leakwatch itself lists or describes resources, by every watch in
#: every thread: a descriptor one watch opens for a moment (a /proc listing, a
#: psutil read) is never in another watch's snapshot.
OWN_IO = threading.RLock()


#: ``select(new) -> new``: of what is new (per kind, key -> value), what a
#: watch settles and judges (see ``Watcher.select``).
Select = Callable[[dict[str, dict[Hashable, Any]]], dict[str, dict[Hashable, Any]]]


class Snapshots:
    """Taking every probe's snapshot, and what is new since the start.

    ``probes``: the watch's probes, by kind; a probe that fails leaves it.
    ``notes``: the watch's notes, which a failed probe adds to.  ``select``:
    what of the new the watch keeps.  :attr:`before` is the first look."""

    def __init__(self, probes: dict[str, Probe], notes: list[str], select: Select) -> None:
        self.probes = probes
        self.notes = notes
        self.select = select
        #: The first look (:meth:`start`), per kind.
        self.before: dict[str, Snapshot] = {}

    def start(self) -> None:
        """Take the first look: what is new is new since now."""
        self.before = self.first_look()

    def snapshot(self) -> dict[str, Snapshot]:
        """Every probe's snapshot.  A probe that fails is dropped from this watch
        with a note naming it; the other kinds are still judged."""
        out: dict[str, Snapshot] = {}
        with OWN_IO, _recording.quiet():
            for kind, probe in list(self.probes.items()):
                try:
                    out[kind] = probe.snapshot()
                except Exception as exc:
                    self._drop_probe(kind, exc)
        return out

    def first_look(self) -> dict[str, Snapshot]:
        """The watch's first snapshot, cheaper where a probe can reuse an
        earlier look (see FdProbe.mark)."""
        out: dict[str, Snapshot] = {}
        with OWN_IO, _recording.quiet():
            for kind, probe in list(self.probes.items()):
                try:
                    out[kind] = probe.mark()
                except Exception as exc:
                    self._drop_probe(kind, exc)
        return out

    def _drop_probe(self, kind: str, exc: BaseException) -> None:
        # Half a view would be worse than none: every resource of the kind
        # would look new (or gone), so the kind leaves this watch altogether.
        self.probes.pop(kind, None)
        self.before.pop(kind, None)
        self.notes.append(
            f"{kind}: the probe failed ({one_line(exc)}); {kind} leaks were not judged, "
            "the other kinds were"
        )

    def new(self, after: dict[str, Snapshot]) -> dict[str, dict[Hashable, Any]]:
        """What ``after`` holds that the first look did not, as the watch selects it."""
        out = {}
        for kind, probe in self.probes.items():
            items = new_items(probe, self.before.get(kind, {}), after[kind])
            if items:
                out[kind] = items
        return self.select(out)
