"""The debug pages as HTML, in the look of ``leakwatch run``'s report.

The report's own parts draw them: its style, its charts (inline SVG, no
network) and its folded leak table, here listing live resources with where
each was made and, for threads and tasks, where each is now.  Every string
is escaped by those parts.  Pure functions of the pages' plain data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from leakwatch._report.html import CSP, CSS, HEAD, JS, JS_GUARD
from leakwatch._report.html_charts import charts
from leakwatch._report.html_leaks import leak_summary, leak_table
from leakwatch._report.html_parts import card, esc

_EXTRA_CSS = """
nav.pages { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 12px 0 0; font-size: 13px; }
nav.pages a { color: #0969da; text-decoration: none; }
nav.pages a.on { font-weight: 700; color: var(--fg); }
table.counts { border-collapse: collapse; width: 100%; }
.counts td, .counts th { padding: 8px 16px; border-bottom: 1px solid var(--line);
  text-align: left; }
.counts th { font-size: 11px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
  background: var(--bg); }
.counts .num { text-align: right; }
"""


class Links:
    """Relative links between the pages, carrying ``?token=`` when it came that way."""

    def __init__(self, token: str | None) -> None:
        self.suffix = f"?token={quote(token, safe='')}" if token else ""

    def __call__(self, page: str, query: str = "") -> str:
        if not self.suffix:
            return page + (f"?{query}" if query else "")
        return page + self.suffix + (f"&{query}" if query else "")


def page(
    title: str,
    here: str,
    kinds: Sequence[str],
    links: Links,
    body: str,
    summary: str = "",
    bad: bool = False,
) -> str:
    from leakwatch._service.pages import page_name

    names = [("", "overview")] + [(page_name(k), page_name(k)) for k in kinds]
    names += [
        ("heap", "heap"),
        ("requests", "requests"),
        ("snapshot.json", "snapshot.json"),
        ("metrics", "metrics"),
    ]
    nav = "".join(
        f'<a href="{esc(links(href or "./"))}"{" class=on" if href == here else ""}>{esc(name)}</a>'
        for href, name in names
    )
    head = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{CSP}{HEAD}'
        f"<title>leakwatch: {esc(title)}</title><style>{CSS}{_EXTRA_CSS}</style></head>\n"
        f'<body>{JS_GUARD}<main>\n<header class="top"><div class="brand">leakwatch · '
        f"process {os.getpid()}</div><h1>{esc(title)}</h1><nav class=pages>{nav}</nav>"
    )
    if summary:
        head += f'<p class="summary {"bad" if bad else "ok"}">{esc(summary)}</p>'
    return (
        f"{head}</header>\n{body}<footer>leakwatch · read-only debug pages</footer></main>"
        f"{JS}</body></html>\n"
    )


def overview(
    counts: Mapping[str, int],
    series: Mapping[str, Any],
    requests: Mapping[str, Any],
    kinds: Sequence[str],
    links: Links,
) -> str:
    from leakwatch._service.pages import page_name

    rows = "".join(
        f'<tr><td><a href="{esc(links(page_name(k)))}">{esc(k)}</a></td>'
        f'<td class="num">{counts.get(k, 0):,}</td></tr>'
        for k in kinds
    )
    table = (
        f'<table class="counts"><tr><th>Kind</th><th class="num">Live now</th></tr>{rows}</table>'
    )
    leaky = [r for r in requests.get("routes", []) if r.get("leaks")]
    judged = requests.get("judged", 0)
    said = leak_summary([x for r in leaky for x in r["leaks"]])
    req = (
        f'<p class="why" style="padding-top:10px">{judged:,} sampled requests judged; '
        f'{len(leaky)} route(s) left resources alive. <a href="{esc(links("requests"))}">'
        "Leaks per request</a></p>"
    )
    body = card("Live resources", table) + charts(series) + card("Requests", req)
    return page("Overview", "", kinds, links, body, f"Sampled requests: {said}", bool(leaky))


def resources(
    kind: str, title: str, doc: Mapping[str, Any], kinds: Sequence[str], links: Links
) -> str:
    from leakwatch._service.pages import page_name

    items = doc.get("resources") or []
    table = (
        leak_table(items, open_first=False)
        if items
        else f'<div class="card"><p class="empty">No {esc(title.lower())} alive</p></div>'
    )
    notes = "".join(f"<li>{esc(n)}</li>" for n in doc.get("notes") or [])
    body = f"<section>{table}</section>" + (
        card("Notes", f'<ul class="notes">{notes}</ul>') if notes else ""
    )
    return page(title, page_name(kind), kinds, links, body, f"{len(items):,} alive now")


def requests(doc: Mapping[str, Any], kinds: Sequence[str], links: Links) -> str:
    parts = []
    for route in doc.get("routes") or []:
        head = f"{route.get('method', '')} {route.get('route', '')}"
        tag = f"{route.get('leaky_requests', 0):,} of {route.get('requests', 0):,} requests leaked"
        parts.append(
            f'<section><h2><code>{esc(head)}</code><span class="tag bad">{esc(tag)}</span></h2>'
            f"{leak_table(route.get('leaks') or [], open_first=True)}</section>"
        )
    clean = doc.get("clean") or []
    if clean:
        rows = "".join(
            f"<tr><td><code>{esc(c.get('method', ''))} {esc(c.get('route', ''))}</code></td>"
            f'<td class="num">{c.get("requests", 0):,}</td></tr>'
            for c in clean
        )
        parts.append(
            card(
                "Clean routes",
                f'<table class="counts"><tr><th>Route</th>'
                f'<th class="num">Requests judged</th></tr>{rows}</table>',
            )
        )
    if not parts:
        parts.append(card("Requests", '<p class="empty">No sampled request judged yet</p>'))
    leaks = [x for r in doc.get("routes") or [] for x in r.get("leaks") or []]
    return page(
        "Leaks per request",
        "requests",
        kinds,
        links,
        "".join(parts),
        leak_summary(leaks),
        bool(leaks),
    )


def heap(doc: Mapping[str, Any], kinds: Sequence[str], links: Links) -> str:
    sites = doc.get("sites") or []
    table = leak_table(sites) if sites else '<div class="card"><p class="empty">No growth</p></div>'
    note = f'<p class="why">{esc(doc["note"])}</p>' if doc.get("note") else ""
    body = f"<section>{table}{note}</section>"
    base = doc.get("base")
    if base is not None and not sites and not doc.get("seconds"):
        title = f"Heap mark {base} kept: tracing until heap?drop"
    elif base is not None:
        title = f"Heap growth since mark {base} ({doc.get('seconds')} s)"
    elif "tracing" in doc:
        title = "Heap tracing stopped"
    else:
        title = f"Heap growth over {doc.get('seconds')} s"
    return page(
        title,
        "heap",
        kinds,
        links,
        body,
        f"{len(sites)} allocation sites grew",
    )


def diff(doc: Mapping[str, Any], kinds: Sequence[str], links: Links) -> str:
    new = doc.get("new") or []
    table = leak_table(new) if new else '<div class="card"><p class="empty">Nothing new</p></div>'
    return page(
        f"New since snapshot {doc.get('base')}",
        "diff",
        kinds,
        links,
        f"<section>{table}</section>",
        leak_summary(new).replace("leak", "new resource"),
        bool(new),
    )
