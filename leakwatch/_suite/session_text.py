"""A saved session (``leakwatch.session/1``: the pytest plugin's or the unittest
runner's JSON) as text: each leaky test's failure text, then the summary.

Must not judge: it words what the file holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leakwatch._report.text import escape
from leakwatch._rules.config import Config
from leakwatch._suite.findings import Finding
from leakwatch._suite.results import Results
from leakwatch._suite.settings import RunSettings


def session_text(data: Mapping[str, Any], *, verbose: bool = False) -> str:
    """The text of a session; a malformed one raises ``ValueError`` (one line)."""
    tests = data.get("tests")
    if not isinstance(tests, list) or not all(isinstance(t, Mapping) for t in tests):
        raise ValueError("'tests' must be a list of objects")
    try:
        findings = [Finding.from_dict(t) for t in tests]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"a test entry is malformed: {exc!r}") from None
    results = Results(RunSettings(Config()), verbose=verbose)
    results.entries = [dict(t) for t in tests]
    results.matched = set()
    blocks = [f"{f.nodeid}\n{f.text(verbose=verbose)}" for f in findings if f.leaks]
    lines = results.summary_lines(verbose=verbose)
    return escape("\n\n".join([*blocks, "\n".join(lines)]))
