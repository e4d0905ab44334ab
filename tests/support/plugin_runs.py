"""Helpers for the pytest plugin's end-to-end tests: run pytest in a subprocess, read outcomes.

Subprocess runs, because the outer run's descriptors and threads (and its
own leakwatch, if on) would otherwise be seen by the inner one.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

INI = """\
[pytest]
asyncio_default_fixture_loop_scope = function
"""

_SUMMARY = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)")


def prepare(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester with a quiet ini and no leakwatch settings from the outer environment."""
    for name in list(os.environ):
        if name.startswith("LEAKWATCH"):
            monkeypatch.delenv(name)
    pytester.makefile(".ini", pytest=INI)
    return pytester


def write(pytester: pytest.Pytester, name: str, source: str) -> Path:
    path = pytester.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


#: Plugins an inner run loads only when its files or arguments name them (the
#: word given): importing them (hypothesis above all, through pytest-trio too)
#: was most of an inner pytest's start-up, ~0.9 s of CPU of ~1.1 each run.
#: anyio's always loads, as it does wherever anyio is installed (starlette and
#: httpx need it): on 3.10 a TestClient's task left on its portal loop went
#: unseen when anyio was first imported by the test rather than at start-up.
_ON_DEMAND = {
    "trio": ("trio",),
    "hypothesispytest": ("hypothesis",),
    "xdist": ("xdist", "-n"),
    "xdist.looponfail": ("xdist", "-n"),
}


def _unused_plugins(pytester: pytest.Pytester, args: tuple[str, ...]) -> list[str]:
    words = set(args)
    for path in pytester.path.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".ini", ".toml", ".cfg"):
            words.update(re.findall(r"\w+", path.read_text(encoding="utf-8", errors="replace")))
    off = []
    for name, needs in _ON_DEMAND.items():
        if not any(need in words for need in needs):
            off += ["-p", f"no:{name}"]
    return off


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    off = _unused_plugins(pytester, args)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *off, "-rA", *args, timeout=120)


def outcomes(result: pytest.RunResult) -> dict[str, set[str]]:
    """Per test name (the part after the last ``::``): its outcomes in the short summary."""
    found: dict[str, set[str]] = {}
    for line in result.outlines:
        match = _SUMMARY.match(line)
        if match:
            name = match.group(2).rsplit("::", 1)[-1]
            found.setdefault(name, set()).add(match.group(1))
    return found


def line_of(path: Path, marker: str) -> int:
    """The line number of the (only) line holding ``marker``."""
    lines = [i for i, text in enumerate(path.read_text().splitlines(), 1) if marker in text]
    assert len(lines) == 1, (marker, lines)
    return lines[0]


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
