"""Counts over time, taken by a ``leakwatch-sampler`` thread, and the live status line.

Every ``interval`` seconds (and once at the start and once at the end) one
sample is recorded: seconds since start, RSS, traced heap (while a trace
window is open, else null), pymalloc's allocated blocks, open descriptors,
threads, pending asyncio tasks and child processes.  Early in the run
samples come faster: every tenth of the time run so far, at least
:data:`EARLY_SPACING` apart, so a run of a few seconds still has the
samples the growth rule needs (a 3 s run: about 28) while a long one
costs nothing more (samples are ``interval`` apart after ``10 * interval``
seconds).  The growth rule weighs thirds of the run's time, not of the
samples (see :mod:`leakwatch._run.trend`).

The thread's name starts with ``leakwatch-``, which the thread probe
leaves out; it records nothing in the creation-stack tables (its own opens
are quiet) and keeps no descriptor open between samples: /proc is read and
closed each time, so the final fd snapshot never sees one of its reads.

The live view is one status line on stderr, redrawn about once a second
with ``\\r`` and erase-to-end-of-line, only when stderr is a terminal and
``--quiet`` was not given; it is erased before the report is printed.
Limitation: output the program writes to the same terminal between two
redraws lands next to the status line (the program's streams are not
wrapped, so the program sees exactly the streams python gives it).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

import psutil

from leakwatch._attribution import recording as _recording
from leakwatch._base.platform import HAVE_PROC, list_children, list_fds
from leakwatch._base.wording import format_size
from leakwatch._native.counters import allocator_in_use
from leakwatch._probes.tasks import iter_tasks
from leakwatch._probes.threads import INTERNAL_PREFIX
from leakwatch._run.windows import TraceWindows

HAVE_SIGUSR1 = hasattr(signal, "SIGUSR1") and hasattr(signal, "pthread_sigmask")

#: The keys of the ``timeseries`` object, each a list with one value per sample.
SERIES = ("t", "rss", "heap", "blocks", "fds", "threads", "tasks", "children", "native")
THREAD_NAME = INTERNAL_PREFIX + "sampler"
_REDRAW = 1.0
EARLY_SPACING = 0.05  # seconds between samples at the very start, at least
EARLY_FRACTION = 0.1  # early on, a sample every tenth of the time run so far


def _fd_count() -> int:
    if HAVE_PROC:
        # Cheaper than readlink on every descriptor; the listing's own
        # descriptor is in the listing, hence the minus one.
        return len(os.listdir("/proc/self/fd")) - 1
    return len(list_fds())


def _task_count() -> int:
    try:
        return sum(1 for t in iter_tasks() if not t.done())
    except RuntimeError:  # the loop's thread changed the registry meanwhile
        return 0


class Sampler:
    """Samples counts on a thread; ``series`` is complete once :meth:`stop` returns."""

    def __init__(self, interval: float, windows: TraceWindows, *, live: bool = False) -> None:
        self.interval = max(0.01, interval)
        self.windows = windows
        self.live = live
        self.series: dict[str, list[Any]] = {key: [] for key in SERIES}
        self.errors: list[str] = []
        self._proc = psutil.Process()
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False
        self._draw_lock = threading.RLock()  # RLock: SIGUSR1's handler may erase mid-draw

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def spacing(self, now: float) -> float:
        """Seconds from a sample taken at ``now`` to the next."""
        return min(self.interval, max(EARLY_SPACING, EARLY_FRACTION * now))

    def counts(self) -> dict[str, Any]:
        """One look at every count (the heap figure is the open window's)."""
        with _recording.quiet():
            return {
                "rss": self._rss(),
                "heap": self.windows.traced(),
                "blocks": sys.getallocatedblocks(),
                "fds": _fd_count(),
                "threads": sum(
                    1 for t in threading.enumerate() if not t.name.startswith(INTERNAL_PREFIX)
                ),
                "tasks": _task_count(),
                "children": len(list_children()),
                "native": allocator_in_use(),  # the C allocator's bytes (leakwatch._native)
            }

    def _rss(self) -> int:
        try:
            return int(self._proc.memory_info().rss)
        except psutil.Error:
            return 0

    def start(self) -> None:
        """Sample once (the program has not started yet), then sample on a thread."""
        first = self.counts()
        self.windows.begin(first["rss"], first["blocks"])  # may take a while: tracemalloc's base
        self._t0 = time.monotonic()
        first["heap"] = self.windows.traced()
        self._record(0.0, first)
        with _recording.quiet():
            self._thread = threading.Thread(target=self._loop, name=THREAD_NAME, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread, take the last sample and close the trace window."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.erase()
        now = self.elapsed()
        last = self.counts()
        self._record(now, last)
        self.windows.finish(now, last["rss"], last["blocks"])

    def _loop(self) -> None:
        if HAVE_SIGUSR1:
            # SIGUSR1 is for the main thread, whose handler prints the state:
            # delivered to this thread instead, a main thread blocked in a
            # system call would not be woken to print it.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        with _recording.quiet():
            next_record = self.spacing(0.0)
            next_draw = min(self.interval, _REDRAW)
            while True:
                wake = min(next_record, next_draw) if self.live else next_record
                closes = self.windows.next_event()
                if closes is not None:
                    wake = min(wake, closes)
                if self._stop.wait(max(0.005, wake - self.elapsed())):
                    return
                try:
                    now = self.elapsed()
                    counts = self.counts()
                    self.windows.tick(now, counts["rss"], counts["blocks"])
                    counts["heap"] = self.windows.traced()
                    if now >= next_record:
                        self._record(now, counts)
                        while next_record <= now:
                            next_record += self.spacing(next_record)
                    if self.live and now >= next_draw:
                        self.draw(now, counts)
                        next_draw = now + _REDRAW
                except Exception as exc:  # the program comes first: note it, go on
                    if len(self.errors) < 5:
                        self.errors.append(f"sampler: {type(exc).__name__}: {exc}")

    def _record(self, now: float, counts: dict[str, Any]) -> None:
        self.series["t"].append(round(now, 3))
        for key in SERIES[1:]:
            self.series[key].append(counts.get(key))

    # -- the live view ---------------------------------------------------------

    def draw(self, now: float, counts: dict[str, Any]) -> None:
        line = status_line(now, counts)
        try:
            width = os.get_terminal_size(2).columns or 80  # 0 under some ptys
        except OSError:
            width = 80
        with self._draw_lock:
            try:
                os.write(2, f"\r{line[: max(10, width - 1)]}\x1b[K".encode(errors="replace"))
                self._drawn = True
            except OSError:
                self.live = False  # stderr went away: stop drawing, keep sampling

    def erase(self) -> None:
        with self._draw_lock:
            if self._drawn:
                self._drawn = False
                try:
                    os.write(2, b"\r\x1b[K")
                except OSError:
                    pass


def status_line(now: float, counts: dict[str, Any]) -> str:
    heap = counts.get("heap")
    parts = [f"leakwatch {now:6.1f}s", f"rss {format_size(counts.get('rss') or 0)}"]
    if heap is not None:
        parts.append(f"heap {format_size(heap)} (tracing)")
    parts += [f"{key} {counts.get(key)}" for key in ("fds", "threads", "tasks", "children")]
    return " | ".join(parts)
