"""The HTML report's charts: inline SVG of each sampled series, and what grew.

Drawn here so the page reads without JavaScript and without a network; long
series are decimated to :data:`~leakwatch._report.html_parts.MAX_POINTS`
points, keeping each bucket's extremes.  Each chart is a figure: a title, its
last and peak values on their own line, labelled gridlines on both axes, and
a caption saying what the series measures.  Margins are measured from the
labels drawn, so no label leaves the SVG.  Pure functions of plain data;
must not write anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from leakwatch._base.wording import format_size, number
from leakwatch._report.html_parts import (
    MAX_POINTS,
    MAX_ROWS,
    _duration,
    _more,
    _plain,
    _site,
    _size,
    card,
    esc,
)

# (key, title, values are bytes, line colour, caption), in display order.
_SERIES: tuple[tuple[str, str, bool, str, str], ...] = (
    ("rss", "RSS", True, "#0969da", "Resident memory of the process, as the OS counts it."),
    (
        "heap",
        "Heap (traced)",
        True,
        "#cf222e",
        "Bytes Python allocated and still held, as tracemalloc saw them: only while "
        "a trace window was open (gaps are untraced time).",
    ),
    (
        "blocks",
        "Heap blocks (allocated)",
        False,
        "#6e40c9",
        "How many memory blocks Python's allocator has handed out and not freed "
        "(sys.getallocatedblocks()), sampled the whole run: it climbs when objects "
        "are kept alive, traced or not.",
    ),
    (
        "native",
        "Native (allocator in use)",
        True,
        "#9a3412",
        "Bytes the C allocator has in use, Python's own included; growth beyond "
        "the traced heap is memory C code keeps.",
    ),
    ("fds", "File descriptors", False, "#1a7f37", "Descriptors open in the process."),
    ("threads", "Threads", False, "#8250df", "Threads alive, the main thread included."),
    ("tasks", "Asyncio tasks", False, "#0f766e", "Tasks not done, on every event loop."),
    ("children", "Child processes", False, "#bc4c00", "Child processes not yet reaped."),
)

_TIME_STEPS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_WIDTH, _HEIGHT, _RIGHT, _TOP, _BOTTOM = 360, 184, 16, 50, 26
_CHAR = 6.4  # width of one 11 px digit or letter, a little over the real one


def charts(series: Any) -> str:
    if not isinstance(series, Mapping):
        return ""
    t = series.get("t") if isinstance(series.get("t"), list) else None
    known = {s[0] for s in _SERIES}
    plots = [s for s in _SERIES if isinstance(series.get(s[0]), list)]
    # Series this renderer does not know yet still get a chart, as counts.
    plots += [
        (str(k), str(k), False, "#57606a", "")
        for k, v in series.items()
        if k != "t" and k not in known and isinstance(v, list)
    ]
    charts = "".join(
        chart(title, t, series[k], is_bytes=b, colour=c, caption=cap)
        for k, title, b, c, cap in plots
    )
    if not charts:
        return ""
    return f'<section><h2>Over time</h2><div class="charts">{charts}</div></section>\n'


def chart(
    title: str,
    t: list[Any] | None,
    values: list[Any],
    *,
    is_bytes: bool,
    colour: str,
    caption: str = "",
    per_call: bool = False,
) -> str:
    """One small line chart as a figure of inline SVG: gaps at nulls.

    ``t``: the x values (seconds), else the samples are numbered; with
    ``per_call`` they are calls, numbered from 1.
    """
    xs = t if t is not None and len(t) == len(values) else list(range(1, len(values) + 1))
    timed = xs is t and not per_call
    pts = [(number(x), number(v)) for x, v in zip(xs, values, strict=True)]
    fmt: Callable[[float], str] = _size if is_bytes else _plain
    xfmt: Callable[[float], str] = _duration if timed else (lambda x: f"{x:.0f}")
    unit = "call" if per_call else "sample"
    name = (lambda x: f"{unit} {x:.0f}") if not timed else _duration
    good = [(x, v) for x, v in pts if x is not None and v is not None]
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    head = f'<text class="ct" x="12" y="20">{esc(title)}</text>'
    if not good:
        body = f'<text x="{_WIDTH / 2}" y="{_HEIGHT / 2}" text-anchor="middle">no samples</text>'
        svg = f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img"'
        return (
            f'<figure class="plot">{svg} aria-label="{esc(title)}">{head}{body}</svg>{cap}</figure>'
        )
    # Every chart spans the whole run, so the charts line up in time.
    times = [x for x, _ in pts if x is not None]
    x0, x1 = min(times), max(times)
    lo, hi = min(p[1] for p in good), max(p[1] for p in good)
    yticks = _ticks(lo, hi, integer=not is_bytes, base=1024 if is_bytes else 10)
    ylo, yhi = yticks[0], yticks[-1]
    ylabels = [fmt(v) for v in yticks]
    digits = 1
    while is_bytes and len(set(ylabels)) < len(ylabels) and digits < 4:
        digits += 1  # ticks closer than a tenth of their unit: one more digit
        ylabels = [format_size(v, digits) for v in yticks]
    left = max(40, round(max(len(s) for s in ylabels) * _CHAR) + 14)
    pw, ph = _WIDTH - left - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    base, end = _TOP + ph, _WIDTH - _RIGHT

    def xy(x: float, v: float) -> tuple[float, float]:
        return left + (x - x0) / ((x1 - x0) or 1) * pw, _TOP + (yhi - v) / ((yhi - ylo) or 1) * ph

    parts = [
        head,
        f'<text class="sub" x="12" y="37">last {fmt(good[-1][1])} · peak {fmt(hi)}</text>',
    ]
    for v, label in zip(yticks, ylabels, strict=True):
        y = xy(x0, v)[1]
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{end}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="yl" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>'
        )
    xticks = [
        tx for tx in _ticks(x0, x1, integer=not timed, count=5, timed=timed) if x0 <= tx <= x1
    ]
    xticks = xticks if x1 > x0 else [x0]

    # The first and last sample are labelled too, where they do not crowd a tick.
    def room(a: float, b: float) -> bool:
        gap = abs(xy(a, ylo)[0] - xy(b, ylo)[0])
        return gap >= (len(xfmt(a)) + len(xfmt(b))) * _CHAR / 2 + 8

    if xticks and x1 > xticks[-1] and room(x1, xticks[-1]):
        xticks.append(x1)
    if xticks and x0 < xticks[0] and room(x0, xticks[0]):
        xticks.insert(0, x0)
    for tx in xticks:
        px = xy(tx, ylo)[0]
        label = xfmt(tx)
        half = len(label) * _CHAR / 2
        at = min(max(px, half + 2), _WIDTH - half - 2)  # the label stays inside the SVG
        parts.append(
            f'<line class="tick" x1="{px:.1f}" y1="{base}" x2="{px:.1f}" y2="{base + 4}"/>'
        )
        parts.append(
            f'<text class="xl" x="{at:.1f}" y="{_HEIGHT - 7}" text-anchor="middle">{label}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{left}" y1="{_TOP}" x2="{left}" y2="{base}"/>'
        f'<line class="axis" x1="{left}" y1="{base}" x2="{end}" y2="{base}"/>'
    )
    segments: list[list[tuple[float, float]]] = [[]]
    for sx, sv in _decimate(pts):
        if sx is None or sv is None:
            segments.append([])
        else:
            segments[-1].append(xy(sx, sv))
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
    hover = [(*xy(x, v), f"{fmt(v)} at {name(x)}") for x, v in good]
    hover = hover[:: max(1, len(hover) // MAX_POINTS)]
    pts_attr = " ".join(f"{a:.1f},{b:.1f}" for a, b, _ in hover)
    labels = esc("|".join(label for _, _, label in hover))
    parts.append(
        f'<circle class="dot" r="3.5" fill="{colour}" cx="-10" cy="-10"/>'
        f'<text class="tip" x="{end}" y="37" text-anchor="end"></text>'
    )
    svg = (
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" aria-label="{esc(title)}"'
        f' data-pts="{pts_attr}" data-labels="{labels}">'
    )
    return f'<figure class="plot">{svg}{"".join(parts)}</svg>{cap}</figure>'


def _ticks(
    lo: float, hi: float, *, integer: bool, count: int = 3, base: int = 10, timed: bool = False
) -> list[float]:
    """Round values from ``lo`` (or below it) to ``hi`` (or above it), about ``count``
    of them: 1, 2 or 5 times a power of ten apart, whole numbers for counts.
    With ``base=1024`` (sizes) the power of ten is of the size's unit (KiB, MiB);
    ``timed`` steps past half a minute are whole minutes or hours."""
    if hi <= lo:
        pad = max(abs(hi) * 0.1, 1.0 if base == 10 else 1024.0)
        # A flat line is centred, but a count or a size never dips below zero.
        lo, hi = (max(lo - pad, 0.0) if lo >= 0 else lo - pad), hi + pad
    raw = (hi - lo) / max(count - 1, 1)
    top = max(abs(lo), abs(hi))  # ticks in the unit of the largest label: 1.0 MiB, not 1000 KiB
    unit = float(base ** max(math.floor(math.log(top, base)), 0)) if base != 10 else 1.0
    power = unit * 10 ** math.floor(math.log10(raw / unit))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(step, 1.0)
    if timed and raw > 30:  # whole minutes and hours, not "1 min 40 s"
        step = next((m for m in _TIME_STEPS if m >= raw), math.ceil(raw / 86400) * 86400)
    first = math.floor(lo / step) * step
    ticks = [first]
    while ticks[-1] < hi - 1e-9 * step:
        ticks.append(first + len(ticks) * step)
    return ticks


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


def _growth(sites: Sequence[Any], stats: Mapping[str, Any]) -> str:
    rows = []
    for site in (s for s in sites[:MAX_ROWS] if isinstance(s, Mapping)):
        where = _site(
            str(site.get("filename", "?")),
            site.get("lineno"),
            site.get("function", "?"),
            site.get("line"),
        )
        growth = number(site.get("growth"))
        sizes = "".join(
            f'<td class="num">{_size(number(site.get(k)))}</td>'
            for k in ("early_size", "late_size")
        )
        plus = "+" if growth and growth > 0 else ""
        rows.append(
            f'<tr><td>{where}</td>{sizes}<td class="num grow">{plus}{_size(growth)}</td></tr>'
        )
    if not rows:
        return ""
    early, late, grew, words = growth_words(stats)
    head = f'<th>Allocation site</th><th class="num">{early}</th><th class="num">{late}</th>'
    head += f'<th class="num">{grew}</th>'
    table = f'<table class="growth"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
    why = f'<p class="why top">{esc(words)}</p>'
    return card("Growing allocation sites", f"{why}{table}</table>{_more(len(sites), 'sites')}")


def growth_words(stats: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """Column heads for the growth table, and what each column held, in words."""
    spans = [
        s
        for s in stats.get("trace_windows") or ()
        if isinstance(s, list) and len(s) == 2 and all(number(v) is not None for v in s)
    ]
    when = [f"{_duration(number(a) or 0.0)} to {_duration(number(b) or 0.0)}" for a, b in spans]
    if str(stats.get("trace_mode") or "").startswith("all"):
        return (
            "Held early",
            "Held at the end",
            "Growth",
            "Traced the whole run. Held early: what each line's allocations still held "
            "after the first trace window; held at the end: what they hold when the "
            "program ended; growth: the difference.",
        )
    first = f" ({when[0]})" if when else ""
    last = f" ({when[-1]})" if when else ""
    return (
        "Early window",
        "Late window",
        "Growth (lower bound)",
        "Traced in windows, only while memory grew. Early window: what each line "
        f"allocated during the first trace window{first} and still held when it closed. "
        f"Late window: the same for the last trace window{last}. Growth: what the line "
        "added and kept during the late window, so the late figure again: the time "
        "between the windows was not traced, so growth is at least this much, and is "
        "not late minus early. A cache filled once shows early and not late; a leak "
        "shows in both.",
    )
