"""What ``leakwatch run`` writes: JSON whole or not at all, HTML a browser renders,
``leakwatch report`` to read a saved run again, and baselines."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from support import browser
from support.cli import EXAMPLES, EXIT_LEAKS, leakwatch, load, marked_line, of_kind, script

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
LEAKY = "import socket\nKEEP = socket.socket()  # leaks: never closed\nprint('ran')\n"


def test_json_has_the_contract_shape_and_the_run(tmp_path: Path) -> None:
    prog = script(tmp_path, "leaky.py", LEAKY)
    result = leakwatch("run", "--json", "out.json", "leaky.py", "arg", cwd=tmp_path)
    assert result.returncode == EXIT_LEAKS
    data = load(tmp_path / "out.json")
    assert data["schema"] == "leakwatch.report/1"
    (leak,) = data["leaks"]
    assert leak["kind"] == "fd" and leak["count"] == 1 and leak["size"] is None
    # Oldest call first, the program's creating line last, nothing above the
    # program (no runpy, no leakwatch).
    assert leak["origin"] == [
        {
            "filename": str(prog),
            "lineno": 2,
            "function": "<module>",
            "line": "KEEP = socket.socket()  # leaks: never closed",
        }
    ]
    assert data["program"]["argv"] == ["leaky.py", "arg"]
    assert data["program"]["exit_status"] == 0
    assert data["timeseries"]["t"][0] == 0.0 and len(data["timeseries"]["t"]) >= 2
    assert isinstance(data["growth"], list)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.json")] == []


def test_unwritable_json_path_fails_before_the_program_runs(tmp_path: Path) -> None:
    script(tmp_path, "marks.py", "open('ran', 'w').close()\n")
    result = leakwatch("run", "--json", "missing/out.json", "marks.py", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "leakwatch: cannot write JSON report missing/out.json: no directory missing"
    )
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "missing").exists()


def test_json_that_cannot_be_written_at_the_end_leaves_nothing_partial(tmp_path: Path) -> None:
    # The program itself takes the report's path (a directory now): the final
    # move fails, and neither a partial report nor the temp file is left.
    out = tmp_path / "reports"
    out.mkdir()
    (out / "old.json").write_text('{"keep": true}', encoding="utf-8")
    script(tmp_path, "grab.py", "import os\nos.mkdir('reports/out.json')\n")
    result = leakwatch("run", "--json", "reports/out.json", "grab.py", cwd=tmp_path)
    assert result.returncode == 4
    errors = [
        line for line in result.stderr.splitlines() if line.startswith("leakwatch: cannot write")
    ]
    assert errors == ["leakwatch: cannot write JSON report reports/out.json: Is a directory"]
    assert sorted(p.name for p in out.iterdir()) == ["old.json", "out.json"]
    assert (out / "out.json").is_dir() and not any((out / "out.json").iterdir())


def test_report_round_trip_text_and_html(tmp_path: Path) -> None:
    path = EXAMPLES / "leaky_fd.py"
    leakwatch("run", "--json", "saved.json", path, cwd=tmp_path)
    result = leakwatch("report", "saved.json", "--html", "again.html", cwd=tmp_path)
    assert result.returncode == EXIT_LEAKS, result.stderr  # as the run itself
    assert result.stdout.startswith("leakwatch: 1 leak in ")
    assert f"leaky_fd.py:{marked_line(path)} in connect" in result.stdout
    assert "exit status 0" in result.stdout  # the run's summary comes along
    page = (tmp_path / "again.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "socket.create_connection(addr)" in page


def test_report_rejects_what_is_not_a_report(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('{"schema": "something/1"}', encoding="utf-8")
    result = leakwatch("report", "other.json", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "leakwatch: other.json: not a leakwatch report: "
        "expected schema 'leakwatch.report/1', 'leakwatch.session/1', "
        "'leakwatch.baseline/1' or 'leakwatch.requests/1', got 'something/1'"
    )


def test_baseline_accepts_known_leaks_and_fails_new_ones(tmp_path: Path) -> None:
    script(tmp_path, "leaky.py", LEAKY)
    first = leakwatch(
        "run", "-q", "--baseline", "base.json", "--update-baseline", "leaky.py", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "fd|socket|leaky.py:<module>" in (tmp_path / "base.json").read_text(encoding="utf-8")

    again = leakwatch(
        "run", "--json", "out.json", "--baseline", "base.json", "leaky.py", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    data = load(tmp_path / "out.json")
    assert data["leaks"] == [] and len(of_kind(data, "fd", "baselined")) == 1

    script(
        tmp_path,
        "leaky.py",
        LEAKY + "import threading\n"
        "threading.Thread(target=threading.Event().wait, daemon=True).start()\n",
    )
    new = leakwatch(
        "run", "--json", "out.json", "--baseline", "base.json", "leaky.py", cwd=tmp_path
    )
    assert new.returncode == EXIT_LEAKS
    assert [leak["kind"] for leak in load(tmp_path / "out.json")["leaks"]] == ["thread"]


def test_html_report_of_a_real_run_renders_in_chromium(tmp_path: Path) -> None:
    if not browser.available():
        pytest.skip(f"{browser.CHROMIUM} not found; run scripts/ensure-chromium")
    result = leakwatch(
        "run",
        "--interval",
        "0.2",
        "--trace-window",
        "0.3",
        "--html",
        "run.html",
        EXAMPLES / "leaky_heap.py",
        "2.5",
        cwd=tmp_path,
    )
    assert result.returncode == EXIT_LEAKS, result.stderr
    page = tmp_path / "run.html"
    html = page.read_text(encoding="utf-8")
    assert "Over time" in html and "Growing allocation sites" in html
    assert "python " in html and "leaky_heap.py 2.5" in html

    png = ARTIFACTS / "cli-run-report.png"
    png.unlink(missing_ok=True)
    shot = browser.screenshot(page, png)
    assert shot.returncode == 0, shot.stderr[-2000:]
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1280, 2000)

    dom = browser.dump_dom(page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body and 'data-ok="1"' in body.group(0), "the page's script did not run to its end"
    assert "data-jserror" not in body.group(0)
    assert dom.console == [], dom.console
    assert dom.stdout.count('<svg class="chart"') >= 6  # one chart per series


def test_report_paths_are_taken_before_the_program_changes_directory(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    script(tmp_path, "moves.py", "import os\nos.chdir('elsewhere')\n")
    result = leakwatch("run", "--json", "out.json", "moves.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.json").is_file()
    assert not (tmp_path / "elsewhere" / "out.json").exists()
