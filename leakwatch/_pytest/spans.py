"""Spans: watches cut into windows, so a leftover is charged to the window that made it.

A test is watched from the start of its setup to the end of its teardown by
one :class:`SpanWatcher`; a fixture of a wider scope, from the start of its
setup to its finalisation by another.  While something is being made, the
span on top of the :class:`Stack` is the one making it.  Each change of who
is on top (a fixture's setup starting or ending, a test phase ending) takes
one snapshot and closes the current window of every span on the stack, with
a label that says whose window it was::

    test span:     setup | fixture | setup | call | teardown
    module fixture:        fixture | other ...............

At the end a leftover belongs to the first window whose closing snapshot
already held it.  The test keeps what its own phases made and leaves a wider
fixture's resources to that fixture, which judges them when it is finalised.
Leftovers outside the labels a span keeps are dropped before settling, so a
fixture's server never costs a test a settle wait.

Only keys and labels are kept: snapshots hold weak references, never the
user's objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Hashable, Mapping
from typing import Any

from leakwatch._engine import Options, Watcher
from leakwatch._model import Resource

Snapshot = Mapping[Hashable, Any]
Snapshots = Mapping[str, Snapshot]


class SpanWatcher(Watcher):
    """A :class:`Watcher` whose leftovers carry ``details["phase"]``.

    ``own`` labels windows made while this span is on top of the stack,
    ``other`` those made while another span is; ``keep`` is the labels whose
    leftovers are judged (None: all).  Keys in ``exclude`` (per kind) were
    judged elsewhere and are skipped.
    """

    def __init__(
        self,
        options: Options,
        *,
        label: str | None = None,
        own: str,
        other: str = "other",
        keep: Collection[str] | None = None,
    ) -> None:
        super().__init__(options, label=label)
        self.own = own
        self.other = other
        self.keep = None if keep is None else frozenset(keep)
        self.marks: list[tuple[str, Snapshots]] = []
        self.exclude: dict[str, set[Hashable]] = {}
        #: The keys of the last leftovers, per kind (what this span judged).
        self.judged: dict[str, set[Hashable]] = {}
        #: Off the stack: whatever appears from now on is someone else's.
        self.popped = False
        self._phases: dict[tuple[str, Hashable], str] = {}

    @property
    def tail(self) -> str:
        """The label of the window still open."""
        return self.other if self.popped else self.own

    def close_window(self, on_top: bool, snapshot: Snapshots) -> None:
        self.marks.append((self.own if on_top else self.other, snapshot))

    def phase_of(self, kind: str, key: Hashable, value: Any) -> str:
        probe = self.probes[kind]
        for label, snapshot in self.marks:
            held = snapshot.get(kind)
            if held is not None and not probe.is_new(key, value, held):
                return label
        return self.tail

    # The engine calls these while it settles and describes; they are the only
    # engine internals a span relies on.

    def _new(self, after: dict[str, Snapshot]) -> dict[str, dict[Hashable, Any]]:
        new = super()._new(after)
        kept: dict[str, dict[Hashable, Any]] = {}
        phases: dict[tuple[str, Hashable], str] = {}
        for kind, items in new.items():
            skip = self.exclude.get(kind, ())
            for key, value in items.items():
                if key in skip:
                    continue
                phase = self.phase_of(kind, key, value)
                if self.keep is None or phase in self.keep:
                    kept.setdefault(kind, {})[key] = value
                    phases[(kind, key)] = phase
        self._phases = phases
        self.judged = {kind: set(items) for kind, items in kept.items()}
        return kept

    def _describe(self, new: dict[str, dict[Hashable, Any]]) -> list[Resource]:
        resources = super()._describe(new)
        out = []
        for res in resources:
            phase = self._phases.get((res.kind, res.key), self.tail)
            details = {**res.details, "phase": phase}
            # Keep the kind's own group (it is part of a leak's baseline
            # signature) while never folding two phases into one leak.
            details.setdefault("group", "" if res.group is None else res.group)
            out.append(dataclasses.replace(res, details=details, group=(res.group, phase)))
        return out


class Stack:
    """The spans being set up, innermost on top."""

    def __init__(self) -> None:
        self.spans: list[SpanWatcher] = []

    def push(self, span: SpanWatcher) -> None:
        self.transition()
        self.spans.append(span)

    def pop(self, span: SpanWatcher) -> None:
        self.transition()
        if span in self.spans:
            self.spans.remove(span)
        span.popped = True

    def discard(self, span: SpanWatcher) -> None:
        """Take a span off the stack without closing anyone's window (it is being judged)."""
        if span in self.spans:
            self.spans.remove(span)

    def transition(self) -> None:
        """Close the current window of every span on the stack."""
        if not self.spans:
            return
        top = self.spans[-1]
        taken: dict[tuple[str, ...], Snapshots] = {}
        for span in self.spans:
            kinds = tuple(span.probes)
            snapshot = taken.get(kinds)
            if snapshot is None:
                snapshot = taken[kinds] = span.mark()
            span.close_window(span is top, snapshot)
