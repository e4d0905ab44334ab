"""A test run's terminal summary, read from its session document.

The pytest plugin's terminal summary and the unittest runner's closing lines
are words over the same ``leakwatch.session/1`` document the JSON and HTML
session reports are made of (``Results.to_dict()`` in ``leakwatch._suite``)::

    3 leaks found in 2 tests:
      fd
        tests/test_api.py::test_upload (call) x1: socket ..., created at app/client.py:40
    1 known library leaks (not failing), in 1 test

A pure function of plain data; must not read or write files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leakwatch._base.model import KINDS, Leak
from leakwatch._base.wording import plural
from leakwatch._report.text import created_at

#: Entries per kind in the summary, unless verbose.
SHOWN = 10

_ASIDE = (
    ("baselined", "in the baseline (not failing)"),
    ("known", "known library leaks (not failing)"),
    ("ignored", "ignored by rules or allowed by a marker (not failing)"),
    ("first_use", "first uses, like a library's one-time initialisation (not failing)"),
)


def _tests(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [t for t in data.get("tests") or () if isinstance(t, Mapping)]


def _leaks(test: Mapping[str, Any], key: str) -> list[Leak]:
    return [Leak.from_dict(d) for d in test.get(key) or ()]


def session_summary_lines(
    data: Mapping[str, Any],
    *,
    verbose: bool = False,
    recorded: bool = False,
    stale_rules: Sequence[str] = (),
) -> list[str]:
    """The summary of a session document, one string per line.

    ``recorded``: the run recorded a baseline (its leaks are "recorded", not
    "found").  ``stale_rules``: the ignore rules that matched nothing, as the
    runner words them (with where each was read, which the document does
    not keep)."""
    tests = _tests(data)
    leaky = [t for t in tests if t.get("leaks")]
    lines: list[str] = []
    if leaky:
        n_tests = len({t["nodeid"] for t in leaky if t.get("fixture") is None})
        fixtures = len({t["nodeid"] for t in leaky if t.get("fixture") is not None})
        who = [plural(n_tests, "test")] if n_tests else []
        if fixtures:
            who.append(plural(fixtures, "fixture"))
        total = sum(leak.count for t in leaky for leak in _leaks(t, "leaks"))
        verb = "recorded" if recorded else "found"
        lines.append(f"{plural(total, 'leak')} {verb} in {' and '.join(who)}:")
        for kind, rows in _rows_by_kind(leaky).items():
            lines.append(f"  {kind}")
            for row in rows[: None if verbose else SHOWN]:
                lines.append(f"    {row}")
            if not verbose and len(rows) > SHOWN:
                lines.append(f"    ... {len(rows) - SHOWN} more (-v lists them all)")
    else:
        lines.append("no leaks found")
    for name, title in _ASIDE:
        aside = [(str(t["nodeid"]), _leaks(t, name)) for t in tests]
        n = sum(leak.count for _, leaks in aside for leak in leaks)
        if n:
            where = len({nodeid for nodeid, leaks in aside if leaks})
            lines.append(f"{n} {title}, in {plural(where, 'test')}")
            if name == "first_use":  # worth a look: each would fail if it happened again
                rows = [
                    f"  {nodeid}: {leak.title}{created_at(leak)}"
                    for nodeid, leaks in aside
                    for leak in leaks
                ]
                lines += rows[: None if verbose else SHOWN]
    repeated = [r for r in data.get("first_uses_repeated") or () if isinstance(r, Mapping)]
    if repeated:
        lines.append(
            "first uses that happened again while the first was alive (growth: "
            "the first test made one too):"
        )
        lines += [f"  {r['first']}, then {r['again']}: {r['title']}" for r in repeated]
    lines += _collected_lines(tests, verbose=verbose)
    if stale_rules:
        lines.append("ignore rules that matched nothing (stale?):")
        lines.extend(f"  {rule}" for rule in stale_rules)
    return lines


def _collected_lines(tests: Sequence[Mapping[str, Any]], *, verbose: bool) -> list[str]:
    """Objects leakwatch's gc passes finalised: their warnings belong to whoever left them."""
    rows = []
    for test in tests:
        for leak in _leaks(test, "collected"):
            made_here = leak.details.get("made_here")
            left_by = leak.details.get("left_by")
            if made_here:
                who = "made by this test"
            elif left_by:
                who = f"left by {left_by}"
            else:
                who = "left by earlier code"
            what = f"{leak.details.get('category', '?')}: {leak.details.get('message', leak.title)}"
            rows.append(f"{test['nodeid']}: {what} ({who}{created_at(leak)})")
    if not rows:
        return []
    lines = [
        f"{plural(len(rows), 'object')} closed only by the garbage "
        "collector in leakwatch's gc passes (not failing; their warnings were kept "
        "out of the running test):"
    ]
    lines += [f"  {row}" for row in rows[: None if verbose else SHOWN]]
    if not verbose and len(rows) > SHOWN:
        lines.append(f"  ... {len(rows) - SHOWN} more (-v lists them all)")
    return lines


def _rows_by_kind(leaky: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for test in leaky:
        what = (
            f"{test.get('scope')} fixture"
            if test.get("fixture") is not None
            else test.get("phase", "")
        )
        for leak in _leaks(test, "leaks"):
            text = f"{test['nodeid']} ({what}) x{leak.count}: {leak.title}{created_at(leak)}"
            rows.setdefault(leak.kind, []).append(text)
    order = {kind: i for i, kind in enumerate(KINDS)}
    return dict(sorted(rows.items(), key=lambda kv: order.get(kv[0], len(order))))
