"""The HTML report's bodies for documents that are not one report: a pytest
session (a section per test or fixture that leaked), a baseline (accepted
leaks per scope) and a service's requests (leaks per route).

Pure functions of plain data, every string escaped; :mod:`leakwatch._report.html`
puts them in the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leakwatch._base.wording import plural
from leakwatch._report.documents import BASELINE_SCHEMA, REQUESTS_SCHEMA, where
from leakwatch._report.html_leaks import _sections, leak_summary, leak_table
from leakwatch._report.html_parts import MAX_ROWS, _int, _kv, _list, _more, card, esc


def _maps(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return [x for x in _list(data, key) if isinstance(x, Mapping)]


def groups(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The document's parts that carry leaks: a session's tests, the service's routes."""
    return _maps(data, "routes" if data.get("schema") == REQUESTS_SCHEMA else "tests")


def summary(data: Mapping[str, Any]) -> tuple[str, bool]:
    """The page's badge for a session or requests document, and whether it is bad."""
    parts = groups(data)
    leaks = [x for g in parts for x in _list(g, "leaks")]
    text = leak_summary(leaks)
    leaky = [g for g in parts if _list(g, "leaks")]
    if data.get("schema") == REQUESTS_SCHEMA:
        text += f" in {len(leaky)} of {plural(len(parts), 'route')}"
    elif leaky:
        tests = len({g.get("nodeid") for g in leaky if g.get("fixture") is None})
        fixtures = len({g.get("fixture") for g in leaky if g.get("fixture") is not None})
        who = [plural(tests, "test")] if tests else []
        who += [plural(fixtures, "fixture")] if fixtures else []
        text += " in " + " and ".join(who)
    return text, bool(leaks)


def body(data: Mapping[str, Any]) -> str:
    """The page between its header and its footer."""
    if data.get("schema") == BASELINE_SCHEMA:
        return _baseline(data)
    requests = data.get("schema") == REQUESTS_SCHEMA
    parts = groups(data)
    # Those that leaked first: they are what a reader came for.
    ordered = sorted(parts, key=lambda g: not _list(g, "leaks"))
    out = []
    for i, group in enumerate(ordered[:MAX_ROWS]):
        got = _list(group, "leaks")
        if requests:
            name = f"{group.get('method', '?')} {group.get('route', '?')}"
            what = f"{_int(group.get('requests'), 0):,} requests"
        else:
            name, what = str(group.get("nodeid", "?")), where(group)
        tag = f'<span class="tag {"bad" if got else "ok"}">{esc(leak_summary(got))}</span>'
        out.append(
            f'<section class="test"><h2><code>{esc(name)}</code>'
            f'<span class="phase">{esc(what)}</span>{tag}</h2>'
        )
        # A clean one needs no empty table: its tag already says so.
        table = leak_table(got, open_first=i == 0) if got else ""
        out.append(f"{table}{_sections(group)}</section>\n")
    out.append(_more(len(parts), "routes" if requests else "tests"))
    if not parts:
        out.append(card("Leaks", '<p class="empty">No leaks found</p>'))
    repeated = _maps(data, "first_uses_repeated")
    if repeated:
        rows = "".join(
            f"<li><code>{esc(r.get('first'))}</code>, then <code>{esc(r.get('again'))}</code>: "
            f"{esc(r.get('title'))}</li>"
            for r in repeated[:MAX_ROWS]
        )
        out.append(card("First uses that happened again", f'<ul class="notes">{rows}</ul>'))
    stale = _list(data, "unmatched_ignore_rules")
    if stale:
        rows = "".join(f"<li>{esc(r)}</li>" for r in stale[:MAX_ROWS])
        out.append(card("Ignore rules that matched nothing", f'<ul class="notes">{rows}</ul>'))
    settings = data.get("settings")
    if isinstance(settings, Mapping) and settings:
        out.append('<section><details class="card fold"><summary>Settings</summary>')
        out.append(f"{_kv(settings)}</details></section>\n")
    return "".join(out)


def _baseline(data: Mapping[str, Any]) -> str:
    entries = data.get("entries") if isinstance(data.get("entries"), Mapping) else {}
    assert isinstance(entries, Mapping)
    out = [
        '<p class="banner">A baseline: the leaks listed here are accepted and do not fail '
        "a run or a test; new ones do.</p>"
    ]
    for scope, rows in list(entries.items())[:MAX_ROWS]:
        items = [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []
        lis = "".join(
            f'<li><span class="kind">{esc(r.get("kind", "?"))}</span> {esc(r.get("title") or "")}'
            f' <code class="dim">{esc(r.get("signature"))}</code></li>'
            for r in items[:MAX_ROWS]
        )
        out.append(card(f"<code>{esc(scope)}</code>", f'<ul class="notes">{lis}</ul>'))
    out.append(_more(len(entries), "scopes"))
    return "".join(out)


def baseline_summary(data: Mapping[str, Any]) -> str:
    entries = data.get("entries") if isinstance(data.get("entries"), Mapping) else {}
    assert isinstance(entries, Mapping)
    n = sum(len(v) for v in entries.values() if isinstance(v, list))
    return f"{n:,} accepted leak{'s' if n != 1 else ''} in {len(entries):,} scope" + (
        "s" if len(entries) != 1 else ""
    )
