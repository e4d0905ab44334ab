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
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leakwatch._base.model import Resource
from leakwatch._probes.heap import format_size
from leakwatch._run.windows import GrowthSite

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

#: count series -> (leak kind, what is counted)
COUNTS: dict[str, tuple[str, str]] = {
    "fds": ("fd", "open descriptors"),
    "threads": ("thread", "threads"),
    "tasks": ("task", "pending asyncio tasks"),
    "children": ("process", "child processes"),
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


def judge(
    series: Mapping[str, Sequence[Any]],
    sites: Sequence[GrowthSite],
    *,
    kinds: Collection[str],
    leftover: Collection[str],
    when: str = "in the late trace window",
) -> tuple[list[Resource], list[Resource]]:
    """(leaks, information) from the series of a whole run.

    A count that keeps growing is a leak of its kind, with no origin (a count
    has none); it is information only when leftovers of that kind were found
    at the end, which already say where each was created.  The heap keeps
    growing when RSS or allocated blocks do; each growing site that holds at
    least 5 % of the late window's growth is then a heap leak with its
    allocation stack, and with no such site the leak says creation was not seen.
    ``when`` says which span the sites' growth was measured over.
    """
    leaks: list[Resource] = []
    info: list[Resource] = []
    for name, (kind, what) in COUNTS.items():
        trend = keeps_growing(series.get(name) or (), name, series.get("t"))
        if trend is None or kind not in kinds:
            continue
        title = (
            f"{what} kept growing over the run: {trend.first:g} -> {trend.last:g} "
            f"(medians of the first and last thirds of {trend.samples} samples), creation not seen"
        )
        details = {
            "series": name,
            "first": trend.first,
            "middle": trend.middle,
            "last": trend.last,
            "samples": trend.samples,
            "origin_note": "a count over time has no creation stack; leftovers at the end have one",
        }
        res = Resource(kind, ("growth", name), title, (), details, group="growth")
        (info if kind in leftover else leaks).append(res)
    evidence = _heap_evidence(series)
    if evidence is None:
        return leaks, info
    # What modules allocate while being imported is one-time initialisation:
    # a short run that imports through its first second grows, and leaks nothing.
    imports = [s for s in sites if _while_importing(s)]
    sites = [s for s in sites if not _while_importing(s)]
    total = sum(s.growth for s in sites)
    culprits = [s for s in sites if s.growth >= max(4096, 0.05 * total)][:5]
    if not culprits and imports:
        grown = sum(s.growth for s in imports)
        title = (
            f"heap grew ({evidence}) while modules were being imported: "
            f"{format_size(grown)} kept by imports {when}, one-time initialisation"
        )
        details = {"evidence": evidence, "benign": "allocated while importing modules"}
        info.append(Resource("heap", ("growth", "imports"), title, (), details, grown, "growth"))
        return leaks, info
    for s in culprits:
        where = f"{os.path.basename(s.filename)}:{s.lineno}"
        title = f"heap keeps growing: {format_size(s.growth)} kept at {where} {when} ({evidence})"
        details = {**s.to_dict(), "evidence": evidence}
        leaks.append(
            Resource(
                "heap",
                ("growth", s.filename, s.lineno),
                title,
                s.origin(),
                details,
                s.growth,
                "growth",
            )
        )
    if not culprits:
        title = (
            f"heap keeps growing ({evidence}), creation not seen: "
            "no trace window caught a growing allocation site"
        )
        details = {
            "evidence": evidence,
            "origin_note": (
                "native memory, or growth outside the trace windows (--trace-window, --trace-all)"
            ),
        }
        leaks.append(Resource("heap", ("growth",), title, (), details, group="growth"))
    return leaks, info


def _while_importing(site: GrowthSite) -> bool:
    """Allocated under an import: a frame of importlib's bootstrap on its stack."""
    return any(filename.startswith("<frozen importlib._bootstrap") for filename, _ in site.site)


def _heap_evidence(series: Mapping[str, Sequence[Any]]) -> str | None:
    rss = keeps_growing(series.get("rss") or (), "rss", series.get("t"))
    if rss is not None:
        return f"RSS {format_size(rss.first)} -> {format_size(rss.last)} over the run"
    blocks = keeps_growing(series.get("blocks") or (), "blocks", series.get("t"))
    if blocks is not None:
        return f"allocated blocks {blocks.first:,.0f} -> {blocks.last:,.0f} over the run"
    return None
