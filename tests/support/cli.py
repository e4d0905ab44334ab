"""Helpers for the ``leakwatch run`` tests: run the CLI in a subprocess, read its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXIT_LEAKS = 23
TIMEOUT = 120  # a hung run fails the test instead of hanging the suite


def env_for(tmp_path: Path, tmpdir: Path | None = None) -> dict[str, str]:
    """The outer environment without leakwatch settings; temp files under ``tmpdir``
    (default: ``tmp_path/tmp``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAKWATCH")}
    if tmpdir is None:
        tmpdir = tmp_path / "tmp"
        tmpdir.mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmpdir)
    return env


def leakwatch(
    *args: str | os.PathLike[str],
    cwd: Path,
    stdin: str | None = None,
    tmpdir: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m leakwatch ARGS`` in ``cwd``, waited for, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "leakwatch", *map(str, args)],
        cwd=cwd,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env_for(cwd, tmpdir),
        timeout=TIMEOUT,
    )


def script(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return path


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def marked_line(path: Path, marker: str = "# leaks:") -> int:
    """The number of the one line of ``path`` that carries ``marker``."""
    hits = [
        n
        for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if marker in text
    ]
    assert len(hits) == 1, f"{marker!r} found {len(hits)} times in {path}"
    return hits[0]


def origins(leak: dict[str, Any]) -> list[tuple[str, int]]:
    return [(f["filename"], f["lineno"]) for f in leak["origin"]]


def of_kind(data: dict[str, Any], kind: str, key: str = "leaks") -> list[dict[str, Any]]:
    return [leak for leak in data[key] if leak["kind"] == kind]
