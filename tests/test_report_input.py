"""Saved reports read back at the edge, and text that is not safe to print (issue 11).

``leakwatch report`` checks a document whole before rendering it: every bad
shape is one line and exit 2.  Reports with undecodable paths and control
characters are written, read back and shown escaped.  Property-based tests
(hypothesis, a bounded number of examples) try shapes no list would think of.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import string
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.cli import EXIT_LEAKS, leakwatch, load, script

from leakwatch import Leak, Report
from leakwatch._base.files import json_text, write_whole
from leakwatch._base.frames import Frame
from leakwatch._cli import main
from leakwatch._report.errors import OutputError
from leakwatch._report.report import SCHEMA
from leakwatch._report.text import escape
from leakwatch._run.report_command import report_status

_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# What must never reach a terminal: controls but the newline, surrogates, bidi overrides.
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")

GOOD: dict[str, Any] = {
    "schema": SCHEMA,
    "label": "app.py",
    "leaks": [
        {
            "kind": "fd",
            "title": "socket -> 127.0.0.1:80 (fd 7)",
            "count": 2,
            "size": None,
            "origin": [{"filename": "/app/app.py", "lineno": 3, "function": "f", "line": "x"}],
            "details": {"library_frames": ["/usr/lib/socket.py:1 in f"], "items": ["a", "b"]},
        }
    ],
    "info": [],
    "notes": ["a note"],
    "stats": {"trace_windows": [[0.0, 1.0]], "trace_mode": "windows"},
    "program": {"argv": ["app.py"], "exit_status": 0, "duration": 1.5},
    "timeseries": {"t": [0.0, 1.0], "fds": [3, None]},
    "growth": [{"filename": "/app/app.py", "lineno": 3, "function": "f", "growth": 10}],
}


def _report(tmp_path: Path, text: str) -> tuple[int, str, str]:
    path = tmp_path / "r.json"
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["report", str(path), "--html", str(tmp_path / "r.html")])
    return status, out.getvalue(), err.getvalue()


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    at: Any = data
    for key in path[:-1]:
        at = at[key]
    at[path[-1]] = value
    return data


BAD_SHAPES = [
    (("leaks", 0, "origin", 0, "filename"), "\ud800"),
    (("leaks", 0, "origin", 0, "filename"), "a\x00b"),
    (("leaks",), 5),
    (("leaks",), {"kind": "fd"}),
    (("leaks", 0), 42),
    (("leaks", 0), None),
    (("leaks", 0, "count"), "many"),
    (("leaks", 0, "count"), -1),
    (("leaks", 0, "count"), 10**30),
    (("leaks", 0, "size"), [1]),
    (("leaks", 0, "title"), None),
    (("leaks", 0, "origin"), "here"),
    (("leaks", 0, "origin", 0), "frame"),
    (("leaks", 0, "origin", 0, "lineno"), "3"),
    (("leaks", 0, "details"), []),
    (("leaks", 0, "details", "library_frames"), "one"),
    (("leaks", 0, "details", "library_frames"), [1, 2]),
    (("leaks", 0, "details", "items"), {"a": 1}),
    (("leaks", 0, "details", "held_by"), ["x"]),
    (("leaks", 0, "details", "stack"), [{"filename": 1}]),
    (("notes",), "one note"),
    (("notes",), [None]),
    (("label",), 3),
    (("block_failed",), "yes"),
    (("stats",), [1]),
    (("stats", "trace_windows"), [[1]]),
    (("stats", "trace_windows"), [["a", "b"]]),
    (("program",), "app.py"),
    (("program", "argv"), "app.py"),
    (("program", "argv"), [1, None]),
    (("program", "duration"), "long"),
    (("program", "exit_status"), 1.5),
    (("timeseries",), []),
    (("timeseries", "fds"), "3"),
    (("timeseries", "fds"), [{"n": 3}]),
    (("growth",), {"a": 1}),
    (("growth",), [5]),
    (("growth", 0, "growth"), "big"),
    (("growth", 0, "lineno"), 10**40),
]


@pytest.mark.parametrize(("path", "value"), BAD_SHAPES, ids=lambda v: repr(v)[:40])
def test_report_of_a_bad_shape_is_one_line_and_exit_2(
    tmp_path: Path, path: tuple[Any, ...], value: Any
) -> None:
    status, out, err = _report(tmp_path, json.dumps(_with(path, value)))
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "not a valid leakwatch report" in err, err


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(GOOD).replace('"duration": 1.5', '"duration": Infinity'),
        json.dumps(GOOD).replace('"duration": 1.5', '"duration": NaN'),
        json.dumps(GOOD).replace('"duration": 1.5', '"duration": 1e999'),
        json.dumps(GOOD).replace('"count": 2', '"count": ' + "9" * 5000),
        json.dumps(_with(("leaks", 0, "details", "deep"), None)).replace(
            "null", "[" * 100_000 + "]" * 100_000
        ),
        json.dumps(_with(("leaks", 0, "details", "deep"), None)).replace(
            "null", "[" * 200 + "]" * 200
        ),
    ],
    ids=["Infinity", "NaN", "1e999", "huge-int", "100000-deep", "200-deep"],
)
def test_report_of_bad_numbers_or_nesting_is_one_line_and_exit_2(tmp_path: Path, text: str) -> None:
    status, out, err = _report(tmp_path, text)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("leakwatch: "), err[:300]


def test_a_good_report_still_renders(tmp_path: Path) -> None:
    status, out, err = _report(tmp_path, json.dumps(GOOD))
    assert (status, err) == (23 if GOOD["leaks"] else 0, "")
    assert "socket -> 127.0.0.1:80" in out and "python app.py ran 1.5 s" in out
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


# -- text that is not safe to print ---------------------------------------------------------------


def test_text_report_escapes_control_characters() -> None:
    leak = Leak(
        "thread",
        "thread 'x\x1b[2J\x07' (daemon)",
        origin=(Frame("/app/\x1b]0;pwned\x07.py", 1, "f\x9b", "print('\u202e')"),),
        details={"held_by": "a\x1bb"},
    )
    text = Report(leaks=[leak], notes=["n\x00te"], label="lab\x1bel").format(verbose=True)
    assert not _UNSAFE.search(text)
    assert "\\x1b[2J\\x07" in text and "\\u202e" in text and "n\\x00te" in text


def test_run_writes_and_reads_back_a_report_with_undecodable_text(tmp_path: Path) -> None:
    prog = script(
        tmp_path,
        "weird.py",
        "import os, threading\n"
        "f = open(os.fsdecode(b'bad-\\xff-\\x1b[31m.txt'), 'w')\n"
        "stop = threading.Event()\n"
        "threading.Thread(target=stop.wait, name='t-\\udcff-\\x07', daemon=True).start()\n",
    )
    done = leakwatch("run", "--json", "r.json", "--html", "r.html", prog, cwd=tmp_path)
    assert done.returncode == EXIT_LEAKS, done.stderr
    assert "Traceback" not in done.stderr and not _UNSAFE.search(done.stderr)
    assert "bad-\\udcff-\\x1b[31m.txt" in done.stderr
    data = load(tmp_path / "r.json")  # valid UTF-8 JSON, the lone surrogate escaped in it
    titles = [leak["title"] for leak in data["leaks"]]
    assert any("bad-\udcff-\x1b[31m.txt" in t for t in titles), titles
    again = leakwatch("report", "r.json", cwd=tmp_path)
    assert again.returncode == EXIT_LEAKS and not _UNSAFE.search(again.stdout)
    assert "t-\\udcff-\\x07" in again.stdout
    assert "\\x1b" in (tmp_path / "r.html").read_text(encoding="utf-8")


# -- properties ----------------------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
_paths = st.sampled_from(
    [
        ("label",),
        ("leaks",),
        ("leaks", 0),
        ("leaks", 0, "kind"),
        ("leaks", 0, "count"),
        ("leaks", 0, "size"),
        ("leaks", 0, "origin"),
        ("leaks", 0, "origin", 0),
        ("leaks", 0, "origin", 0, "lineno"),
        ("leaks", 0, "origin", 0, "line"),
        ("leaks", 0, "details"),
        ("leaks", 0, "details", "library_frames"),
        ("leaks", 0, "details", "items"),
        ("leaks", 0, "details", "stack"),
        ("leaks", 0, "details", "anything"),
        ("info",),
        ("notes",),
        ("stats",),
        ("stats", "trace_windows"),
        ("program",),
        ("program", "argv"),
        ("program", "duration"),
        ("timeseries",),
        ("timeseries", "t"),
        ("growth",),
        ("growth", 0),
        ("growth", 0, "early_size"),
    ]
)


@_SETTINGS
@given(path=_paths, value=_json)
def test_any_value_anywhere_renders_or_is_one_line(
    tmp_path: Path, path: tuple[Any, ...], value: Any
) -> None:
    data = _with(path, value)
    status, out, err = _report(tmp_path, json.dumps(data))
    if status != 2:  # rendered, with the status of what it holds
        assert status == report_status(data) and err == "" and not _UNSAFE.search(out)
    else:
        assert out == "" and err.count("\n") == 1, err


_any_text = st.text(
    alphabet=st.characters(blacklist_categories=()) | st.sampled_from("\x1b\x07\x00\x9b\udcff"),
    max_size=20,
)


# File names as the OS gives them: any bytes but NUL, undecodable ones as surrogate escapes.
_file_names = st.binary(min_size=1, max_size=20).filter(lambda b: b"\0" not in b).map(os.fsdecode)


@_SETTINGS
@given(title=_any_text, filename=_file_names, name=_any_text, note=_any_text)
def test_any_text_is_written_read_back_whole_and_shown_escaped(
    tmp_path: Path, title: str, filename: str, name: str, note: str
) -> None:
    leak = Leak(
        "thread",
        title,
        origin=(Frame(filename, 1, name, name),),
        details={"name": name, "held_by": note},
    )
    report = Report(leaks=[leak], notes=[note], label=name)
    data = report.to_dict()
    data["program"] = {"argv": [filename, name], "exit_status": 0, "duration": 0.5}
    path = tmp_path / "r.json"
    write_whole(path, json_text(data))
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(data))
    status, out, err = _report_file(path)
    assert (status, err) == (23, ""), err  # one leak
    assert not _UNSAFE.search(out)
    assert escape(title) in out


def _report_file(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["report", str(path)])
    return status, out.getvalue(), err.getvalue()


def test_escape_keeps_ordinary_text_and_is_idempotent() -> None:
    plain = string.printable.replace("\r", "").replace("\t", "").replace("\x0b", "")
    plain = plain.replace("\x0c", "")
    assert escape(plain) == plain
    once = escape("a\x1b\udcff\u202eb")
    assert escape(once) == once
    assert sys.getrecursionlimit() > 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_a_rewritten_file_keeps_its_permissions_and_a_new_one_is_readable(tmp_path: Path) -> None:
    new = tmp_path / "sub" / "new.json"
    write_whole(new, json_text({"b": 1, "a": "é"}, sort_keys=True), make_dirs=True)
    assert os.stat(new).st_mode & 0o777 == 0o644
    assert new.read_text(encoding="utf-8") == '{\n  "a": "é",\n  "b": 1\n}\n'
    kept = tmp_path / "kept.json"
    kept.write_text("old")
    os.chmod(kept, 0o600)
    write_whole(kept, "new")
    assert kept.read_text() == "new" and os.stat(kept).st_mode & 0o777 == 0o600


def test_a_failed_write_is_one_line_of_the_callers_error_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    target = tmp_path / "no-such-dir" / "r.json"
    with pytest.raises(OutputError) as info:
        write_whole(target, "x", what="JSON report", error=OutputError)
    message = str(info.value)
    assert message.startswith("leakwatch: cannot write JSON report ") and "\n" not in message
    assert message.endswith("r.json: No such file or directory")
    with pytest.raises(FileNotFoundError):
        write_whole(target, "x")  # no error given: the OSError itself
    assert list(tmp_path.iterdir()) == []
