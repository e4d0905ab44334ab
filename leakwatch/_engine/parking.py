"""Leftovers settling does not wait for: set aside, judged at the end as usual.

Information (an event loop's executor thread) and what the policy's rules or
known library leaks take out (anyio's idle worker threads live 10 s): no wait
changes the verdict on them, so settling waits only for the rest.  What is
still there in the last look goes back among the leftovers, to be judged as
known, ignored or information.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from leakwatch._attribution import recording as _recording
from leakwatch._base.model import group_resources
from leakwatch._engine.options import Judging
from leakwatch._probes.protocol import Probe, Snapshot

Leftovers = dict[str, dict[Hashable, Any]]


class Parking:
    """One settle's set-aside leftovers, per kind, and the ``(kind, key)`` of
    each (describing skips their searches)."""

    def __init__(self) -> None:
        self.parked: Leftovers = {}
        self.expected: set[tuple[str, Hashable]] = set()

    def park_expected(
        self, probes: Mapping[str, Probe], new: Leftovers, since: int, policy: Judging | None
    ) -> None:
        """Set aside what of ``new`` is information or expected by ``policy``."""
        expected = policy.expected if policy is not None else None
        with _recording.quiet():  # its source reads are leakwatch's own
            for kind, items in new.items():
                probe = probes[kind]
                for key, value in items.items():
                    try:
                        res = probe.describe(key, value, since)
                        if "benign" in res.details or (
                            expected is not None and expected(group_resources([res])[0])
                        ):
                            self.parked.setdefault(kind, {})[key] = value
                            self.expected.add((kind, key))
                    except Exception:  # describing again at the end reports it
                        continue

    def unparked(self, new: Leftovers) -> Leftovers:
        """``new`` without what was set aside."""
        if not self.parked:
            return new
        out = {}
        for kind, items in new.items():
            parked = self.parked.get(kind, {})
            rest = {k: v for k, v in items.items() if k not in parked}
            if rest:
                out[kind] = rest
        return out

    def readmit(self, new: Leftovers, after: Mapping[str, Snapshot]) -> None:
        """Put back into ``new`` what was set aside and is still in the last look."""
        for kind, items in self.parked.items():
            alive = {k: v for k, v in items.items() if k in after.get(kind, {})}
            if alive:
                new.setdefault(kind, {}).update(alive)
        self.parked = {}
