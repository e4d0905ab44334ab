"""Baseline files: round trip, stable output, atomic writes, one-line errors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from leakwatch._base.frames import Frame
from leakwatch._base.model import Leak
from leakwatch._report.errors import ConfigError
from leakwatch._rules.baseline import SCHEMA, Baseline, load_baseline, write_baseline

NODE = "tests/test_api.py::test_upload"


def leak(function: str, lineno: int = 40, *, kind: str = "fd", title: Any = None) -> Leak:
    origin = (
        Frame("/srv/app/tests/test_api.py", 12, "test_upload"),
        Frame("/srv/app/app/client.py", lineno, function, "s = socket.create_connection(addr)"),
    )
    return Leak(
        kind=kind,
        title=title if title is not None else f"socket via {function} (fd {lineno})",
        origin=origin,
        details={"group": "socket"},
    )


def test_round_trip_old_leak_is_known_new_leak_is_new(tmp_path: Path) -> None:
    path = tmp_path / "leakwatch-baseline.json"
    write_baseline(path, {NODE: [leak("connect")], "program": [leak("serve", kind="thread")]})

    baseline = load_baseline(path)
    assert len(baseline) == 2
    assert baseline.path == str(path)

    moved = leak("connect", lineno=55)  # an edit above it moved the line: still the old leak
    fresh = leak("reconnect")
    new, known = baseline.split(NODE, [moved, fresh])
    assert new == [fresh]
    assert [k.origin for k in known] == [moved.origin]
    assert known[0].details["baseline"] is True
    assert "baseline" not in moved.details

    # A baseline is per scope: the same leak in another test is new there.
    new, known = baseline.split("tests/test_api.py::test_other", [moved])
    assert (new, known) == ([moved], [])


def test_from_leaks_agrees_with_the_file(tmp_path: Path) -> None:
    by_scope = {NODE: [leak("connect"), leak("reconnect")]}
    write_baseline(tmp_path / "b.json", by_scope)
    assert load_baseline(tmp_path / "b.json") == Baseline.from_leaks(by_scope)


def test_output_is_sorted_deduplicated_and_stable(tmp_path: Path) -> None:
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    a, b, a_again = leak("b_func"), leak("a_func"), leak("b_func", lineno=99)
    write_baseline(first, {"z::test": [a, b, a_again], "a::test": [b], "empty::test": []})
    write_baseline(second, {"a::test": [b], "z::test": [b, a]})

    text = first.read_text(encoding="utf-8")
    assert text == second.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    data = json.loads(text)
    assert data["schema"] == SCHEMA
    assert list(data["entries"]) == ["a::test", "z::test"]  # empty scopes are left out
    rows = data["entries"]["z::test"]
    assert [r["signature"] for r in rows] == sorted(r["signature"] for r in rows)
    assert len(rows) == 2
    assert set(rows[0]) == {"signature", "kind", "title"}


def test_rewriting_keeps_the_titles_already_there(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    write_baseline(path, {NODE: [leak("connect", lineno=40)]})
    before = path.read_text(encoding="utf-8")
    write_baseline(path, {NODE: [leak("connect", lineno=41)]})  # title says "fd 41" now
    assert path.read_text(encoding="utf-8") == before


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_a_new_file_is_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    write_baseline(path, {NODE: [leak("connect")]})
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    write_baseline(path, {NODE: [leak("connect")]})
    before = path.read_bytes()
    unserializable = leak("zz_last", title=object())  # sorted last: fails mid-file
    with pytest.raises(TypeError):
        write_baseline(path, {NODE: [leak("connect"), unserializable]})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["b.json"]  # no temporary file left behind


def test_a_failed_first_write_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_baseline(tmp_path / "b.json", {NODE: [leak("connect", title=object())]})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a baseline, invalid JSON: "),
        ("[]", "expected schema 'leakwatch.baseline/1', got 'list'"),
        ('{"schema": "leakwatch.report/1", "leaks": []}', "got 'leakwatch.report/1'"),
        ('{"schema": "leakwatch.baseline/1"}', "'entries' must be an object"),
        ('{"schema": "leakwatch.baseline/1", "entries": {"t": {}}}', "entries['t'] must be a list"),
        (
            '{"schema": "leakwatch.baseline/1", "entries": {"t": [{"kind": "fd"}]}}',
            "entries['t'][0] has no string 'signature'",
        ),
    ],
)
def test_a_malformed_file_is_one_line_naming_it(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_baseline(path)
    text = str(info.value)
    assert text.startswith(f"leakwatch: {path}: ")
    assert message in text
    assert "\n" not in text


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="baseline file not found"):
        load_baseline(tmp_path / "nope.json")
    empty = load_baseline(tmp_path / "nope.json", missing_ok=True)
    assert len(empty) == 0
    assert empty.split(NODE, [leak("connect")]) == ([leak("connect")], [])
