"""Heap tracing in windows: tracemalloc on while memory grows, off otherwise.

tracemalloc makes allocation-heavy code 11-30x slower, so ``leakwatch run``
does not keep it on.  By default (mode ``"windows"``):

- a window traces for ``length`` seconds (``--trace-window``, default 1 s);
- a window opens only when memory grew since the program started or since
  the previous window closed: RSS by ``max(1 MiB, 2 %)`` or pymalloc's
  allocated blocks by ``max(5000, 5 %)``.  A program whose memory stays flat
  is never traced and pays nothing;
- windows are spaced out: after one that opened at ``s`` and closed at ``e``,
  the next may open at ``e + min(max(2 * length, s), 60 s)``.  Tracing takes
  at most a third of the run early on and about 1/60 of it after a few
  minutes, and a program that keeps growing is traced again at least once a
  minute, so the late window is recent;
- when a window closes, what its allocations still hold is kept by site; the
  first window is the *early* one, the last the *late* one, and the
  program's end closes a window still open.

Growth is reported per allocation line (the innermost frame in the user's
code): ``early_size`` is what the line allocated during the early window and
still held when it closed, ``late_size`` the same for the late window, and
``growth`` what the line added and kept during the late window
(``late_size``): a lower bound of its growth between the windows, since the
time between is not traced.  A cache filled once shows up early and not
late; a leak shows up in both.  With one window only, ``early_size`` is null.
A bounded cache turning over also keeps new blocks in a window (the old ones
it frees were never traced), which is why sites alone never fail a run: the
heap trend (:mod:`leakwatch._run.trend`) must agree.

Mode ``"all"`` (``--trace-all``, or tracemalloc already running when the
program starts, say under ``-X tracemalloc``) keeps tracing: ``early_size``
is what a line held after the first ``length`` seconds, ``late_size`` what
it holds at the end, ``growth`` the exact difference.  Mode ``"off"``
(``--trace-window 0``) traces nothing; heap growth is still judged from RSS
and allocated blocks, without sites.
"""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from leakwatch._attribution.stacks import enclosing_function, source_line, tracemalloc_origin
from leakwatch._base.frames import Frame, Origin
from leakwatch._base.paths import is_user_file
from leakwatch._native.run import NativeWindows
from leakwatch._probes.heap import HeapTracker, Site, SiteStat

MAX_GAP = 60.0
MIB = 1024 * 1024


@dataclass
class Window:
    """One traced span, in seconds since the program started, and what it kept."""

    start: float
    end: float = 0.0
    kept: dict[Site, SiteStat] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class GrowthSite:
    """One allocation line and what it kept in the early and the late window."""

    filename: str
    lineno: int
    function: str
    line: str
    early_size: int | None
    late_size: int
    growth: int
    site: Site = ()  # the line's largest traceback, for the origin

    def to_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "lineno": self.lineno,
            "function": self.function,
            "line": self.line,
            "early_size": self.early_size,
            "late_size": self.late_size,
            "growth": self.growth,
        }

    def origin(self) -> Origin:
        frames = tracemalloc_origin(self.site)
        return frames or (Frame(self.filename, self.lineno, self.function, self.line),)


class TraceWindows:
    """Opens and closes tracemalloc windows; called from the sampler thread."""

    def __init__(self, length: float, depth: int, *, trace_all: bool = False) -> None:
        self.length = max(0.0, length)
        self.depth = depth
        self.mode = "all" if trace_all else ("windows" if self.length > 0 else "off")
        self.external = False
        self.windows: list[Window] = []
        self._open: Window | None = None
        self._tracker: HeapTracker | None = None
        self._next_at = 0.0
        self._ref = (0, 0)
        #: memray's native stacks in the same windows (leakwatch._native.run).
        self.native = NativeWindows()

    def begin(self, rss: int, blocks: int) -> None:
        """Before the program runs (main thread)."""
        self._ref = (rss, blocks)
        if self.mode != "off" and tracemalloc.is_tracing():
            # Someone traces already (-X tracemalloc): stopping it is not ours
            # to do, and comparing two samples of it is exact.
            self.mode, self.external = "all", True
        if self.mode == "all":
            self._tracker = HeapTracker(self.depth)
            self._tracker.start()
            self._open = Window(0.0)

    def tick(self, now: float, rss: int, blocks: int) -> None:
        if self.mode == "all":
            if not self.windows and now >= self.length and self._tracker is not None:
                self.windows.append(Window(0.0, now, self._tracker.sample()))
            return
        if self.mode != "windows":
            return
        if self._open is not None:
            if now - self._open.start >= self.length:
                self._close(now, rss, blocks)
        elif now >= self._next_at and self._grew(rss, blocks) and not tracemalloc.is_tracing():
            self._tracker = HeapTracker(self.depth)
            self._tracker.start()
            self._open = Window(now)
            self.native.open()

    def next_event(self) -> float | None:
        """When the open window is due to close, so the sampler wakes for it."""
        if self.mode == "windows" and self._open is not None:
            return self._open.start + self.length
        return None

    def finish(self, now: float, rss: int, blocks: int) -> None:
        """After the program ended and the sampler stopped (main thread)."""
        if self.mode == "all" and self._tracker is not None:
            self.windows.append(
                Window(self.length if self.windows else 0.0, now, self._tracker.sample())
            )
            self._tracker.stop()
            self._tracker = self._open = None
        elif self._open is not None:
            self._close(now, rss, blocks)

    def traced(self) -> int | None:
        """Bytes traced now, or None when no window is open."""
        if self._open is None or not tracemalloc.is_tracing():
            return None
        return tracemalloc.get_traced_memory()[0]

    def spans(self) -> list[list[float]]:
        if self.mode == "all":
            end = self.windows[-1].end if self.windows else 0.0
            return [[0.0, round(end, 3)]]
        return [[round(w.start, 3), round(w.end, 3)] for w in self.windows]

    def when(self) -> str:
        """Over which span :meth:`growth` measured, in words for a title."""
        if self.mode == "all" and len(self.windows) > 1:
            return f"after the first {self.length:g} s"
        return "over the run" if self.mode == "all" else "in the late trace window"

    def _grew(self, rss: int, blocks: int) -> bool:
        ref_rss, ref_blocks = self._ref
        return rss - ref_rss >= max(MIB, 0.02 * ref_rss) or blocks - ref_blocks >= max(
            5000, 0.05 * ref_blocks
        )

    def _close(self, now: float, rss: int, blocks: int) -> None:
        window, tracker = self._open, self._tracker
        self._open = self._tracker = None
        if window is None or tracker is None:
            return
        window.kept = tracker.sample()
        window.end = now
        tracker.stop()
        self.native.close()
        self.windows.append(window)
        self._ref = (rss, blocks)
        self._next_at = now + min(max(2 * self.length, window.start), MAX_GAP)

    def growth(self, *, limit: int = 10, min_size: int = 1024) -> list[GrowthSite]:
        """The lines that grew most, largest first (see the module docstring)."""
        if not self.windows:
            return []
        late = _by_line(self.windows[-1].kept)
        early = _by_line(self.windows[0].kept) if len(self.windows) > 1 else None
        out = []
        for key, (size, site) in late.items():
            before = early.get(key, (0, ()))[0] if early is not None else None
            grew = size - (before or 0) if self.mode == "all" else size
            if grew < min_size:
                continue
            function, line = _describe(key, site)
            out.append(GrowthSite(key[0], key[1], function, line, before, size, grew, site))
        out.sort(key=lambda g: g.growth, reverse=True)
        return out[:limit]


def _line_of(site: Site) -> tuple[str, int]:
    for filename, lineno in site:  # most recent first: the innermost user frame wins
        if is_user_file(filename):
            return filename, lineno
    return site[0] if site else ("?", 0)


def _by_line(kept: dict[Site, SiteStat]) -> dict[tuple[str, int], tuple[int, Site]]:
    sizes: dict[tuple[str, int], int] = {}
    best: dict[tuple[str, int], tuple[int, Site]] = {}
    for site, stat in kept.items():
        key = _line_of(site)
        sizes[key] = sizes.get(key, 0) + stat.size
        if key not in best or stat.size > best[key][0]:
            best[key] = (stat.size, site)
    return {key: (size, best[key][1]) for key, size in sizes.items()}


def _describe(key: tuple[str, int], site: Site) -> tuple[str, str]:
    for frame in tracemalloc_origin(site):
        if (frame.filename, frame.lineno) == key:
            return frame.function, frame.line
    return enclosing_function(*key), source_line(*key)
