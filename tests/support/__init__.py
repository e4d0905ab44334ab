"""Helpers shared by the engine tests: finding leaks in a report, marker lines."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from leakwatch import Leak, Report
from leakwatch._base.paths import is_user_file

_FD = re.compile(r"\(fd (\d+)")


def of_kind(report: Report | None, kind: str, where: Iterable[Leak] | None = None) -> list[Leak]:
    """The leaks of one kind (from ``report.leaks`` unless ``where`` is given)."""
    assert report is not None, "the watch set no report"
    return [leak for leak in (report.leaks if where is None else where) if leak.kind == kind]


def titles(leaks: Iterable[Leak]) -> list[str]:
    """Every title a group of leaks carries (a grouped leak keeps its members' titles)."""
    out = []
    for leak in leaks:
        out.extend(leak.details.get("items") or [leak.title])
    return out


def leaked_fds(report: Report | None) -> set[int]:
    """Descriptor numbers named by the report's fd leaks."""
    return {int(m) for t in titles(of_kind(report, "fd")) for m in _FD.findall(t)}


def total(leaks: Iterable[Leak]) -> int:
    return sum(leak.count for leak in leaks)


def marker_line(filename: str, marker: str) -> int:
    """The line number of the one line of ``filename`` that ends with ``marker``."""
    lines = Path(filename).read_text(encoding="utf-8").splitlines()
    hits = [n for n, text in enumerate(lines, 1) if text.rstrip().endswith(marker)]
    assert len(hits) == 1, f"marker {marker!r} found {len(hits)} times in {filename}"
    return hits[0]


def user_frames(leak: Leak) -> list[tuple[str, int]]:
    """(filename, lineno) of the origin's user frames, oldest first."""
    return [(f.filename, f.lineno) for f in leak.origin if is_user_file(f.filename)]


def created_at(leak: Leak) -> tuple[str, int]:
    """The innermost user frame of a leak's origin: where the user created it."""
    frames = user_frames(leak)
    assert frames, f"no user frame in the origin of {leak.title!r}: {leak.origin}"
    return frames[-1]
