"""``native`` in ``check()`` and the ``repeat`` marker: judge by counters, then attribute.

1. Judge.  Around the judged calls the allocator's bytes in use are read
   after each call (after the gc pass the heap rule runs anyway), less what
   tracemalloc's live traces hold in the allocator (:mod:`.counters`).  Native
   memory leaks when that grew on *every* judged call by more than
   :data:`~leakwatch._native.counters.FLOOR` bytes: heap's rule, with a
   floor for the allocator's own caches.
2. Attribute, only when something grew: :data:`ATTRIBUTION_CALLS` more calls
   under memray (native stacks and the Python line above them, when the
   ``pyleakwatch[native]`` extra is installed), then, for growth memray did not
   see, as many under a line tracer (the Python line alone).  A clean
   function never pays for either.

The counters run with tracemalloc on: leakwatch starts it (one frame) when
the heap rule has not.
"""

from __future__ import annotations

import gc
import itertools
import os
import tracemalloc
from collections.abc import Generator, Sequence
from typing import Any

from leakwatch._attribution.stacks import to_origin
from leakwatch._base.frames import Frame
from leakwatch._base.model import Resource
from leakwatch._base.wording import format_size
from leakwatch._native import counters, memray_stacks
from leakwatch._native.lines import Line, LineTracer
from leakwatch._probes.protocol import Growth

#: Calls made after the judgement to find where native growth was allocated.
ATTRIBUTION_CALLS = 3
#: Calls that confirm growth seen on the judged calls (see ``finish``).
CONFIRM_CALLS = 3


def _grows(series: list[int]) -> bool:
    """Grew by more than the floor from each sample to the next (two steps at least)."""
    deltas = [b - a for a, b in itertools.pairwise(series)]
    return len(deltas) >= 2 and all(d > counters.FLOOR for d in deltas)


class NativeGrowth(Growth):
    """Start before the judged calls, :meth:`measure` after each, then :meth:`judge`."""

    kind = "native"
    traces = True  # tracemalloc on (one frame), so its traced blocks are taken out

    def __init__(self, *, attribute: bool = True) -> None:
        self.attribute = attribute
        self.said: list[str] = []
        self.series: list[int] = []
        self._owned = False
        self._at = 0
        self._own = 0

    def start(self) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(1)
            self._owned = True
        counters.calibrate()  # measured before the calls, not during them
        self.series = [counters.native_now()]

    def measure(self) -> None:
        """After a judged call (and its gc pass), before leakwatch's own sampling."""
        self._at = counters.native_now()
        self.series.append(self._at - self._own)

    def sampled(self) -> None:
        """After leakwatch's own sampling: what it kept is taken out of later samples."""
        self._own += counters.native_now() - self._at

    def stop(self) -> None:
        """Stop what :meth:`start` started (also when a call raised)."""
        self._stop_tracing()

    def notes(self) -> list[str]:
        return list(self.said)

    def _stop_tracing(self) -> None:
        if self._owned and tracemalloc.is_tracing():
            tracemalloc.stop()
        self._owned = False

    def judge(self, repeat: int, blocks: Sequence[int]) -> Generator[str, Any, list[Resource]]:
        """Yields "call" for each confirming and attribution call; returns the native leaks.

        Growth on every judged call is confirmed over :data:`CONFIRM_CALLS`
        more calls, measured the same way, before anything is reported: the
        allocator's counters move with its per-thread caches and arenas (more
        so on a busy machine), and two or three judged calls can grow by
        chance.  A leak grows on the confirming calls too; noise does not.
        """
        if counters.NOTE:
            self.said.append(f"native: {counters.NOTE}")
        self._stop_tracing()
        if not _grows(self.series):
            return []
        # Measured as the judged calls were: Python's traced blocks taken out.
        traced_here = not tracemalloc.is_tracing()
        if traced_here:
            tracemalloc.start(1)
        try:
            confirm = [counters.native_now()]
            for _ in range(CONFIRM_CALLS):
                yield "call"
                gc.collect()
                confirm.append(counters.native_now())
        finally:
            if traced_here:
                tracemalloc.stop()
        deltas = [b - a for a, b in itertools.pairwise(self.series)]
        if not _grows(confirm):
            self.said.append(
                "native: the allocator grew on every judged call but not on "
                f"{CONFIRM_CALLS} more: not judged a leak (its caches, not the calls)"
            )
            return []
        per_call = sum(deltas) / len(deltas)
        if not self.attribute:
            return [_unattributed(per_call, deltas, "native attribution is off")]
        recorder = memray_stacks.Recorder() if memray_stacks.available() else None
        tracer = LineTracer()
        try:
            if recorder is not None:
                recorder.start()
            for _ in range(ATTRIBUTION_CALLS):
                tracer.start()
                try:
                    yield "call"
                finally:
                    tracer.stop()
                gc.collect()
                if recorder is not None:
                    recorder.cut()
        finally:
            if recorder is not None:
                recorder.stop()
        sites = recorder.sites()[:5] if recorder is not None else []
        if recorder is not None and recorder.error:
            self.said.append(f"native: {recorder.error}")
        how = None if recorder is not None else memray_stacks.HOW_TO
        found = _join(sites, tracer.lines(counters.FLOOR)[:5], deltas, how)
        if not found:
            why = how or "neither memray nor the line tracer saw where it was allocated"
            found.append(_unattributed(per_call, deltas, why))
        return found


def _join(
    sites: list[memray_stacks.Site], lines: list[Line], deltas: list[int], how: str | None
) -> list[Resource]:
    """One leak per native stack, with the Python line whose per-call growth matches it;
    lines left over (memray did not see them: ctypes) are leaks of their own."""
    left = list(lines)
    out = []
    for site in sites:
        grew = sum(site.per_call) / len(site.per_call)
        line = min(left, key=lambda ln: abs(_mean(ln.per_call) - grew), default=None)
        if line is not None and abs(_mean(line.per_call) - grew) <= max(counters.FLOOR, grew / 4):
            left.remove(line)
        else:
            line = None
        out.append(_from_stack(site, line, deltas))
    out += [_from_line(line, deltas, how) for line in left]
    return out


def _mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


def _title(per_call: float, where: str) -> str:
    return f"native memory grows {format_size(per_call)} per call{where}"


def _details(deltas: list[int], per_call: float, **more: Any) -> dict[str, Any]:
    return {
        "growth_per_call": round(per_call),
        "series": deltas,
        "counter": counters.SOURCE,
        "floor": counters.FLOOR,
        "group": "growth",
        **more,
    }


def _from_stack(site: memray_stacks.Site, line: Line | None, deltas: list[int]) -> Resource:
    per_call = sum(site.per_call) / len(site.per_call)
    origin = to_origin(line.stack) if line is not None else ()
    native = [Frame(filename, lineno, function) for function, filename, lineno in site.native]
    shown = memray_stacks.fold(site.native)
    inner = native[0].function if native else "?"
    caller = next((f.function for f in native[1:shown]), None)
    where = f", allocated in {caller} -> {inner}" if caller else f", allocated in {inner}"
    details = _details(
        deltas,
        per_call,
        attribution="memray",
        attribution_calls=site.per_call,
        native_frames=native,
        native_shown=shown,
    )
    if not origin:
        details["origin_note"] = "the Python line above it was not seen (another thread?)"
    key = ("native", tuple(site.native[:shown]))
    size = round(per_call * len(deltas))
    return Resource("native", key, _title(per_call, where), origin, details, size, "growth")


def _from_line(line: Line, deltas: list[int], how: str | None) -> Resource:
    per_call = sum(line.per_call) / len(line.per_call)
    origin = to_origin(line.stack)
    details = _details(deltas, per_call, attribution="line tracer", attribution_calls=line.per_call)
    if how:
        details["native_note"] = how
    else:
        details["native_note"] = (
            "memray did not see this allocation (a function pointer taken before "
            "tracking began, as ctypes does): the Python line only"
        )
    key = ("native", line.stack[:1])
    where = ""
    if line.stack:
        filename, lineno, _ = line.stack[0]
        where = f", allocated below {os.path.basename(filename)}:{lineno}"
    size = round(per_call * len(deltas))
    return Resource("native", key, _title(per_call, where), origin, details, size, "growth")


def _unattributed(per_call: float, deltas: list[int], why: str) -> Resource:
    details = _details(deltas, per_call, origin_note=why)
    title = _title(per_call, ", creation not seen")
    size = round(per_call * len(deltas))
    return Resource("native", ("native",), title, (), details, size, "growth")
