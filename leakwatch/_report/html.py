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
string goes through :func:`esc` and every number through
:func:`~leakwatch._base.wording.number`
(:mod:`~leakwatch._report.html_parts`).  This module lays out the page;
the charts and the leak table are drawn beside it.  Must not read files.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from typing import Any, TextIO

from leakwatch._base.wording import number
from leakwatch._report import html_docs
from leakwatch._report.documents import BASELINE_SCHEMA, REQUESTS_SCHEMA
from leakwatch._report.html_charts import _growth, charts
from leakwatch._report.html_docs import baseline_summary
from leakwatch._report.html_leaks import _sections, leak_summary, leak_table
from leakwatch._report.html_parts import MAX_ROWS, _duration, _kv, _list, _more, card, esc
from leakwatch._report.report import SESSION_SCHEMA


def _not_judged(data: Mapping[str, Any], default: str) -> str:
    """Why a run's leftovers were not judged (``stats["not_judged"]``), in words."""
    stats = data.get("stats")
    why = stats.get("not_judged") if isinstance(stats, Mapping) else None
    return str(why or default)


def render_html(data: Mapping[str, Any], out: TextIO) -> None:
    """Render any leakwatch JSON document as one HTML page.

    ``data`` has the ``Report.to_dict()`` shape, optionally with the run's
    extra keys (``program``, ``timeseries``, ``growth``), or the pytest
    session, baseline or requests shape (:mod:`leakwatch._report.documents`);
    missing keys are left out of the page.
    """
    schema = data.get("schema")
    session = schema == SESSION_SCHEMA or ("tests" in data and "leaks" not in data)
    other = session or schema in (BASELINE_SCHEMA, REQUESTS_SCHEMA)
    program: Mapping[str, Any] = data["program"] if isinstance(data.get("program"), Mapping) else {}
    argv = [str(a) for a in program.get("argv") or ()]
    heading = str(data.get("label") or (os.path.basename(argv[0]) if argv else "")) or (
        _HEADINGS.get(str(schema), "pytest session" if session else "Leak report")
    )
    if schema == BASELINE_SCHEMA:
        badge, tone = baseline_summary(data), "ok"
    elif other:
        badge, bad = html_docs.summary(data)
        tone = "bad" if bad else "ok"
    else:
        leaks = _list(data, "leaks")
        badge, tone = leak_summary(leaks), "bad" if leaks else "ok"
        if data.get("block_failed"):
            # Listed, not judged: no red verdict beside "not judged".
            left = badge.replace(" leak", " leftover") if leaks else "nothing left"
            badge = f"Not judged: {_not_judged(data, 'the code raised')} · {left}"
            tone = "unjudged"
    w = out.write
    w(f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{CSP}{HEAD}')
    w(f"<title>leakwatch: {esc(heading)}</title><style>{CSS}</style></head>\n")
    w(f'<body>{JS_GUARD}<main>\n<header class="top"><div class="brand">leakwatch report</div>')
    w(f"<h1>{esc(heading)}</h1>")
    if argv:
        w(f'<div class="cmd"><span>$</span> python {esc(shlex.join(argv))}</div>')
    w(_meta(program))
    w(f'<p class="summary {tone}">{esc(badge)}</p></header>\n')
    if data.get("block_failed"):
        why = _not_judged(data, "the watched code raised")
        why = why[:1].upper() + why[1:]
        w(f'<p class="banner">{esc(why)}: its leftovers are listed, not judged.</p>')
    if other:
        w(html_docs.body(data))
    else:
        title = "Leftovers (not judged)" if data.get("block_failed") else "Leaks"
        w(f"<section><h2>{title}</h2>{leak_table(_list(data, 'leaks'), open_first=True)}")
        w("</section>\n" + _sections(data))
    notes = _list(data, "notes")
    if notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in notes[:MAX_ROWS])
        w(card("Notes", f'<ul class="notes">{items}</ul>{_more(len(notes), "notes")}'))
    stats: Mapping[str, Any] = data["stats"] if isinstance(data.get("stats"), Mapping) else {}
    w(charts(data.get("timeseries")) + _growth(_list(data, "growth"), stats))
    if stats:
        w('<section><details class="card fold"><summary>Run statistics</summary>')
        w(f"{_kv(stats)}</details></section>\n")
    w(f"<footer>leakwatch · {esc(schema or '')}</footer></main>{JS}</body></html>\n")


_HEADINGS = {
    SESSION_SCHEMA: "pytest session",
    BASELINE_SCHEMA: "Baseline",
    REQUESTS_SCHEMA: "Requests",
}


def _meta(program: Mapping[str, Any]) -> str:
    status, duration = program.get("exit_status"), number(program.get("duration"))
    items = [
        ("Exit status", "—" if status is None else status, status not in (0, None), "exit_status"),
        ("Duration", _duration(duration or 0.0), False, "duration" if duration is not None else ""),
        ("Python", program.get("python"), False, "python" if program.get("python") else ""),
    ]
    cells = "".join(
        f"<div><dt>{k}</dt><dd{' class=bad' if bad else ''}>{esc(v)}</dd></div>"
        for k, v, bad, key in items
        if key in program
    )
    return f'<dl class="meta">{cells}</dl>' if cells else ""


# Besides escaping every string, the policy forbids any fetch: the page works
# offline, and an injected tag could not load anything.
CSP = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
)


HEAD = (
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<meta name="color-scheme" content="light">'
)


# First thing in <body>, so an error in any later script is recorded on the page.
JS_GUARD = (
    "<script>window.onerror = function (m) "
    '{ document.body.setAttribute("data-jserror", String(m)); };</script>'
)


# Hover values on charts; the last line tells a headless test the script ran.
JS = """<script>
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


CSS = """
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
h2 .phase { font-size: 12px; font-weight: 400; color: var(--muted); }
.fold .card { border: 0; border-radius: 0; border-top: 1px solid var(--line); }
.why { margin: 0; padding: 0 16px 10px; color: var(--muted); }
.why.top { padding: 10px 16px; border-bottom: 1px solid var(--line); }
.summary.unjudged, .tag.unjudged { background: #fff8c5; color: #7d4e00; border: 1px solid #d4a72c; }
.notes { margin: 0; padding: 10px 16px 10px 34px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 14px; }
.plot { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  overflow: hidden; }
.plot figcaption { font-size: 12px; color: var(--muted); padding: 0 12px 10px; }
.body .plot { max-width: 420px; margin: 4px 0; }
.chart { width: 100%; height: auto; display: block; }
.chart text { font: 11px var(--sans); fill: var(--muted); font-variant-numeric: tabular-nums; }
.chart .ct { font-size: 13px; font-weight: 600; fill: var(--fg); }
.chart .tip { fill: var(--fg); font-weight: 600; }
.chart .tick { stroke: #afb8c1; }
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
