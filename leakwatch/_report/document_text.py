"""Any saved leakwatch document as text, and how a ``leakwatch run`` went.

:func:`format_document` renders what ``leakwatch report FILE`` shows: a
report's leaks (through :class:`~leakwatch._report.report.Report`) and, for
a run's report, :func:`run_summary_lines` (duration, exit status, counts
first to last, growing allocation sites); every other document through
:func:`~leakwatch._report.documents.text_lines`.  Pure functions of data
already checked by :mod:`leakwatch._report.schema`.  Must not read files.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from leakwatch._base.files import display
from leakwatch._base.wording import format_size, number
from leakwatch._report.documents import text_lines
from leakwatch._report.errors import OutputError
from leakwatch._report.report import SCHEMA, Report
from leakwatch._report.text import escape


def format_document(data: Mapping[str, Any], *, verbose: bool = False) -> str:
    """The document as a person reads it: a report's leaks, then how the run went;
    a session's leaks per test; a baseline's accepted leaks; a service's per route."""
    try:
        if data.get("schema", SCHEMA) != SCHEMA:
            return "\n".join(text_lines(data, verbose=verbose))
        report = Report.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise OutputError(f"leakwatch: malformed report: {exc}") from None
    return escape("\n".join([report.format(verbose=verbose), *run_summary_lines(data)]))


def run_summary_lines(data: Mapping[str, Any]) -> list[str]:
    """How the run went: duration, status, counts first to last, growing sites."""
    program = data.get("program")
    if not isinstance(program, Mapping):
        return []
    argv = [str(a) for a in program.get("argv") or ()]
    series = data.get("timeseries") if isinstance(data.get("timeseries"), Mapping) else {}
    assert isinstance(series, Mapping)
    samples = len(series.get("t") or ())
    lines = [
        "",
        f"leakwatch: python {shlex.join(argv)} ran {_num(program.get('duration')):.1f} s, "
        f"exit status {program.get('exit_status')}, {samples} samples",
    ]
    changes = []
    for key, fmt in (
        ("rss", _mib),
        ("fds", str),
        ("threads", str),
        ("tasks", str),
        ("children", str),
    ):
        values = [v for v in series.get(key) or () if v is not None]
        if values:
            changes.append(f"{key} {fmt(values[0])} -> {fmt(values[-1])}")
    if changes:
        lines.append("  over time: " + ", ".join(changes))
    stats = data.get("stats") if isinstance(data.get("stats"), Mapping) else {}
    assert isinstance(stats, Mapping)
    spans = stats.get("trace_windows") or []
    if spans:
        shown = ", ".join(f"{_num(a):.1f}-{_num(b):.1f} s" for a, b in spans[:6])
        lines.append(f"  heap traced ({stats.get('trace_mode', 'windows')}): {shown}")
    when = str(stats.get("growth_measured") or "in the late trace window")
    lines += _growth_lines(data.get("growth") or [], when)
    return lines


def _growth_lines(growth: Sequence[Any], when: str) -> list[str]:
    rows = [g for g in growth if isinstance(g, Mapping)][:5]
    if not rows:
        return []
    lines = [f"  growing allocation sites (what each kept {when}):"]
    for g in rows:
        where = f"{display(str(g.get('filename')))}:{g.get('lineno')} in {g.get('function')}"
        early = g.get("early_size")
        before = f" (early: {format_size(_num(early))})" if early is not None else ""
        lines.append(f"    {where}  +{format_size(_num(g.get('growth')))}{before}")
        if g.get("line"):
            lines.append(f"        {g['line']}")
    return lines


def _num(value: Any) -> float:
    return number(value) or 0.0


def _mib(value: Any) -> str:
    return format_size(_num(value))
