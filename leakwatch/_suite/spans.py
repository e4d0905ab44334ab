"""Spans: watches cut into windows, so a leftover is charged to the window that made it.

A test is watched from the start of its setup to the end of its teardown by
one :class:`SpanWatcher`; a fixture of a wider scope, from the start of its
setup to its finalisation by another.  While something is being made, the
span on top of the :class:`Stack` is the one making it.  Each change of who
is on top (a fixture's setup starting or ending, a test phase ending) takes
a creation serial and one light mark (descriptor numbers, thread idents) and
closes the current window of every span on the stack, with a label that says
whose window it was::

    test span:     setup | fixture | setup | call | teardown
    module fixture:        fixture | other ...............

At the end a leftover leakwatch saw being made belongs to the window its
creation serial falls in, whichever thread made it: a request handler that a
session fixture's server thread runs for the test leaks into the test.  One
made by C code goes to the first window whose light mark held its number.
Another thread's leftover is a wider fixture's only when that fixture's world
holds it or it works for that world (a server's kept-alive connection, its
per-connection handler threads, its worker pool: see ``ownership``); the
wider span adopts it and judges it when it is finalised, and a test that
takes a leftover of a fixture's threads as its own leaves it out of the
fixture's span (``disowned``).  A fixture's own span keeps what its threads
made and no test took.  Leftovers outside the labels a span keeps are
dropped before settling, so a fixture's machinery never costs a test a
settle wait.

Only keys and labels are kept: snapshots hold weak references, never the
user's objects.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Collection, Hashable, Mapping
from typing import Any

from leakwatch._attribution import records as _records
from leakwatch._base.model import Resource
from leakwatch._engine.options import Options
from leakwatch._engine.watcher import Watcher
from leakwatch._probes.protocol import Probe
from leakwatch._suite.marks import held_in, light_mark

#: The label of what a live wider span owns: never kept, never settled for.
ELSEWHERE = "elsewhere"

Snapshot = Mapping[Hashable, Any]
Snapshots = Mapping[str, Snapshot]
#: ``wider(span, [(kind, key, value, record), ...]) -> {(kind, key), ...}``
Wider = Callable[["SpanWatcher", list[tuple[str, Hashable, Any, Any]]], set[tuple[str, Hashable]]]


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
        probes: dict[str, Probe] | None = None,
    ) -> None:
        super().__init__(options, label=label, probes=probes)
        self.own = own
        self.other = other
        self.keep = None if keep is None else frozenset(keep)
        self.marks: list[tuple[str, Snapshots, int]] = []
        self.exclude: dict[str, set[Hashable]] = {}
        #: The keys of the last leftovers, per kind (what this span judged).
        self.judged: dict[str, set[Hashable]] = {}
        #: Off the stack: whatever appears from now on is someone else's.
        self.popped = False
        self._phases: dict[tuple[str, Hashable], str] = {}
        #: The thread this span watches from (pytest's); set at start.
        self.home = threading.get_ident()
        #: ``wider(span, [(kind, key, value, record), ...])``: of these
        #: leftovers another thread made, the ``(kind, key)`` a live wider
        #: fixture holds or works for (set by the plugin on a test's span;
        #: see ``ownership``).  None on a wider fixture's own span.
        self.wider: Wider | None = None
        self._wider_held: dict[tuple[str, Hashable], bool] = {}
        #: The thread (ident) that made a leftover, where not this span's own.
        self._makers: dict[tuple[str, Hashable], int] = {}
        #: Leftovers its threads made that a test judged as its own (a wider
        #: fixture's span leaves them out).
        self.disowned: dict[str, set[Hashable]] = {}
        #: Leftovers of tests that this (fixture) span's value holds: its own.
        self.adopted: dict[str, set[Hashable]] = {}

    def start(self) -> None:
        self.home = threading.get_ident()
        super().start()

    @property
    def tail(self) -> str:
        """The label of the window still open."""
        return self.other if self.popped else self.own

    def close_window(self, on_top: bool, snapshot: Snapshots, serial: int = 0) -> None:
        serial = serial or _records.current_serial()
        self.marks.append((self.own if on_top else self.other, snapshot, serial))

    def phase_of(self, kind: str, key: Hashable, value: Any) -> str:
        label, foreign = self._placed(kind, key, value)
        if foreign is not None and label in (self.keep or (label,)):
            held = self._wider_held.get((kind, key))
            if held is None and self.wider is not None:
                held = (kind, key) in self.wider(self, [(kind, key, value, foreign)])
                self._wider_held[(kind, key)] = held
            if held:
                return ELSEWHERE
        return label

    def _placed(self, kind: str, key: Hashable, value: Any) -> tuple[str, Any]:
        """The window a leftover was made in, and its record when another
        thread made it (whose it is then depends on what holds it)."""
        if key in self.adopted.get(kind, ()):
            return self.own, None
        if key in self.disowned.get(kind, ()):
            return self.other, None
        probe = self.probes[kind]
        rec = self._creation(probe, key, value)
        if rec is not None:
            return self._place_record(rec)
        # No record (C code made it): the first window whose light mark held it.
        for label, mark, _ in self.marks:
            held = mark.get(kind)
            if held is not None and held_in(kind, key, held):
                return label, None
        return self.tail, None

    def _place_record(self, rec: Any) -> tuple[str, Any]:
        """The window a creation record falls in, and the record again when
        another thread made it (see :meth:`_placed`)."""
        if rec.owner and rec.thread == self.home:
            # Made for a coroutine handed to another thread's loop: the
            # window of the hand-over, or someone older than this span's.
            if rec.owner > self._since:
                return self._window_at(rec.owner), None
            if self.wider is None:
                return ELSEWHERE, None
            # Handed over before this span (a wider fixture's portal runs
            # every request through the coroutine it handed over once):
            # made in this span's windows, whose it is depends on what holds it.
            return self._window_at(rec.serial), rec
        if rec.thread and rec.thread != self.home:
            if self.wider is None:
                # A wider fixture's own span: what its threads made, unless
                # a test took it as its own (``disowned``).
                label = self.thread_window(rec.thread)
                if label is not None:
                    return label, None
            return self._window_at(rec.serial), rec
        return self._window_at(rec.serial), None

    def keeps_departed(self, kind: str, item: Any) -> bool:
        """A resource that ended as a leak (a task pending when its loop shut
        down) is this span's when made in a window it keeps, by its thread or
        another (what something wider held as it ended is never filed: see
        ``leakwatch._probes.departures``)."""
        if item.key in self.exclude.get(kind, ()):
            return False
        label, _ = self._place_record(item.record)
        if label == ELSEWHERE or (self.keep is not None and label not in self.keep):
            return False
        self._phases[(kind, item.key)] = label
        if item.record.thread and item.record.thread != self.home:
            self._makers[(kind, item.key)] = item.record.thread
        return True

    def mark(self, within_test: bool = False) -> dict[str, Any]:
        """A window's end, lightly: the serial (in :meth:`close_window`) places
        everything leakwatch saw made; for the rest, only the descriptor
        numbers and thread idents open now (one listdir, no readlink, no
        fstat; within a test's phases, a count: see ``light_mark``).  Most
        tests end clean, and a clean test never reads its marks.  Nothing it
        reads (``/proc``: a listing, a ``stat``, links) is a call the
        creation hooks record, so they need no quieting."""
        return light_mark(tuple(self.probes), within_test)

    def _creation(self, probe: Probe, key: Hashable, value: Any) -> _records.Record | None:
        try:
            rec: _records.Record | None = probe.creation(key, value, self._since)
        except Exception:  # ownership is a refinement: time windows still decide
            return None
        return rec

    def thread_window(
        self, ident: int, threads: dict[int | None, threading.Thread] | None = None
    ) -> str | None:
        """The window of this span in which the thread ``ident`` was started,
        following a thread started by another thread back to the first one
        started from this span's own thread; None when it was started before
        the span, or its start was not seen.  ``threads``: the live threads
        by ident, read once by a caller asking about each of them."""
        if threads is None:
            threads = {t.ident: t for t in threading.enumerate()}
        for _ in range(8):
            thread = threads.get(ident)
            rec = _records.threads.get(thread) if thread is not None else None
            if rec is None or rec.serial <= self._since:
                return None
            if rec.thread == self.home or not rec.thread:
                return self._window_at(rec.serial)
            ident = rec.thread
        return None

    def before(self, kind: str) -> Snapshot:
        """The span's first snapshot of ``kind`` (empty if not watched)."""
        return self.looks.before.get(kind, {})

    def window_of(self, serial: int) -> str:
        """The label of the window creation serial ``serial`` falls in."""
        return self._window_at(serial)

    def _window_at(self, serial: int) -> str:
        for label, _, closed in self.marks:
            if serial < closed:
                return label
        return self.tail

    # The engine's extension points, called while it settles and describes.

    def select(self, new: dict[str, dict[Hashable, Any]]) -> dict[str, dict[Hashable, Any]]:
        """What was made in the windows this span judges (and no wider
        fixture's machinery another thread made)."""
        if not new:  # most tests
            self._phases, self.judged = {}, {}
            return new
        kept: dict[str, dict[Hashable, Any]] = {}
        phases: dict[tuple[str, Hashable], str] = {}
        asks: list[tuple[str, Hashable, Any, Any]] = []
        placed: list[tuple[str, Hashable, Any, str, Any]] = []
        for kind, items in new.items():
            skip = self.exclude.get(kind, ())
            for key, value in items.items():
                if key in skip:
                    continue
                label, foreign = self._placed(kind, key, value)
                if label == ELSEWHERE or (self.keep is not None and label not in self.keep):
                    continue
                if foreign is not None:
                    self._makers[(kind, key)] = foreign.thread
                    if (kind, key) not in self._wider_held:
                        asks.append((kind, key, value, foreign))
                placed.append((kind, key, value, label, foreign))
        if asks:
            # Another thread made these: a wider fixture's machinery, or the window's.
            held = self.wider(self, asks) if self.wider is not None else set()
            for kind, key, _, _ in asks:
                self._wider_held[(kind, key)] = (kind, key) in held
        for kind, key, value, label, foreign in placed:
            if foreign is not None and self._wider_held.get((kind, key)):
                continue
            kept.setdefault(kind, {})[key] = value
            phases[(kind, key)] = label
        self._phases = phases
        self.judged = {kind: set(items) for kind, items in kept.items()}
        return kept

    def annotate(self, resources: list[Resource]) -> list[Resource]:
        """Each leftover with the window (phase) it was made in, and the
        thread that made it where not this span's own."""
        out = []
        for res in resources:
            phase = self._phases.get((res.kind, res.key), self.tail)
            details = {**res.details, "phase": phase}
            maker = self._makers.get((res.kind, res.key))
            if maker:
                details["made_in_thread"] = _thread_name(maker)
            # Keep the kind's own group (it is part of a leak's baseline
            # signature) while never folding two phases into one leak.
            details.setdefault("group", "" if res.group is None else res.group)
            out.append(dataclasses.replace(res, details=details, group=(res.group, phase)))
        return out


def _thread_name(ident: int) -> str:
    """A thread's name by ident while it runs; "" once it has ended."""
    for thread in threading.enumerate():
        if thread.ident == ident:
            return thread.name
    return ""


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

    def transition(self, within_test: bool = False) -> None:
        """Close the current window of every span on the stack.
        ``within_test``: a test's own phase ends (see ``light_mark``)."""
        if not self.spans:
            return
        top = self.spans[-1]
        serial = _records.current_serial()
        taken: dict[tuple[str, ...], Snapshots] = {}
        for span in self.spans:
            kinds = tuple(span.probes)
            snapshot = taken.get(kinds)
            if snapshot is None:
                snapshot = taken[kinds] = span.mark(within_test)
            span.close_window(span is top, snapshot, serial)
