"""What a run writes: the text summary, JSON and HTML files (whole or not at all).

Everything here is a function of the report data (``Report.to_dict()`` plus
``program``, ``timeseries`` and ``growth``), so ``leakwatch report FILE.json``
renders a saved run exactly as the run itself did.

Must not judge: it writes what the session concluded.
"""

from __future__ import annotations

import os
from typing import Any

from leakwatch._base.files import display, read_json
from leakwatch._report.documents import SCHEMAS
from leakwatch._report.errors import OutputError
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


def write_text(stream: Any, text: str) -> None:
    """Write ``text`` and a newline to ``stream``, whatever its encoding can show
    (the rest as ``\\u`` escapes), and flush."""
    try:
        stream.write(text + "\n")
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write((text + "\n").encode(encoding, "backslashreplace").decode(encoding))
    stream.flush()
