"""Every JSON document leakwatch writes, told apart by its ``schema``, and its verdict.

==========================  =============================================
schema                      written by
==========================  =============================================
``leakwatch.report/1``      ``Report.to_dict()``, ``leakwatch run --json``
                            (with ``program``, ``timeseries``, ``growth``)
``leakwatch.session/1``     ``pytest --leakwatch-json``: per test (or
                            fixture) its leaks and what was set aside
``leakwatch.baseline/1``    ``--update-baseline``: accepted leak
                            signatures per scope
``leakwatch.requests/1``    the service's ``requests.json``: leaks per route
==========================  =============================================

:func:`leak_count` says what a document judged, for an exit status;
:func:`text_lines` renders the documents that are not a report as text (a
report renders through :class:`~leakwatch._report.report.Report`).  Pure
functions of data already checked by :mod:`leakwatch._report.schema`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leakwatch._base.model import Leak
from leakwatch._base.wording import plural
from leakwatch._report.report import SCHEMA, SESSION_SCHEMA
from leakwatch._report.text import escape, format_leak

BASELINE_SCHEMA = "leakwatch.baseline/1"
REQUESTS_SCHEMA = "leakwatch.requests/1"
#: Every schema ``leakwatch report`` reads, in the order its error message names them.
SCHEMAS = (SCHEMA, SESSION_SCHEMA, BASELINE_SCHEMA, REQUESTS_SCHEMA)


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _count(leaks: Sequence[Any]) -> int:
    """Leaks counted by their ``count`` (one where it is left out or null)."""
    counts = (x.get("count") for x in leaks if isinstance(x, Mapping))
    return sum(1 if c is None else max(int(c), 0) for c in counts)


def leak_count(data: Mapping[str, Any]) -> int | None:
    """How many leaks the document judged (what would fail), or None when it
    was not judged: a watch or run whose code raised or was interrupted.

    A baseline lists leaks already accepted: none of them fails.
    """
    schema = data.get("schema")
    if schema == SESSION_SCHEMA:
        return sum(_count(_list(test, "leaks")) for test in _list(data, "tests"))
    if schema == REQUESTS_SCHEMA:
        return sum(_count(_list(route, "leaks")) for route in _list(data, "routes"))
    if schema == BASELINE_SCHEMA:
        return 0
    if data.get("block_failed"):
        return None
    return _count(_list(data, "leaks"))


def _leak_lines(leaks: Sequence[Mapping[str, Any]], verbose: bool) -> list[str]:
    lines: list[str] = []
    for leak in leaks:
        lines.append("")
        lines.extend(format_leak(Leak.from_dict(leak), verbose=verbose))
    return lines


def where(test: Mapping[str, Any]) -> str:
    """Which part of a test made a finding: ``call``, ``session fixture 'db'``."""
    if test.get("fixture") is not None:
        return f"{test.get('scope') or ''} fixture {str(test['fixture'])!r}".lstrip()
    return str(test.get("phase") or "test")


def text_lines(data: Mapping[str, Any], *, verbose: bool = False) -> list[str]:
    """A session, baseline or requests document as text, one string per line."""
    schema = data.get("schema")
    if schema == BASELINE_SCHEMA:
        entries = data.get("entries") if isinstance(data.get("entries"), Mapping) else {}
        assert isinstance(entries, Mapping)
        total = sum(len(v) for v in entries.values() if isinstance(v, list))
        lines = [
            f"leakwatch baseline: {plural(total, 'accepted leak')} in "
            f"{plural(len(entries), 'scope')} (they do not fail)"
        ]
        for scope, rows in entries.items():
            lines += ["", f"  {scope}"]
            for row in rows if isinstance(rows, list) else ():
                if isinstance(row, Mapping):
                    lines.append(
                        f"    {row.get('kind', '?'):<9}{row.get('title') or row.get('signature')}"
                    )
                    lines.append(f"             signature {row.get('signature')}")
        return [escape(line) for line in lines]
    if schema == REQUESTS_SCHEMA:
        groups = [
            (
                f"{r.get('method', '?')} {r.get('route', '?')} "
                f"({plural(int(r.get('requests') or 0), 'request')})",
                r,
            )
            for r in _list(data, "routes")
        ]
        noun = "route"
    else:
        groups = [(f"{t.get('nodeid', '?')} ({where(t)})", t) for t in _list(data, "tests")]
        noun = "test"
    leaky = [(name, g) for name, g in groups if _list(g, "leaks")]
    total = sum(_count(_list(g, "leaks")) for _, g in leaky)
    head = "leakwatch: no leaks" if not total else f"leakwatch: {plural(total, 'leak')}"
    if noun == "route":
        lines = [f"{head} in {len(leaky)} of {plural(len(groups), noun)}"]
    else:
        tests = len({g.get("nodeid") for _, g in leaky if g.get("fixture") is None})
        fixtures = len({g.get("fixture") for _, g in leaky if g.get("fixture") is not None})
        who = [plural(tests, "test")] if tests or not fixtures else []
        who += [plural(fixtures, "fixture")] if fixtures else []
        lines = [f"{head} in {' and '.join(who)}" if total else head]
    for name, group in leaky:
        got = _list(group, "leaks")
        lines += ["", f"{name}: {plural(_count(got), 'leak')}"]
        lines += _leak_lines(got, verbose)
    aside = {}
    for key in ("baselined", "known", "ignored", "first_use", "collected"):
        n = sum(_count(_list(g, key)) for _, g in groups)
        if n:
            aside[key.replace("_", " ")] = n
    if aside:
        lines += ["", "  not failing: " + ", ".join(f"{n} {k}" for k, n in aside.items())]
    for rule in data.get("unmatched_ignore_rules") or ():
        lines.append(f"  note: ignore rule matched nothing: {rule}")
    return [escape(line) for line in lines]
