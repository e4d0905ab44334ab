"""When does a count sampled over a run "keep growing"?  One written rule.

A series keeps growing when all of these hold:

1. it has at least :data:`MIN_SAMPLES` samples (gaps left out) and, when
   the times are given, spans :data:`MIN_SPAN` seconds at least: a program
   of a second is all start-up (imports, caches filling once);
2. split into thirds of the run's time (of the samples, when no times are
   given), each with two samples or more, the medians rise: first < middle
   < last, each step by a quarter of the margin at least;
3. the last third's median exceeds the first third's by the margin:
   ``max(absolute, relative * first)`` (see :data:`MARGINS`).

Thirds of time, not of samples: the sampler looks more often early in a
run (so a program of a few seconds is judged at all), and start-up must
weigh no more than any other third of the run.

Medians make one spike harmless; three medians rising step by step tell a
staircase or a ramp from a single step (a pool started once, a cache filled
once: the step lands in one third and two medians stay about equal); the margin
keeps a descriptor or two, or allocator noise, from failing a run.  A
program that closes everything in its last second still grew through the
run, and is reported: long-running programs rarely get that last second.

Pure numbers: must not know what was sampled or how (``leakwatch run``
and the native kind both ask it).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_SAMPLES = 6
MIN_SPAN = 2.0

#: series -> (absolute margin, relative margin against the first third's median)
MARGINS: dict[str, tuple[float, float]] = {
    "rss": (1024 * 1024, 0.05),
    "blocks": (5000, 0.05),
    "fds": (2, 0.10),
    "threads": (2, 0.10),
    "tasks": (2, 0.10),
    "children": (2, 0.10),
}


@dataclass(frozen=True)
class Trend:
    """The three medians of a series that keeps growing."""

    first: float
    middle: float
    last: float
    samples: int

    @property
    def rise(self) -> float:
        return self.last - self.first


def thirds(
    values: Sequence[float | None], times: Sequence[float | None] | None
) -> tuple[list[float], list[float], list[float]] | None:
    """A series cut into thirds of the run's time (of its samples, without
    ``times``), or None when it is too short or too brief to judge."""
    if times is not None and len(times) == len(values):
        pairs = [
            (t, float(v))
            for t, v in zip(times, values, strict=True)
            if v is not None and t is not None
        ]
        if len(pairs) < MIN_SAMPLES:
            return None
        start, end = pairs[0][0], pairs[-1][0]
        if end - start < MIN_SPAN:
            return None
        a, b = start + (end - start) / 3, start + 2 * (end - start) / 3
        parts = (
            [v for t, v in pairs if t < a],
            [v for t, v in pairs if a <= t < b],
            [v for t, v in pairs if t >= b],
        )
        return parts if all(len(part) >= 2 for part in parts) else None
    points = [float(v) for v in values if v is not None]
    n = len(points)
    if n < MIN_SAMPLES:
        return None
    third = n // 3
    return points[:third], points[third : n - third], points[n - third :]


def keeps_growing(
    values: Sequence[float | None], name: str, times: Sequence[float | None] | None = None
) -> Trend | None:
    """The series' trend if it keeps growing by the rule above, else None.

    ``times``: when each value was sampled (the ``t`` series), for thirds of
    the run's time.
    """
    parts = thirds(values, times)
    if parts is None:
        return None
    n = sum(len(part) for part in parts)
    first, middle, last = (statistics.median(part) for part in parts)
    absolute, relative = MARGINS.get(name, (1.0, 0.0))
    margin = max(absolute, relative * first)
    # Each step by a part of the margin: a step early on (start-up), then a
    # few KiB of creep, is one step, not a staircase.
    step = margin / 4
    if middle - first >= step and last - middle >= step and last - first >= margin:
        return Trend(first, middle, last, n)
    return None
