"""The HTML report: one self-contained page a person opens offline.

:func:`render_html` is a pure function of plain data (``Report.to_dict()``,
plus the ``program``, ``timeseries`` and ``growth`` keys ``leakwatch run``
adds, or the pytest ``leakwatch.session/1`` shape) and a text stream, so it
is tested against :class:`io.StringIO`::

    with open("report.html", "w", encoding="utf-8") as out:
        render_html(report.to_dict(), out)

Charts are inline SVG drawn here, so the page reads without JavaScript and
without a network; the small script it carries only adds hover values.  The
data may come from a saved JSON file, so nothing in it is trusted: every
string goes through :func:`_e` and every number through :func:`_num`.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import shlex
import sysconfig
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from leakwatch._base.frames import frames_to_dicts, read_library_frames
from leakwatch._base.model import KINDS
from leakwatch._report.report import SESSION_SCHEMA
from leakwatch._report.text import escape

#: Caps that keep the page of a pathological run small enough to open.
MAX_ROWS = 200
MAX_FRAMES = 40
MAX_ITEMS = 50
MAX_POINTS = 600
MAX_TEXT = 2000

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
_SECTIONS = (
    ("info", "Information only", "Seen, but not judged a leak under the chosen policy."),
    ("ignored", "Ignored", "Matched an ignore rule."),
    ("known", "Known library leaks", "Leaks of third-party code that leakwatch knows about."),
    ("baselined", "Baselined", "Listed in the baseline file: existing leaks that do not fail."),
)
_SPECIAL_DETAILS = (
    "held_by",
    "stack",
    "suspended_at",
    "items",
    "library_frames",
    "native_frames",
    "native_note",
)

# Reports are often read on another machine than the one that ran the
# program, so library frames are told by path shape as well as local prefixes.
_LIB_RE = re.compile(
    r"[\\/](?:site|dist)-packages[\\/]|[\\/]lib[\\/]python\d[\d.]*t?[\\/]|^<frozen ", re.I
)
_STDLIB = tuple(sorted({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}))
_MIB = 1024 * 1024


def render_html(data: Mapping[str, Any], out: TextIO) -> None:
    """Render a leakwatch report dict as one HTML page.

    ``data`` has the ``Report.to_dict()`` shape, optionally with the run's
    extra keys (``program``, ``timeseries``, ``growth``), or the pytest
    session shape; missing keys are left out of the page.
    """
    session = data.get("schema") == SESSION_SCHEMA or ("tests" in data and "leaks" not in data)
    tests = [t for t in _list(data, "tests") if isinstance(t, Mapping)]
    leaks = [x for t in tests for x in _list(t, "leaks")] if session else _list(data, "leaks")
    program: Mapping[str, Any] = data["program"] if isinstance(data.get("program"), Mapping) else {}
    argv = [str(a) for a in program.get("argv") or ()]
    heading = str(data.get("label") or (os.path.basename(argv[0]) if argv else "")) or (
        "pytest session" if session else "Leak report"
    )
    summary = _summary(leaks)
    if session:
        failing = sum(1 for t in tests if _list(t, "leaks"))
        summary += f" in {failing} of {len(tests)} test{'s' if len(tests) != 1 else ''}"
    w = out.write
    w(f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{_CSP}{_HEAD}')
    w(f"<title>leakwatch: {_e(heading)}</title><style>{_CSS}</style></head>\n")
    w(f'<body>{_JS_GUARD}<main>\n<header class="top"><div class="brand">leakwatch report</div>')
    w(f"<h1>{_e(heading)}</h1>")
    if argv:
        w(f'<div class="cmd"><span>$</span> python {_e(shlex.join(argv))}</div>')
    w(_meta(program))
    w(f'<p class="summary {"bad" if leaks else "ok"}">{_e(summary)}</p></header>\n')
    if data.get("block_failed"):
        w('<p class="banner">The watched code raised: its leftovers are listed, not judged.</p>')
    if session:
        for test in tests[:MAX_ROWS]:
            got = _list(test, "leaks")
            w(f'<section class="test"><h2><code>{_e(test.get("nodeid", "?"))}</code>')
            w(f'<span class="tag {"bad" if got else "ok"}">{_e(_summary(got))}</span></h2>')
            # A clean test needs no empty table: its tag already says so.
            table = _leak_table(got, open_first=True) if got else ""
            w(f"{table}{_sections(test)}</section>\n")
        w(_more(len(tests), "tests"))
    else:
        w(f"<section><h2>Leaks</h2>{_leak_table(leaks, open_first=True)}</section>\n")
        w(_sections(data))
    notes = _list(data, "notes")
    if notes:
        items = "".join(f"<li>{_e(n)}</li>" for n in notes[:MAX_ROWS])
        w(_card("Notes", f'<ul class="notes">{items}</ul>{_more(len(notes), "notes")}'))
    w(_charts(data.get("timeseries")) + _growth(_list(data, "growth")))
    if isinstance(data.get("stats"), Mapping) and data["stats"]:
        w('<section><details class="card fold"><summary>Run statistics</summary>')
        w(f"{_kv(data['stats'])}</details></section>\n")
    w(f"<footer>leakwatch · {_e(data.get('schema') or '')}</footer></main>{_JS}</body></html>\n")


def _meta(program: Mapping[str, Any]) -> str:
    status, duration = program.get("exit_status"), _num(program.get("duration"))
    items = [
        ("Exit status", "—" if status is None else status, status not in (0, None), "exit_status"),
        ("Duration", _duration(duration or 0.0), False, "duration" if duration is not None else ""),
        ("Python", program.get("python"), False, "python" if program.get("python") else ""),
    ]
    cells = "".join(
        f"<div><dt>{k}</dt><dd{' class=bad' if bad else ''}>{_e(v)}</dd></div>"
        for k, v, bad, key in items
        if key in program
    )
    return f'<dl class="meta">{cells}</dl>' if cells else ""


def _summary(leaks: Sequence[Any]) -> str:
    """Say "3 leaks: 2 fd, 1 thread", counting grouped leaks by their count."""
    per_kind: dict[str, int] = {}
    for leak in leaks:
        if isinstance(leak, Mapping):
            kind = str(leak.get("kind", "?"))
            per_kind[kind] = per_kind.get(kind, 0) + max(_int(leak.get("count"), 1), 0)
    total = sum(per_kind.values())
    if not total:
        return "No leaks found"
    order = sorted(per_kind, key=lambda k: (KINDS.index(k) if k in KINDS else len(KINDS), k))
    kinds = ", ".join(f"{per_kind[k]:,} {k}" for k in order)
    return f"{total:,} leak{'s' if total != 1 else ''}: {kinds}"


def _leak_table(leaks: Sequence[Any], open_first: bool = False) -> str:
    if not leaks:
        return '<div class="card"><p class="empty">No leaks found</p></div>'
    head = '<span>Kind</span><span>What</span><span class="num">Count</span>'
    head += '<span class="num">Size</span><span>Created at</span>'
    shown = [x for x in leaks[:MAX_ROWS] if isinstance(x, Mapping)]
    # The first leak opens by itself: its stack is what a reader came for.
    rows = "".join(_leak(x, open_first and i == 0) for i, x in enumerate(shown))
    more = _more(len(leaks), "leaks")
    return f'<div class="card leaks"><div class="lh">{head}</div>{rows}{more}</div>'


def _leak(leak: Mapping[str, Any], is_open: bool = False) -> str:
    kind = str(leak.get("kind", "?"))
    origin = _frames(leak.get("origin"))
    details: Mapping[str, Any] = leak["details"] if isinstance(leak.get("details"), Mapping) else {}
    where = '<span class="dim">not seen</span>'
    body = ['<p class="dim">Creation was not seen (it happened before leakwatch watched).</p>']
    if origin:
        top = next((f for f in reversed(origin) if not _is_lib(f[0])), origin[-1])
        short = f"{os.path.basename(top[0]) or top[0]}:{top[1]} in {top[2]}"
        where = f'<span title="{_e(top[0])}">{_e(short)}</span>'
        # The library calls below the user's line, as the rest of one traceback.
        below = _frames(frames_to_dicts(read_library_frames(details)))
        body = ["<h3>Created at</h3>" + _stack(origin + below)]
    if details.get("held_by"):
        body.append(f'<h3>Held by</h3><code class="chain">{_e(_text(details["held_by"]))}</code>')
    if details.get("native_frames") or details.get("native_note"):
        from leakwatch._report.native import html as native_html

        body.append(native_html(details, _e))
    for key, label in (("stack", "Current stack"), ("suspended_at", "Suspended at")):
        if details.get(key):
            body.append(f"<h3>{label}</h3>" + _stack(_frames(details[key])))
    items = details.get("items")
    if isinstance(items, list) and items:
        lis = "".join(f"<li>{_e(_text(i))}</li>" for i in items[:MAX_ITEMS])
        more = _more(len(items), "items", MAX_ITEMS)
        body.append(f'<h3>Items</h3><ul class="items">{lis}</ul>{more}')
    rest = {k: v for k, v in details.items() if k not in _SPECIAL_DETAILS}
    if rest:
        body.append("<h3>Details</h3>" + _kv(rest))
    cells = [
        f'<span><span class="kind k-{kind if kind in KINDS else "other"}">{_e(kind)}</span></span>',
        f'<span class="title">{_e(leak.get("title", ""))}</span>',
        f'<span class="num">{_int(leak.get("count"), 1):,}</span>',
        f'<span class="num">{_size(_num(leak.get("size")))}</span>',
        f'<span class="where">{where}</span>',
    ]
    return (
        f'<details class="leak"{" open" if is_open else ""}><summary>{"".join(cells)}</summary>'
        f'<div class="body">{"".join(body)}</div></details>'
    )


def _stack(frames: Sequence[tuple[str, str, str, str]]) -> str:
    """A traceback, oldest first; the innermost user frame is the one to read."""
    hidden = max(len(frames) - MAX_FRAMES, 0)
    shown = frames[hidden:]
    user = [i for i, f in enumerate(shown) if not _is_lib(f[0])]
    rows = [f'<li class="more">+{hidden} earlier frames</li>'] if hidden else []
    for i, (filename, lineno, function, line) in enumerate(shown):
        cls = "lib" if _is_lib(filename) else "user here" if i == user[-1] else "user"
        rows.append(f'<li class="{cls}">{_site(filename, lineno, function, line)}</li>')
    return f'<ol class="stack">{"".join(rows)}</ol>'


def _site(filename: str, lineno: Any, function: Any, line: Any) -> str:
    loc = f"{filename}:{lineno}" if lineno not in ("", None) else filename
    src = str(line or "").strip()
    code = f'<code class="src">{_e(src)}</code>' if src else ""
    return f'<span class="loc">{_e(loc)}</span> in <span class="fn">{_e(function)}</span>{code}'


def _sections(data: Mapping[str, Any]) -> str:
    parts = []
    for key, title, why in _SECTIONS:
        leaks = _list(data, key)
        if leaks:
            parts.append(
                f'<section class="extra" id="{key}"><details class="card fold"><summary>{title} '
                f'<span class="tag">{_e(_summary(leaks))}</span></summary><p class="why">{why}</p>'
                f"{_leak_table(leaks)}</details></section>"
            )
    return "\n".join(parts)


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


def _card(title: str, body: str) -> str:
    return f'<section><h2>{title}</h2><div class="card">{body}</div></section>\n'


def _kv(mapping: Mapping[Any, Any]) -> str:
    rows = list(mapping.items())
    cells = "".join(
        f"<dt>{_e(k)}</dt><dd><code>{_e(_text(v))}</code></dd>" for k, v in rows[:MAX_ROWS]
    )
    return f'<dl class="kv">{cells}</dl>{_more(len(rows), "entries")}'


def _frames(value: Any) -> list[tuple[str, str, str, str]]:
    """Frames as (filename, lineno, function, line) strings, whatever came in."""
    frames = []
    for f in value if isinstance(value, list) else ():
        if isinstance(f, Mapping):
            keys = (("filename", "?"), ("lineno", ""), ("function", "?"), ("line", ""))
            name, lineno, function, line = (str(f.get(k) or d) for k, d in keys)
            frames.append((name, lineno, function, line))
        else:
            frames.append((str(f), "", "?", ""))
    return frames


def _is_lib(filename: str) -> bool:
    return bool(_LIB_RE.search(filename)) or filename.startswith(_STDLIB)


def _more(total: int, what: str, cap: int = MAX_ROWS) -> str:
    return f'<p class="more">+{total - cap:,} more {what} not shown</p>' if total > cap else ""


def _text(value: Any) -> str:
    """A details value as text: strings as they are, the rest as JSON; capped."""
    text = value if isinstance(value, str) else json.dumps(value, default=repr, ensure_ascii=False)
    if len(text) <= MAX_TEXT:
        return text
    return f"{text[:MAX_TEXT]}… (+{len(text) - MAX_TEXT:,} characters)"


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any, default: int) -> int:
    number = _num(value)
    return default if number is None else int(number)


def _size(n: float | None) -> str:
    """Bytes for a person: 512 B, 1.5 KiB, 12.0 MiB."""
    if n is None:
        return "—"
    sign, n = ("-" if n < 0 else ""), abs(n)
    if n < 1024:
        return f"{sign}{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            break
    return f"{sign}{n:.1f} {unit}"


def _mib(n: float) -> str:
    return f"{n / _MIB:,.1f} MiB"


def _plain(n: float) -> str:
    return f"{round(n):,}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {sec:02d} s"


def _e(value: Any) -> str:
    # Control characters and undecodable bytes show as escapes, as in the text report.
    return html.escape(escape(str(value)), quote=True)


# Besides escaping every string, the policy forbids any fetch: the page works
# offline, and an injected tag could not load anything.
_CSP = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
)
_HEAD = (
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<meta name="color-scheme" content="light">'
)
# First thing in <body>, so an error in any later script is recorded on the page.
_JS_GUARD = (
    "<script>window.onerror = function (m) "
    '{ document.body.setAttribute("data-jserror", String(m)); };</script>'
)
# Hover values on charts; the last line tells a headless test the script ran.
_JS = """<script>
document.querySelectorAll("svg.chart[data-pts]").forEach(function (svg) {
  var pts = svg.getAttribute("data-pts").split(" ").map(function (p) {
    return p.split(",").map(Number);
  });
  var labels = svg.getAttribute("data-labels").split("|");
  var dot = svg.querySelector(".dot"), tip = svg.querySelector(".tip");
  if (!pts.length || !dot || !tip) return;
  svg.addEventListener("mousemove", function (ev) {
    var box = svg.getBoundingClientRect();
    var x = (ev.clientX - box.left) * svg.viewBox.baseVal.width / box.width, best = 0;
    for (var i = 1; i < pts.length; i++) {
      if (Math.abs(pts[i][0] - x) < Math.abs(pts[best][0] - x)) best = i;
    }
    dot.setAttribute("cx", pts[best][0]);
    dot.setAttribute("cy", pts[best][1]);
    tip.textContent = labels[best] || "";
  });
  svg.addEventListener("mouseleave", function () {
    dot.setAttribute("cx", -10);
    tip.textContent = "";
  });
});
document.body.dataset.ok = "1";
</script>"""
_CSS = """
:root {
  --fg: #1f2328; --muted: #656d76; --faint: #8c959f; --line: #d8dee4; --bg: #f6f8fa;
  --card: #fff; --red: #cf222e; --green: #1a7f37;
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.5 var(--sans); }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 40px; }
code { font-family: var(--mono); font-size: 12.5px; }
section { margin: 0 0 24px; }
section.extra { margin: 10px 0; }
section.extra + section:not(.extra) { margin-top: 24px; }
h1 { font-size: 22px; margin: 2px 0 10px; word-break: break-word; }
h2 { font-size: 16px; margin: 0 0 10px; display: flex; align-items: center; gap: 10px; }
h3 { font-size: 11px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
  margin: 14px 0 4px; }
.card, header.top { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  overflow: hidden; }
header.top { padding: 18px 24px 20px; margin-bottom: 22px; }
.brand { font-size: 11px; letter-spacing: .1em; text-transform: uppercase; color: var(--muted);
  font-weight: 700; }
.cmd { font-family: var(--mono); font-size: 13px; background: var(--bg); padding: 6px 10px;
  border: 1px solid var(--line); border-radius: 6px; word-break: break-all; }
.cmd span { color: var(--faint); user-select: none; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 36px; margin: 14px 0 0; }
.meta div { display: flex; flex-direction: column; }
.meta dt { font-size: 11px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
.meta dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
.bad { color: var(--red); }
.summary { display: inline-block; margin: 16px 0 0; padding: 5px 14px; border-radius: 999px;
  font-weight: 600; }
.tag { font-size: 12px; font-weight: 600; padding: 1px 10px; border-radius: 999px;
  background: #eaeef2; color: #424a53; }
.summary.bad, .tag.bad { background: #ffebe9; color: var(--red); border: 1px solid #ffcecb; }
.summary.ok, .tag.ok { background: #dafbe1; color: var(--green); border: 1px solid #aceebb; }
.banner { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 8px; padding: 10px 14px; }
.lh, .leak > summary { display: grid; gap: 14px; padding: 9px 16px; align-items: baseline;
  grid-template-columns: 86px minmax(0, 1fr) 60px 84px minmax(0, 280px); }
.lh { font-size: 11px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
  font-weight: 700; background: var(--bg); border-bottom: 1px solid var(--line); }
.leak { border-bottom: 1px solid var(--line); }
.leak:last-child { border-bottom: 0; }
.leak > summary { cursor: pointer; list-style: none; }
.leak > summary::-webkit-details-marker { display: none; }
.leak > summary:hover, .leak[open] > summary { background: #f6f8fa; }
.title { font-family: var(--mono); font-size: 13px; word-break: break-word; }
.title::before { content: "\\25B8"; color: var(--faint); display: inline-block; width: 14px; }
.leak[open] .title::before { content: "\\25BE"; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.where { font-family: var(--mono); font-size: 12px; color: var(--muted); overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; }
.dim { color: var(--faint); }
.kind { display: inline-block; font-size: 11px; font-weight: 700; padding: 1px 9px;
  border-radius: 999px; background: #eaeef2; color: #424a53; text-transform: uppercase; }
.k-fd { background: #ddf4ff; color: #0969da; } .k-thread { background: #fbefff; color: #8250df; }
.k-task { background: #d8f5f0; color: #0f766e; } .k-process { background: #fff1e5; color: #bc4c00; }
.k-tempfile { background: #fff8c5; color: #7d4e00; }
.k-heap { background: #ffebe9; color: #cf222e; }
.k-native { background: #fff1e5; color: #9a3412; }
.body { padding: 2px 16px 16px 116px; border-top: 1px dashed var(--line); }
.stack { list-style: none; margin: 4px 0; padding: 0; font-family: var(--mono); font-size: 12.5px;
  border-left: 3px solid var(--line); }
.stack li { padding: 3px 10px; }
.stack .lib, .stack .lib .fn, .stack .lib .src { color: var(--faint); }
.stack .user .loc { font-weight: 600; }
.stack .here { background: #fff8c5; border-left: 3px solid #d4a72c; margin-left: -3px; }
.loc { word-break: break-all; }
.fn { color: #8250df; }
.src { display: block; white-space: pre-wrap; padding-left: 20px; color: #24292f; }
.chain { display: block; background: var(--bg); border-radius: 6px; padding: 6px 10px;
  white-space: pre-wrap; word-break: break-word; }
.items { margin: 2px 0; padding-left: 20px; font-family: var(--mono); font-size: 12.5px; }
.kv { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 3px 18px;
  margin: 0; padding: 12px 16px; }
.body .kv { padding: 0; }
.kv dt { color: var(--muted); font-size: 13px; } .kv dd { margin: 0; }
.kv code { white-space: pre-wrap; word-break: break-word; }
.more { color: var(--muted); font-style: italic; margin: 0; padding: 8px 16px; }
.empty { margin: 0; padding: 16px; color: var(--green); font-weight: 600; }
.fold > summary { cursor: pointer; font-weight: 600; padding: 10px 16px; }
.fold .tag { margin-left: 8px; }
.fold .card { border: 0; border-radius: 0; border-top: 1px solid var(--line); }
.why { margin: 0; padding: 0 16px 10px; color: var(--muted); }
.notes { margin: 0; padding: 10px 16px 10px 34px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 14px; }
.chart { width: 100%; height: auto; display: block; background: var(--card);
  border: 1px solid var(--line); border-radius: 10px; }
.chart text { font: 11px var(--sans); fill: var(--muted); font-variant-numeric: tabular-nums; }
.chart .ct { font-size: 13px; font-weight: 600; fill: var(--fg); }
.chart .tip { fill: var(--fg); font-weight: 600; }
.chart .axis { stroke: #afb8c1; } .chart .grid { stroke: #eaeef2; stroke-dasharray: 3 3; }
.chart .line { fill: none; stroke-width: 1.8; stroke-linejoin: round; stroke-linecap: round; }
.chart .area { opacity: .08; }
table.growth { width: 100%; border-collapse: collapse; }
.growth th { font-size: 11px; text-transform: uppercase; letter-spacing: .06em; text-align: left;
  color: var(--muted); background: var(--bg); padding: 8px 16px;
  border-bottom: 1px solid var(--line); }
.growth th.num { text-align: right; }
.growth td { padding: 8px 16px; border-bottom: 1px solid var(--line); vertical-align: top;
  font-family: var(--mono); font-size: 12.5px; }
.growth tr:last-child td { border-bottom: 0; }
.growth .grow { color: var(--red); font-weight: 600; }
footer { color: var(--faint); font-size: 12px; text-align: center; margin-top: 32px; }
"""
