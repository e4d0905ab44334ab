"""What ``leakwatch run`` concludes from its samples: growth of each count,
of the heap and of native memory, judged by the rule in
:mod:`leakwatch._base.growth_rule`.

Must not sample anything itself: the sampler and the windows hand it series.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from leakwatch._base.growth_rule import keeps_growing
from leakwatch._base.model import Resource
from leakwatch._base.wording import format_size
from leakwatch._run.windows import GrowthSite

#: count series -> (leak kind, what is counted)
COUNTS: dict[str, tuple[str, str]] = {
    "fds": ("fd", "open descriptors"),
    "threads": ("thread", "threads"),
    "tasks": ("task", "pending asyncio tasks"),
    "children": ("process", "child processes"),
}


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
    for res in _growing_counts(series, kinds):
        (info if res.kind in leftover else leaks).append(res)
    evidence = _heap_evidence(series)
    if evidence is not None:
        heap_leaks, heap_info = _heap_growth(evidence, sites, when)
        leaks += heap_leaks
        info += heap_info
    return leaks, info


def _growing_counts(series: Mapping[str, Sequence[Any]], kinds: Collection[str]) -> list[Resource]:
    """Each count of a kind asked for that kept growing over the run, with no origin."""
    found = []
    for name, (kind, what) in COUNTS.items():
        trend = keeps_growing(series.get(name) or (), name, series.get("t"))
        if trend is None or kind not in kinds:
            continue
        ends = _ends(series.get(name) or (), lambda v: f"{v:g}")
        title = (
            f"{what} kept growing over the run: {ends} "
            f"(rising through each third of {trend.samples} samples), creation not seen"
        )
        details = {
            "series": name,
            "first": trend.first,
            "middle": trend.middle,
            "last": trend.last,
            "samples": trend.samples,
            "origin_note": "a count over time has no creation stack; leftovers at the end have one",
        }
        found.append(Resource(kind, ("growth", name), title, (), details, group="growth"))
    return found


def _heap_growth(
    evidence: str, sites: Sequence[GrowthSite], when: str
) -> tuple[list[Resource], list[Resource]]:
    """(leaks, information) of a heap that kept growing: the sites holding at
    least 5 % of the growth, or imports alone (one-time initialisation), or
    a leak whose creation no trace window saw."""
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
        return [], [Resource("heap", ("growth", "imports"), title, (), details, grown, "growth")]
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
        return [Resource("heap", ("growth",), title, (), details, group="growth")], []
    return [_site_leak(s, evidence, when) for s in culprits], []


def _site_leak(site: GrowthSite, evidence: str, when: str) -> Resource:
    where = f"{os.path.basename(site.filename)}:{site.lineno}"
    title = f"heap keeps growing: {format_size(site.growth)} kept at {where} {when} ({evidence})"
    details = {**site.to_dict(), "evidence": evidence}
    key = ("growth", site.filename, site.lineno)
    return Resource("heap", key, title, site.origin(), details, site.growth, "growth")


def _while_importing(site: GrowthSite) -> bool:
    """Allocated under an import: a frame of importlib's bootstrap on its stack."""
    return any(filename.startswith("<frozen importlib._bootstrap") for filename, _ in site.site)


def _heap_evidence(series: Mapping[str, Sequence[Any]]) -> str | None:
    rss = keeps_growing(series.get("rss") or (), "rss", series.get("t"))
    if rss is not None:
        return f"RSS {_ends(series['rss'], format_size)} over the run"
    blocks = keeps_growing(series.get("blocks") or (), "blocks", series.get("t"))
    if blocks is not None:
        return f"allocated blocks {_ends(series['blocks'], lambda v: f'{v:,.0f}')} over the run"
    return None


def _ends(values: Sequence[Any], fmt: Callable[[float], str]) -> str:
    """``first -> last`` sample: the figures the run's summary shows (the
    medians of the thirds that make it a trend are in the details)."""
    seen = [v for v in values if v is not None]
    return f"{fmt(seen[0])} -> {fmt(seen[-1])}"
