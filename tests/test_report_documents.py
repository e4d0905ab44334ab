"""``leakwatch report`` reads every JSON leakwatch writes, renders each as text and
HTML, and exits as the run did (23 on leaks, so a saved report can gate CI); the
pytest plugin writes the same HTML page for a session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import EXIT_LEAKS, leakwatch, load, script
from support.plugin_runs import outcomes, prepare, run, write

from leakwatch._base.wording import format_size, message_line, noun, number, one_line, plural
from leakwatch._run.report_command import report_status


@pytest.fixture
def lw(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


SUITE = """
import socket, threading
import pytest

KEEP = []

@pytest.fixture(scope="session")
def server():
    sock = socket.socket()  # leaks: fixture socket
    KEEP.append(sock)
    yield sock

def test_uses_server(server):
    pass

def test_leaks_a_socket():
    KEEP.append(socket.socket())  # leaks: test socket

def test_clean():
    pass
"""


def _line(path: Path, marker: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, text in enumerate(lines, 1) if marker in text)


def test_report_reads_the_session_json_the_plugin_writes(lw: pytest.Pytester) -> None:
    suite = write(lw, "test_suite.py", SUITE)
    result = run(lw, "--leakwatch", "--leakwatch-json=session.json")
    assert outcomes(result)["test_leaks_a_socket"] == {"FAILED"}
    shown = leakwatch("report", "session.json", "--html", "again.html", cwd=lw.path)
    assert shown.returncode == EXIT_LEAKS, shown.stderr
    assert shown.stderr == ""
    out = shown.stdout
    assert out.startswith("leakwatch: 2 leaks in 1 test and 1 fixture\n")
    assert "test_suite.py::test_leaks_a_socket (call): 1 leak" in out
    assert "(session fixture 'server'): 1 leak" in out
    assert f"created at test_suite.py:{_line(suite, 'leaks: test socket')} in " in out
    assert f"created at test_suite.py:{_line(suite, 'leaks: fixture socket')} in server" in out
    page = (lw.path / "again.html").read_text(encoding="utf-8")
    assert "test_suite.py::test_leaks_a_socket" in page and "session fixture" in page
    assert "KEEP.append(socket.socket())" in page and "<h3>Held by</h3>" in page


def test_plugin_writes_the_html_report(lw: pytest.Pytester) -> None:
    suite = write(lw, "test_suite.py", SUITE)
    result = run(lw, "--leakwatch", "--leakwatch-html=reports/session.html")
    result.stdout.fnmatch_lines(["HTML report: reports*session.html"])
    out = lw.path / "reports"
    assert [p.name for p in out.iterdir()] == ["session.html"]  # whole: no temp file left
    page = (out / "session.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert ">2 leaks: 2 fd in 1 test and 1 fixture</p>" in page
    # The tests and fixtures that leaked, each leak with its stack and holder.
    assert "<code>test_suite.py::test_leaks_a_socket</code>" in page
    assert "session fixture &#x27;server&#x27;" in page
    assert f"test_suite.py:{_line(suite, 'leaks: test socket')}</span>" in page
    assert "test_suite.KEEP[" in page
    assert "leakwatch.session/1" in page


def test_plugin_html_from_the_ini_and_the_header_says_so(lw: pytest.Pytester) -> None:
    lw.makefile(
        ".ini",
        pytest="[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "leakwatch = true\nleakwatch_html = out/lw.html\n",
    )
    write(lw, "test_suite.py", SUITE)
    result = run(lw)
    result.stdout.fnmatch_lines(["leakwatch: *html out*lw.html*"])
    assert "test_leaks_a_socket" in (lw.path / "out" / "lw.html").read_text(encoding="utf-8")


def test_plugin_html_that_cannot_be_written_is_an_error_line_and_leaves_the_old_one(
    lw: pytest.Pytester,
) -> None:
    write(lw, "test_suite.py", SUITE)
    (lw.path / "page.html").mkdir()  # a directory where the page should go
    result = run(lw, "--leakwatch", "--leakwatch-html=page.html")
    result.stdout.fnmatch_lines(["error: cannot write the HTML report page.html: *"])
    assert list((lw.path / "page.html").iterdir()) == []
    assert [p.name for p in lw.path.iterdir() if p.name.startswith(".page.html")] == []


def test_report_of_a_clean_session_exits_0(lw: pytest.Pytester) -> None:
    write(lw, "test_x.py", "def test_x():\n    pass\n")
    run(lw, "--leakwatch", "--leakwatch-json=session.json")
    shown = leakwatch("report", "session.json", "--html", "page.html", cwd=lw.path)
    assert (shown.returncode, shown.stdout.splitlines()[0]) == (0, "leakwatch: no leaks")
    assert ">No leaks found</p>" in (lw.path / "page.html").read_text(encoding="utf-8")


def test_report_reads_a_baseline_and_exits_0(tmp_path: Path) -> None:
    script(tmp_path, "leaky.py", "import socket\nKEEP = socket.socket()\n")
    leakwatch("run", "-q", "--update-baseline", "--baseline", "base.json", "leaky.py", cwd=tmp_path)
    shown = leakwatch("report", "base.json", "--html", "base.html", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("leakwatch baseline: 1 accepted leak in 1 scope")
    assert "signature fd|socket|leaky.py:<module>" in shown.stdout
    page = (tmp_path / "base.html").read_text(encoding="utf-8")
    assert ">1 accepted leak in 1 scope</p>" in page and "fd|socket|leaky.py:&lt;module&gt;" in page


def test_report_reads_the_requests_json(tmp_path: Path) -> None:
    leak = {"kind": "fd", "title": "socket (fd 9)", "count": 3, "size": None, "origin": []}
    data = {
        "schema": "leakwatch.requests/1",
        "routes": [
            {"route": "/leak-socket", "method": "GET", "requests": 3, "leaks": [leak]},
            {"route": "/ok", "method": "GET", "requests": 10, "leaks": []},
        ],
    }
    (tmp_path / "requests.json").write_text(json.dumps(data), encoding="utf-8")
    shown = leakwatch("report", "requests.json", "--html", "r.html", cwd=tmp_path)
    assert shown.returncode == EXIT_LEAKS, shown.stderr
    assert shown.stdout.startswith("leakwatch: 3 leaks in 1 of 2 routes\n")
    assert "GET /leak-socket (3 requests): 3 leaks" in shown.stdout
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<code>GET /leak-socket</code>" in page and ">3 leaks: 3 fd in 1 of 2 routes</p>" in page


def test_a_bad_session_document_is_one_line_and_exit_2(tmp_path: Path) -> None:
    data = {"schema": "leakwatch.session/1", "tests": [{"nodeid": 3, "leaks": []}]}
    (tmp_path / "s.json").write_text(json.dumps(data), encoding="utf-8")
    shown = leakwatch("report", "s.json", cwd=tmp_path)
    assert (shown.returncode, shown.stdout) == (2, "")
    assert shown.stderr == (
        "leakwatch: s.json: not a valid leakwatch report: "
        "tests[0].nodeid: expected a string, got an integer\n"
    )


# -- exit statuses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "run_status"),
    [
        ("print('clean')\n", 0),
        ("import socket\nKEEP = socket.socket()\n", EXIT_LEAKS),
        ("import socket\nKEEP = socket.socket()\nraise RuntimeError('boom')\n", 1),
        ("import socket\nKEEP = socket.socket()\nraise KeyboardInterrupt\n", 130),
        ("import socket, sys\nKEEP = socket.socket()\nsys.exit(3)\n", 3),
    ],
    ids=["clean", "leaks", "raised", "interrupted", "failed"],
)
def test_report_exits_as_the_run_did(tmp_path: Path, source: str, run_status: int) -> None:
    script(tmp_path, "prog.py", source)
    ran = leakwatch("run", "-q", "--json", "r.json", "prog.py", cwd=tmp_path)
    assert ran.returncode == run_status, ran.stderr
    shown = leakwatch("report", "r.json", cwd=tmp_path)
    assert shown.returncode == run_status, shown.stderr
    assert report_status(load(tmp_path / "r.json")) == run_status


def test_a_watch_that_raised_is_not_judged_and_exits_1(tmp_path: Path) -> None:
    script(
        tmp_path,
        "block.py",
        "import json, socket, leakwatch\nKEEP = []\n"
        "try:\n    with leakwatch.watch(on_leak='report') as w:\n"
        "        KEEP.append(socket.socket())\n        raise ValueError('x')\n"
        "except ValueError:\n    pass\n"
        "json.dump(w.report.to_dict(), open('w.json', 'w'))\n",
    )
    ran = leakwatch("run", "-q", "block.py", cwd=tmp_path)
    assert ran.returncode == EXIT_LEAKS, ran.stderr  # the run: the socket is still open
    data = load(tmp_path / "w.json")
    assert data["block_failed"] is True and data["leaks"]
    shown = leakwatch("report", "w.json", cwd=tmp_path)
    assert shown.returncode == 1 and "(it raised: reported, not judged)" in shown.stdout


def test_report_help_names_the_exit_statuses(tmp_path: Path) -> None:
    shown = leakwatch("report", "--help", cwd=tmp_path)
    assert shown.returncode == 0
    for line in ("0   no leaks listed", "23  leaks listed", "2   FILE missing"):
        assert line in shown.stdout


# -- sizes, counts, errors, numbers: worded for people --------------------------------------------


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023.6, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (20_000, "19.5 KiB"),
        (11_544_951, "11.0 MiB"),
        (1024 * 1024 - 1, "1.0 MiB"),
        (-3 * 1024, "-3.0 KiB"),
        (5 * 1024**3, "5.0 GiB"),
        (3 * 1024**4, "3.0 TiB"),
    ],
)
def test_one_size_formatter_picks_the_unit(size: float, text: str) -> None:
    assert format_size(size) == text


def test_counts_are_worded_with_their_noun() -> None:
    assert [plural(n, "leak") for n in (0, 1, 2)] == ["0 leaks", "1 leak", "2 leaks"]
    assert plural(3, "entry") == "3 entries" and plural(2, "key") == "2 keys"
    assert noun("library frame", -1) == "library frame" and noun("handler", -2) == "handlers"


def test_an_error_is_one_line_and_a_broken_one_its_type() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    assert one_line(ValueError("bad\nvalue")) == "ValueError: bad value"
    assert one_line(KeyError("k")) == "KeyError: 'k'"
    assert message_line(ValueError("bad\n  value")) == "bad value"
    assert message_line(ValueError()) == "ValueError"
    assert message_line(Broken()) == "Broken"
    assert one_line(Broken()) == "Broken" and one_line(ValueError()) == "ValueError"


def test_a_number_read_back_is_finite_or_none() -> None:
    assert [number(v) for v in (3, 2.5, True, "4", None, float("nan"), float("inf"))] == [
        3.0,
        2.5,
        None,
        None,
        None,
        None,
        None,
    ]
