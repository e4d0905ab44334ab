"""One-time process-wide initialisation, told apart across a test session.

The first test to use a library often makes something the library keeps for
the whole process: a loop thread started on first use, one pipe to a helper
process, libuv's process-wide pipe on the first uvloop loop.  Later tests
doing the same make nothing, which CPython's ``regrtest -R`` learns by
running a test again.  A plugin that runs every test once learns it from the
tests that follow instead:

- a leftover that could be such a thing -- held by a module global through
  attributes alone (``details["singleton"]``, see ``_singletons``), or a
  descriptor no hook saw being made (C code) -- fails nobody the first time
  the session makes one of its signature: it is reported as information,
  with the note that a second one would fail;
- another of the same kind held by the same global (or, for what no hook
  saw made, of the same signature) made while the first is still alive is
  growth, and fails the test that made it, naming the test that made the
  first.

Everything else is judged as it is, at once.

Must not hold a user's object: it remembers signatures (plain strings).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import Any

from leakwatch._base import platform as _platform
from leakwatch._base.model import Leak
from leakwatch._report.report import Report


@dataclasses.dataclass(frozen=True)
class _First:
    nodeid: str
    details: Mapping[str, Any]
    kind: str


class FirstUse:
    """The session's memory of first uses, by leak signature (plain data only)."""

    def __init__(self) -> None:
        self.first: dict[str, _First] = {}

    def apply(self, report: Report) -> Report:
        kept: list[Leak] = []
        for leak in report.leaks:
            if not is_candidate(leak):
                kept.append(leak)
                continue
            key = _key(leak)
            earlier = self.first.get(key)
            if earlier is not None and _alive(earlier):
                note = f"another is still alive, made first by {earlier.nodeid}: growth"
                leak = _noted(leak, "first_made_by", note)
                kept.append(_noted(leak, "first_test", earlier.nodeid))
                continue
            self.first[key] = _First(report.label or "?", leak.details, leak.kind)
            report.info.append(_noted(_noted(leak, "benign", _why(leak)), "first_use", True))
        report.leaks = kept
        return report


def is_candidate(leak: Leak) -> bool:
    """Could this be made once for the whole process?"""
    if "singleton" in leak.details:
        return True
    return leak.kind == "fd" and not leak.origin


def _key(leak: Leak) -> str:
    """What makes two of them the same thing: the global holding it, else the signature
    (which, for what no hook saw made, is its kind and type alone)."""
    held = leak.details.get("singleton")
    return f"{leak.kind}|{held}" if held else leak.signature


def _why(leak: Leak) -> str:
    if "singleton" in leak.details:
        held = f"held by the module global {leak.details['singleton']} through attributes alone"
    else:
        held = "made by code leakwatch cannot see (C), with no Python creation stack"
    return (
        f"first use in this session: {held}, like a library's one-time initialisation; "
        "another made while this one is alive fails the test that makes it"
    )


def _alive(first: _First) -> bool:
    """Whether the first one seen is still there (a singleton replaced is a new first)."""
    details = first.details
    if first.kind == "fd":
        fd, target = details.get("fd"), details.get("target")
        if not isinstance(fd, int) or not isinstance(target, str):
            return True  # cannot tell: the safer side is to judge the second one
        return _platform.list_fds().get(fd) == target
    if first.kind == "thread":
        ident, native = details.get("ident"), details.get("native_id")
        return any(t.ident == ident and t.native_id == native for t in threading.enumerate())
    return True


def _noted(leak: Leak, key: str, note: object) -> Leak:
    return dataclasses.replace(leak, details={**leak.details, key: note})
