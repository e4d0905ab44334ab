"""What a run writes: the text summary, JSON and HTML files (whole or not at all).

Everything here is a function of the report data (``Report.to_dict()`` plus
``program``, ``timeseries`` and ``growth``), so ``leakwatch report FILE.json``
renders a saved run exactly as the run itself did.

Must not judge: it writes what the session concluded.
"""

from __future__ import annotations

import io
import os
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from leakwatch._base.files import display, read_json
from leakwatch._base.wording import format_size, number
from leakwatch._report.documents import SCHEMAS, text_lines
from leakwatch._report.errors import OutputError
from leakwatch._report.report import SCHEMA, Report
from leakwatch._report.schema import problem
from leakwatch._report.text import escape


def check_writable(path: str, what: str) -> None:
    """Fail before the program runs when ``path`` could never be written."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    where = f"leakwatch: cannot write {what} {display(path)}"
    if os.path.isdir(path):
        raise OutputError(f"{where}: it is a directory")
    if not os.path.isdir(directory):
        raise OutputError(f"{where}: no directory {display(directory)}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"{where}: directory {display(directory)} is not writable")


def to_html(data: Mapping[str, Any]) -> str:
    from leakwatch._report.html import render_html  # only runs that ask for HTML pay its import

    out = io.StringIO()
    render_html(data, out)
    return out.getvalue()


def load_report(path: str) -> dict[str, Any]:
    """Read any JSON leakwatch writes (``leakwatch._report.documents``), checked whole
    (``leakwatch._report.schema``); any problem is a one-line :class:`OutputError`."""
    data = read_json(
        path, schema=SCHEMAS, noun="a leakwatch report", error=OutputError, missing="no such file"
    )
    assert data is not None  # a missing file raised
    bad = problem(data)
    if bad is not None:
        raise OutputError(
            f"leakwatch: {display(path)}: not a valid leakwatch report: {escape(bad)}"
        )
    return data


def format_text(data: Mapping[str, Any], *, verbose: bool = False) -> str:
    """The document as a person reads it: a report's leaks, then how the run went;
    a session's leaks per test; a baseline's accepted leaks; a service's per route."""
    try:
        if data.get("schema", SCHEMA) != SCHEMA:
            return "\n".join(text_lines(data, verbose=verbose))
        report = Report.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise OutputError(f"leakwatch: malformed report: {exc}") from None
    return escape("\n".join([report.format(verbose=verbose), *summary_lines(data)]))


def summary_lines(data: Mapping[str, Any]) -> list[str]:
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


def write_text(stream: Any, text: str) -> None:
    """Write ``text`` and a newline to ``stream``, whatever its encoding can show
    (the rest as ``\\u`` escapes), and flush."""
    try:
        stream.write(text + "\n")
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write((text + "\n").encode(encoding, "backslashreplace").decode(encoding))
    stream.flush()


def _num(value: Any) -> float:
    return number(value) or 0.0


def _mib(value: Any) -> str:
    return format_size(_num(value))
