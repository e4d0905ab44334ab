"""The HTML report's charts: inline SVG of each sampled series, and what grew.

Drawn here so the page reads without JavaScript and without a network; long
series are decimated to :data:`~leakwatch._report.html_parts.MAX_POINTS`
points, keeping each bucket's extremes.  Pure functions of plain data; must
not write anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from leakwatch._report.html_leaks import _site
from leakwatch._report.html_parts import (
    _MIB,
    MAX_POINTS,
    MAX_ROWS,
    _card,
    _duration,
    _e,
    _mib,
    _more,
    _num,
    _plain,
    _size,
)

# (key, title, values are bytes, line colour), in display order.
_SERIES: tuple[tuple[str, str, bool, str], ...] = (
    ("rss", "RSS", True, "#0969da"),
    ("heap", "Heap (traced)", True, "#cf222e"),
    ("native", "Native (allocator in use)", True, "#9a3412"),
    ("fds", "File descriptors", False, "#1a7f37"),
    ("threads", "Threads", False, "#8250df"),
    ("tasks", "Asyncio tasks", False, "#0f766e"),
    ("children", "Child processes", False, "#bc4c00"),
)


def _charts(series: Any) -> str:
    if not isinstance(series, Mapping):
        return ""
    t = series.get("t") if isinstance(series.get("t"), list) else None
    known = {s[0] for s in _SERIES}
    plots = [(k, title, b, c) for k, title, b, c in _SERIES if isinstance(series.get(k), list)]
    # Series this renderer does not know yet still get a chart, as counts.
    plots += [
        (str(k), str(k), False, "#57606a")
        for k, v in series.items()
        if k != "t" and k not in known and isinstance(v, list)
    ]
    charts = "".join(_chart(title, t, series[k], b, c) for k, title, b, c in plots)
    if not charts:
        return ""
    return f'<section><h2>Over time</h2><div class="charts">{charts}</div></section>\n'


def _chart(title: str, t: list[Any] | None, values: list[Any], is_bytes: bool, colour: str) -> str:
    """One small line chart as inline SVG: title, min/max labels, gaps at nulls."""
    width, height, left, right, top, bottom = 360, 160, 58, 14, 34, 24
    xs = t if t is not None and len(t) == len(values) else list(range(len(values)))
    timed = xs is t
    pts = [(_num(x), _num(v)) for x, v in zip(xs, values, strict=True)]
    fmt = _mib if is_bytes else _plain
    xfmt = _duration if timed else (lambda x: f"#{x:.0f}")
    svg = f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}"'
    parts = [f'<text class="ct" x="12" y="20">{_e(title)}</text>']
    good = [(x, v) for x, v in pts if x is not None and v is not None]
    if not good:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no samples</text>'
        )
        return f"{svg}>{''.join(parts)}</svg>"
    # Every chart spans the whole run, so the charts line up in time.
    times = [x for x, _ in pts if x is not None]
    x0, x1 = min(times), max(times)
    lo, hi = min(p[1] for p in good), max(p[1] for p in good)
    pad = 0.0 if hi > lo else max(abs(hi) * 0.1, _MIB / 2 if is_bytes else 1.0)
    # A flat line is centred, but a count or a size never dips below zero.
    ylo, yhi = (lo - min(pad, lo) if lo >= 0 else lo - pad), hi + pad
    pw, ph = width - left - right, height - top - bottom
    base, end = top + ph, width - right

    def xy(x: float, v: float) -> tuple[float, float]:
        return left + (x - x0) / ((x1 - x0) or 1) * pw, top + (yhi - v) / (yhi - ylo) * ph

    segments: list[list[tuple[float, float]]] = [[]]
    for x, v in _decimate(pts):
        if x is None or v is None:
            segments.append([])
        else:
            segments[-1].append(xy(x, v))
    parts.append(
        f'<text class="sub" x="{end}" y="20" text-anchor="end">'
        f"last {fmt(good[-1][1])} · peak {fmt(hi)}</text>"
        f'<line class="grid" x1="{left}" y1="{top}" x2="{end}" y2="{top}"/>'
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{base}"/>'
        f'<line class="axis" x1="{left}" y1="{base}" x2="{end}" y2="{base}"/>'
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{fmt(yhi)}</text>'
        f'<text x="{left - 6}" y="{base}" text-anchor="end">{fmt(ylo)}</text>'
        f'<text x="{left}" y="{height - 6}">{xfmt(x0)}</text>'
        f'<text x="{end}" y="{height - 6}" text-anchor="end">{xfmt(x1)}</text>'
    )
    for seg in (s for s in segments if s):
        coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in seg)
        if len(seg) == 1:
            cx, cy = seg[0]
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.5" fill="{colour}"/>')
        else:
            area = f"{seg[0][0]:.1f},{base} {coords} {seg[-1][0]:.1f},{base}"
            parts.append(f'<polygon class="area" fill="{colour}" points="{area}"/>')
        parts.append(f'<polyline class="line" stroke="{colour}" points="{coords}"/>')
    # Hover targets, thinned like the line so the attribute stays small.
    hover = [(*xy(x, v), f"{fmt(v)} at {xfmt(x)}") for x, v in good]
    hover = hover[:: max(1, len(hover) // MAX_POINTS)]
    pts_attr = " ".join(f"{a:.1f},{b:.1f}" for a, b, _ in hover)
    labels = _e("|".join(label for _, _, label in hover))
    parts.append(
        f'<circle class="dot" r="3.5" fill="{colour}" cx="-10" cy="-10"/>'
        f'<text class="tip" x="{left + 8}" y="{top + 12}"></text>'
    )
    return f'{svg} data-pts="{pts_attr}" data-labels="{labels}">{"".join(parts)}</svg>'


def _decimate(
    pts: list[tuple[float | None, float | None]],
) -> list[tuple[float | None, float | None]]:
    """Keep each bucket's lowest and highest sample, so a spike survives."""
    if len(pts) <= MAX_POINTS:
        return pts
    step = math.ceil(len(pts) / (MAX_POINTS // 2))
    out: list[tuple[float | None, float | None]] = []
    for i in range(0, len(pts), step):
        bucket = pts[i : i + step]
        good = [p for p in bucket if p[0] is not None and p[1] is not None]
        if good:
            lo, hi = min(good, key=lambda p: p[1] or 0.0), max(good, key=lambda p: p[1] or 0.0)
            out.extend(sorted({lo, hi}, key=lambda p: p[0] or 0.0))
        if len(good) < len(bucket):  # a gap inside the bucket still breaks the line
            out.append((None, None))
    return out


def _growth(sites: Sequence[Any]) -> str:
    rows = []
    for site in (s for s in sites[:MAX_ROWS] if isinstance(s, Mapping)):
        where = _site(
            str(site.get("filename", "?")),
            site.get("lineno"),
            site.get("function", "?"),
            site.get("line"),
        )
        growth = _num(site.get("growth"))
        sizes = "".join(
            f'<td class="num">{_size(_num(site.get(k)))}</td>' for k in ("early_size", "late_size")
        )
        plus = "+" if growth and growth > 0 else ""
        rows.append(
            f'<tr><td>{where}</td>{sizes}<td class="num grow">{plus}{_size(growth)}</td></tr>'
        )
    if not rows:
        return ""
    head = '<th>Allocation site</th><th class="num">Early</th><th class="num">Late</th>'
    head += '<th class="num">Growth</th>'
    table = f'<table class="growth"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
    return _card("Growing allocation sites", f"{table}</table>{_more(len(sites), 'sites')}")
