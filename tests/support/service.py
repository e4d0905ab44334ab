"""Real servers in subprocesses for the service tests, and small HTTP helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SUPPORT = Path(__file__).parent


def marker_line(script: str, marker: str) -> int:
    """The line number of ``# MARKER`` in a support script."""
    for n, line in enumerate((SUPPORT / script).read_text().splitlines(), 1):
        if line.rstrip().endswith(f"# {marker}"):
            return n
    raise AssertionError(f"{marker} not in {script}")


@contextmanager
def running(script: str, *args: str, **env: str) -> Iterator[str]:
    """Start ``tests/support/<script>``; yield its base URL; stop it and reap it."""
    proc = subprocess.Popen(
        [sys.executable, str(SUPPORT / script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            proc.kill()
            raise AssertionError(f"server did not start: {line!r} {proc.communicate()[1][-3000:]}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        try:
            proc.communicate(input="", timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode(), dict(exc.headers)


def get_json(url: str) -> Any:
    status, body, _ = get(url)
    assert status == 200, (status, body)
    return json.loads(body)


def judged(base: str, n: int, pages: str = "/debug/leakwatch", timeout: float = 20) -> Any:
    """requests.json once ``n`` requests were judged."""
    deadline = time.monotonic() + timeout
    while True:
        doc = get_json(f"{base}{pages}/requests.json")
        if doc["judged"] >= n or time.monotonic() > deadline:
            return doc
        time.sleep(0.1)


def by_route(doc: Any) -> dict[str, Any]:
    return {r["route"]: r for r in doc["routes"]}


def creating_lines(route: Any) -> dict[tuple[str, int], int]:
    """(kind, line of the creating frame in the support script) -> count."""
    out: dict[tuple[str, int], int] = {}
    for leak in route["leaks"]:
        frame = leak["origin"][-1]
        assert frame["filename"].startswith(str(SUPPORT)), leak
        key = (leak["kind"], frame["lineno"])
        out[key] = out.get(key, 0) + leak["count"]
    return out


def script_json(name: str) -> Any:
    """Run a support script in a process of its own (no watch on: recording
    is for sampled requests alone) and read the JSON it prints."""
    out = subprocess.run(
        [sys.executable, str(SUPPORT / name)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
