"""The Python line that called into native code, without memray.

A line tracer (``sys.settrace``, the calling thread only, during a few
attribution calls) reads the allocator's bytes in use at every line event
and charges the difference to the line that just ran, in whichever frame
ran it.  A line that grew the allocator on every attribution call, by more
than the floor, is where the growth came from: a ctypes ``malloc`` whose
result is kept, a C function that keeps a buffer.  Python objects larger
than 512 bytes come from the same allocator; one made and freed inside a
call charges one line and credits another, so only lines that gained on
every call count, and the judged growth itself came from the counters.

Must not judge growth alone: the counters decide whether it grew.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from leakwatch._attribution.stacks import RawStack
from leakwatch._base.paths import is_own
from leakwatch._native.counters import allocator_in_use

Key = tuple[str, int]  # (filename, lineno)


@dataclass
class Line:
    stack: RawStack  # innermost first, as leakwatch._attribution.stacks captures
    per_call: list[int] = field(default_factory=list)


class LineTracer:
    """``start()`` before a call, ``stop()`` after it; :meth:`lines` at the end."""

    def __init__(self) -> None:
        self.calls = 0
        #: What each call kept in all (the allocator's delta over the call).
        self.totals: list[int] = []
        self._begin = 0
        self._now: dict[Key, int] = {}
        self._seen: dict[Key, list[int]] = {}
        self._stacks: dict[Key, RawStack] = {}
        self._last: tuple[Key, FrameType] | None = None
        self._mark = 0
        self._old: Any = None

    def start(self) -> None:
        self._now = {}
        self._last = None
        self._old = sys.gettrace()
        self._mark = self._begin = allocator_in_use()
        sys.settrace(self._global)

    def stop(self) -> None:
        sys.settrace(self._old)
        self._old = None
        self._charge()
        self._last = None
        self.totals.append(self._mark - self._begin)
        for key, delta in self._now.items():
            self._seen.setdefault(key, [0] * self.calls).append(delta)
        for series in self._seen.values():
            if len(series) < self.calls + 1:
                series.append(0)
        self.calls += 1

    def lines(self, floor: int) -> list[Line]:
        """Lines that gained more than ``floor`` bytes on every call, largest first.

        A line cannot have kept more than its whole call did: one that gained
        more (a buffer another line freed) is left out.
        """
        out = []
        caps = [t + max(floor, t // 4) for t in self.totals]
        for key, series in self._seen.items():
            if len(series) != self.calls or not self.calls:
                continue
            if all(floor < d <= cap for d, cap in zip(series, caps, strict=True)):
                out.append(Line(self._stacks.get(key, ()), series))
        out.sort(key=lambda line: -sum(line.per_call))
        return out

    # -- the tracer ----------------------------------------------------------------

    def _global(self, frame: FrameType, event: str, arg: Any) -> Any:
        if is_own(frame.f_code.co_filename):
            return None
        self._charge()
        self._last = ((frame.f_code.co_filename, frame.f_lineno), frame)
        return self._local

    def _local(self, frame: FrameType, event: str, arg: Any) -> Any:
        self._charge()
        if event != "return":
            self._last = ((frame.f_code.co_filename, frame.f_lineno), frame)
        elif frame.f_back is not None and not is_own(frame.f_back.f_code.co_filename):
            # The caller's line is still running: what comes next is its.
            back = frame.f_back
            self._last = ((back.f_code.co_filename, back.f_lineno), back)
        else:
            self._last = None
        return self._local

    def _charge(self) -> None:
        now = allocator_in_use()
        delta, self._mark = now - self._mark, now
        last = self._last
        if last is None or not delta:
            return
        key, frame = last
        self._now[key] = self._now.get(key, 0) + delta
        if key not in self._stacks and delta > 0:
            self._stacks[key] = _stack(frame, key[1])


def _stack(frame: FrameType, lineno: int) -> RawStack:
    out = [(frame.f_code.co_filename, lineno, frame.f_code.co_name)]
    back = frame.f_back
    while back is not None and len(out) < 32:
        out.append((back.f_code.co_filename, back.f_lineno, back.f_code.co_name))
        back = back.f_back
    return tuple(out)
