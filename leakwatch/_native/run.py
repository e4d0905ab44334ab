"""``native`` in ``leakwatch run``: the allocator's bytes over the run, and memray in windows.

The sampler records ``native``, the C allocator's bytes in use
(:func:`~leakwatch._native.counters.allocator_in_use`), beside RSS.  Native
memory keeps growing when that series does, by the trend rule and RSS's
margins (:mod:`leakwatch._run.trend`: three rising medians, the last third
at least ``max(1 MiB, 5 %)`` above the first).  The series holds Python's
large objects too, so it is only native growth when Python does not
explain it: memray's native stacks (``pyleakwatch[native]``), recorded in the
same trace windows as tracemalloc and kept for the late one, show
allocations outside Python's allocators that the window kept; without
memray, native growth is said when no traced heap site grew.

Must not judge another kind: only the allocator's series.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from leakwatch._attribution.stacks import to_origin
from leakwatch._base.frames import Frame
from leakwatch._base.model import Resource
from leakwatch._base.wording import format_size
from leakwatch._native import memray_stacks
from leakwatch._native.counters import NOTE, SOURCE, allocator_in_use

#: A native site must hold this much of what the late window kept, and this share.
MIN_SITE = 4096
MIN_SHARE = 0.05
MIB = 1024 * 1024


class NativeWindows:
    """memray on while a trace window is open (called from the sampler thread).

    Never in the first window (a program's start fills caches), then only in
    windows that open after the allocator itself grew by ``max(1 MiB, 2 %)``
    since the last window opened: memray's own memory (its import, its
    buffers) must not make a flat program's RSS climb.
    """

    def __init__(self) -> None:
        self.enabled = memray_stacks.available()
        #: Notes for the report (memray failing, coarse counters on this platform).
        self.errors: list[str] = [f"native: {NOTE}"] if NOTE else []
        self._open: memray_stacks.Recorder | None = None
        self._last: memray_stacks.Recorder | None = None
        self._ref: int | None = None

    def open(self) -> None:
        if not self.enabled or self._open is not None:
            return
        now, ref = allocator_in_use(), self._ref
        self._ref = now
        if ref is None or now - ref < max(MIB, 0.02 * ref):
            return
        recorder = memray_stacks.Recorder()
        if recorder.start():
            self._open = recorder
        else:
            self.enabled = False  # another tracker runs (memray run, pytest --memray)
            if recorder.error:
                self.errors.append(f"native: {recorder.error}")

    def close(self) -> None:
        recorder, self._open = self._open, None
        if recorder is None:
            return
        recorder.stop()
        if self._last is not None:
            self._last.discard()
        self._last = recorder

    def sites(self) -> list[memray_stacks.Site]:
        """What the late window kept outside Python's allocators, largest first."""
        self.close()
        recorder, self._last = self._last, None
        if recorder is None:
            return []
        found = recorder.kept()
        if recorder.error:
            self.errors.append(f"native: {recorder.error}")
        return found

    def discard(self) -> None:
        self.close()
        if self._last is not None:
            self._last.discard()
            self._last = None


def judge(
    series: Mapping[str, Sequence[Any]], leaks: list[Resource], traced: Any
) -> list[Resource]:
    """``leaks`` with native growth added, and the heap's unattributed growth it explains.

    ``traced`` is the run's :class:`~leakwatch._run.windows.TraceWindows`.
    """
    windows: NativeWindows | None = getattr(traced, "native", None)
    from leakwatch._base.growth_rule import keeps_growing

    values = series.get("native") or ()
    times = series.get("t")
    trend = keeps_growing(values, "rss", times)  # RSS's margins, thirds of the run's time
    if trend is None:
        if windows is not None:
            windows.discard()
        return leaks
    evidence = (
        f"allocator in use {format_size(trend.first)} -> {format_size(trend.last)} over the run"
    )
    found = windows.sites() if windows is not None else []
    total = sum(sum(s.per_call) for s in found)
    culprits = [s for s in found if sum(s.per_call) >= max(MIN_SITE, MIN_SHARE * total)][:5]
    unattributed = [r for r in leaks if r.kind == "heap" and not r.origin]
    python_sites = [r for r in leaks if r.kind == "heap" and r.origin]
    out = [r for r in leaks if r not in unattributed]
    if culprits:
        out += [_site(s, evidence, trend) for s in culprits]
    elif python_sites or not getattr(traced, "windows", None):
        # Traced heap sites grew (Python's objects explain the allocator), or
        # nothing was traced while it grew: heap's own finding stands.
        return leaks
    elif not _still_rising(values, times, trend):
        # No site, and the allocator stopped rising before the end: start-up
        # (imports, first-use caches) stretched over a short or slow run, not
        # memory that keeps going.
        return leaks
    else:
        how = (
            memray_stacks.HOW_TO
            if windows is None or not windows.enabled
            else (
                "memray saw no allocation outside Python's kept in the late trace window "
                "(ctypes calls a function pointer memray does not see)"
            )
        )
        details = {
            "evidence": evidence,
            "first": trend.first,
            "last": trend.last,
            "samples": trend.samples,
            "counter": SOURCE,
            "origin_note": how,
        }
        title = f"native memory keeps growing ({evidence}), creation not seen"
        out.append(Resource("native", ("growth",), title, (), details, round(trend.rise), "growth"))
    return out


def _still_rising(values: Sequence[Any], times: Sequence[Any] | None, trend: Any) -> bool:
    """Whether the allocator still rose within the last third of the run, by a
    quarter of the whole rise: what keeps leaking does, what filled once did not."""
    from leakwatch._base.growth_rule import thirds

    parts = thirds(values, times)
    if parts is None or len(parts[2]) < 2:
        return False
    last = [v for v in parts[2] if v is not None]
    return bool(last) and max(last) - last[0] >= max(trend.rise / 4, 1.0)


def _site(site: memray_stacks.Site, evidence: str, trend: Any) -> Resource:
    kept = sum(site.per_call)
    origin = to_origin(tuple((fn, ln, func) for func, fn, ln in site.python))
    native = [Frame(filename, lineno, function) for function, filename, lineno in site.native]
    shown = memray_stacks.fold(site.native)
    inner = native[0].function if native else "?"
    caller = next((f.function for f in native[1:shown]), None)
    where = f"{caller} -> {inner}" if caller else inner
    if origin:
        where += f" below {os.path.basename(origin[-1].filename)}:{origin[-1].lineno}"
    title = (
        f"native memory keeps growing: {format_size(kept)} kept by {where} "
        f"in the late trace window ({evidence})"
    )
    details = {
        "evidence": evidence,
        "late_size": kept,
        "first": trend.first,
        "last": trend.last,
        "counter": SOURCE,
        "attribution": "memray",
        "native_frames": native,
        "native_shown": shown,
    }
    key = ("growth", tuple(site.native[:shown]), tuple(site.python[:1]))
    return Resource("native", key, title, origin, details, kept, "growth")
