"""Baseline files: live with the leaks a suite already has, fail on new ones.

A baseline maps a scope (a pytest node id, or ``"program"`` for ``leakwatch
run``) to the signatures of the leaks accepted there.  A signature
(:attr:`Leak.signature`) is the kind, the kind's group and the innermost frames
of the origin as ``file:function``, with no line numbers, so an edit above a
leak does not make it new.  File names in it are relative to the current
directory: load and write a baseline from the same directory (the rootdir).

The file is JSON, sorted, one entry per signature, so it diffs well in git::

    {
      "entries": {
        "tests/test_api.py::test_upload": [
          {"kind": "fd", "signature": "fd|socket|app/client.py:connect", "title": "socket ..."}
        ]
      },
      "schema": "leakwatch.baseline/1"
    }

Use::

    baseline = load_baseline("leakwatch-baseline.json")
    new, known = baseline.split(nodeid, report.leaks)   # known ones: details["baseline"] = True
    write_baseline("leakwatch-baseline.json", {nodeid: report.leaks})

:func:`write_baseline` replaces the file whole or not at all, and keeps the
titles already in the file for signatures it still lists, so a rewrite after a
run shows only real changes (titles carry fd numbers and ports that vary).

Must not decide what fails: the policy applies the baseline.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leakwatch._base.files import display, json_text, read_json, write_whole
from leakwatch._base.model import Leak
from leakwatch._report.errors import ConfigError

__all__ = ["PROGRAM_SCOPE", "SCHEMA", "Baseline", "load_baseline", "write_baseline"]

SCHEMA = "leakwatch.baseline/1"
#: The scope ``leakwatch run`` records a whole program's leaks under.
PROGRAM_SCOPE = "program"


@dataclass(frozen=True)
class Baseline:
    """Accepted leak signatures per scope."""

    entries: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: The file it was read from, if any.
    path: str | None = field(default=None, compare=False)

    @classmethod
    def from_leaks(cls, by_scope: Mapping[str, Sequence[Leak]]) -> Baseline:
        return cls(
            {
                scope: frozenset(leak.signature for leak in leaks)
                for scope, leaks in by_scope.items()
            }
        )

    def signatures(self, scope: str) -> frozenset[str]:
        return self.entries.get(scope, frozenset())

    def split(self, scope: str, leaks: Sequence[Leak]) -> tuple[list[Leak], list[Leak]]:
        """(new, known): leaks not in the baseline for ``scope``, and copies of
        those that are, marked with ``details["baseline"] = True``."""
        accepted = self.signatures(scope)
        new: list[Leak] = []
        known: list[Leak] = []
        for leak in leaks:
            if leak.signature in accepted:
                known.append(dataclasses.replace(leak, details={**leak.details, "baseline": True}))
            else:
                new.append(leak)
        return new, known

    def __len__(self) -> int:
        return sum(len(signatures) for signatures in self.entries.values())


def load_baseline(path: str | os.PathLike[str], *, missing_ok: bool = False) -> Baseline:
    """Read a baseline file; any problem is a one-line :class:`ConfigError`.

    With ``missing_ok``, a file that does not exist is an empty baseline.
    """
    where = f"leakwatch: {display(path)}"
    data = read_json(
        path,
        schema=SCHEMA,
        noun="a baseline",
        error=ConfigError,
        missing=None if missing_ok else "baseline file not found",
        unreadable="cannot read baseline",
    )
    if data is None:
        return Baseline(path=os.fspath(path))
    entries = data.get("entries")
    if not isinstance(entries, dict):
        raise ConfigError(f"{where}: 'entries' must be an object of scope -> list")
    result: dict[str, frozenset[str]] = {}
    for scope, rows in entries.items():
        if not isinstance(rows, list):
            raise ConfigError(f"{where}: entries[{scope!r}] must be a list")
        signatures = set()
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or not isinstance(row.get("signature"), str):
                raise ConfigError(f"{where}: entries[{scope!r}][{i}] has no string 'signature'")
            signatures.add(row["signature"])
        result[scope] = frozenset(signatures)
    return Baseline(result, path=os.fspath(path))


def write_baseline(path: str | os.PathLike[str], by_scope: Mapping[str, Sequence[Leak]]) -> None:
    """Write the leaks of each scope as the new baseline, atomically.

    Scopes without leaks are left out.  The file is written to a temporary
    file in the same directory and moved over ``path`` only once complete.
    """
    path = os.fspath(path)
    titles = _previous_titles(path)
    entries: dict[str, list[dict[str, Any]]] = {}
    for scope in sorted(by_scope):
        rows: dict[str, dict[str, Any]] = {}
        for leak in by_scope[scope]:
            signature = leak.signature
            title = titles.get((scope, signature), leak.title)
            rows.setdefault(signature, {"signature": signature, "kind": leak.kind, "title": title})
        if rows:
            entries[scope] = [rows[signature] for signature in sorted(rows)]
    write_whole(path, json_text({"schema": SCHEMA, "entries": entries}, sort_keys=True))


def _previous_titles(path: str) -> dict[tuple[str, str], Any]:
    # Best effort: a missing or broken old file just means fresh titles.
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f).get("entries", {})
        return {
            (scope, row["signature"]): row["title"]
            for scope, rows in entries.items()
            for row in rows
            if isinstance(row.get("title"), str)
        }
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        return {}
