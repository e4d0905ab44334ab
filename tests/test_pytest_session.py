"""The pytest plugin's run-wide side: enabling, settings and their precedence, the
header, the terminal summary, the JSON report, the baseline and pytest-xdist."""

from __future__ import annotations

import pytest
from support.plugin_runs import outcomes, prepare, read_json, run, write

from leakwatch._report.report import SESSION_SCHEMA


@pytest.fixture
def lw(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


LEAKY = """
import socket

KEEP = []

def test_leaky():
    KEEP.append(socket.socket())

def test_clean():
    pass
"""


# -- enabling -------------------------------------------------------------------------------


def test_ini_enables_it(lw: pytest.Pytester) -> None:
    lw.makefile(
        ".ini", pytest="[pytest]\nasyncio_default_fixture_loop_scope = function\nleakwatch = true\n"
    )
    write(lw, "test_leaky.py", LEAKY)
    assert outcomes(run(lw)) == {"test_leaky": {"FAILED"}, "test_clean": {"PASSED"}}


@pytest.mark.parametrize("name", ["LEAKWATCH", "LEAKWATCH_ENABLED"])
def test_environment_enables_it(
    lw: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    write(lw, "test_leaky.py", LEAKY)
    monkeypatch.setenv(name, "1")
    assert outcomes(run(lw)) == {"test_leaky": {"FAILED"}, "test_clean": {"PASSED"}}


def test_tool_leakwatch_table_enables_it(lw: pytest.Pytester) -> None:
    lw.makepyprojecttoml("[tool.leakwatch]\nenabled = true\nkinds = ['thread']\n")
    write(lw, "test_leaky.py", LEAKY)
    result = run(lw)
    # Enabled, but only threads are checked: the socket passes.
    assert outcomes(result) == {"test_leaky": {"PASSED"}, "test_clean": {"PASSED"}}
    result.stdout.fnmatch_lines(
        ["leakwatch: kinds thread, *", "leakwatch: settings from pyproject.toml"]
    )


# -- settings, precedence and the header ---------------------------------------------------


def test_precedence_ini_then_environment_then_command_line(
    lw: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    lw.makepyprojecttoml("[tool.leakwatch]\nsettle_budget = 0.4\n")
    lw.makefile(
        ".ini",
        pytest="[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "leakwatch = true\nleakwatch_kinds = fd\nleakwatch_settle = 0.3\n",
    )
    write(lw, "test_x.py", "def test_x():\n    pass\n")
    run(lw).stdout.fnmatch_lines(["leakwatch: kinds fd, settle 0.3s, failed tests not judged"])
    monkeypatch.setenv("LEAKWATCH_KINDS", "thread,task")
    run(lw).stdout.fnmatch_lines(["leakwatch: kinds thread,task, settle 0.3s, *"])
    result = run(
        lw, "--leakwatch-kinds=process", "--leakwatch-settle=0.1", "--leakwatch-check-failed"
    )
    result.stdout.fnmatch_lines(["leakwatch: kinds process, settle 0.1s, failed tests judged"])


def test_header_lists_the_active_settings(lw: pytest.Pytester) -> None:
    write(lw, "test_x.py", "def test_x():\n    pass\n")
    result = run(
        lw,
        "--leakwatch",
        "--leakwatch-strict-state",
        "--leakwatch-json=out/lw.json",
        "--leakwatch-baseline=base.json",
    )
    result.stdout.fnmatch_lines(
        [
            "leakwatch: kinds fd,thread,task,timer,process,tempfile, settle 0.5s, "
            "failed tests not judged, strict state, baseline base.json, json out*lw.json",
        ]
    )


def test_bad_settings_are_a_one_line_usage_error(lw: pytest.Pytester) -> None:
    write(lw, "test_x.py", "def test_x():\n    pass\n")
    result = run(lw, "--leakwatch", "--leakwatch-kinds=fd,sockets")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*leakwatch: command line --leakwatch-kinds: 'kinds' must be*"])
    result = run(lw, "--leakwatch", "--leakwatch-settle=soon")
    result.stderr.fnmatch_lines(["*--leakwatch-settle: must be a number of seconds, got 'soon'"])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.joinpath("bad.json").write_text("x{"), "not a baseline, invalid JSON"),
        (lambda p: p.joinpath("bad.json").mkdir(), "cannot read baseline"),
    ],
)
def test_a_baseline_that_cannot_be_read_is_a_one_line_usage_error(
    lw: pytest.Pytester, make: object, message: str
) -> None:
    write(lw, "test_x.py", "def test_x():\n    pass\n")
    make(lw.path)  # type: ignore[operator]
    result = run(lw, "--leakwatch", "--leakwatch-baseline=bad.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "INTERNALERROR" not in result.stderr.str() + result.stdout.str()
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and "bad.json" in errors[0] and message in errors[0], errors


def test_strict_state_fails_a_test_that_changes_global_state(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_state.py",
        """
        import sys

        def test_changes_sys_path():
            sys.path.append("/nonexistent/leakwatch-test")

        def test_restores_sys_path(monkeypatch):
            monkeypatch.syspath_prepend("/nonexistent/leakwatch-other")

        def test_first_to_use_tmp_path(tmp_path):
            (tmp_path / "f").write_text("x")

        def test_lazy_import():
            import xml.dom.minidom  # noqa: F401
        """,
    )
    passing = {"test_restores_sys_path", "test_first_to_use_tmp_path", "test_lazy_import"}
    assert outcomes(run(lw, "--leakwatch")) == {
        "test_changes_sys_path": {"PASSED"},
        **{name: {"PASSED"} for name in passing},
    }
    result = run(lw, "--leakwatch", "--leakwatch-strict-state")
    assert outcomes(result) == {
        "test_changes_sys_path": {"FAILED"},
        **{name: {"PASSED"} for name in passing},
    }
    result.stdout.fnmatch_lines(["*state leak*"])


def test_stale_ignore_rules_are_listed(lw: pytest.Pytester) -> None:
    lw.makepyprojecttoml(
        """
        [[tool.leakwatch.ignore]]
        reason = "the pool keeps one warm connection"
        kind = "fd"
        function = "warm_pool"

        [[tool.leakwatch.ignore]]
        reason = "left over from an old bug"
        kind = "thread"
        thread_name = "legacy-*"
        """
    )
    write(
        lw,
        "test_pool.py",
        """
        import socket
        POOL = []

        def warm_pool():
            POOL.append(socket.socket())

        def test_warm():
            warm_pool()
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {"test_warm": {"PASSED"}}
    result.stdout.fnmatch_lines(
        [
            "*= leakwatch =*",
            "no leaks found",
            "1 ignored by rules or allowed by a marker (not failing), in 1 test",
            "ignore rules that matched nothing (stale?):",
            "  kind='thread' thread_name='legacy-[*]' (left over from an old bug)*",
        ]
    )


# -- the JSON report ---------------------------------------------------------------------------


def test_json_report_shape(lw: pytest.Pytester) -> None:
    write(lw, "test_leaky.py", LEAKY)
    result = run(lw, "--leakwatch", "--leakwatch-json=reports/leaks.json")
    assert outcomes(result) == {"test_leaky": {"FAILED"}, "test_clean": {"PASSED"}}
    data = read_json(lw.path / "reports" / "leaks.json")
    assert data["schema"] == SESSION_SCHEMA == "leakwatch.session/1"
    (test,) = data["tests"]
    assert test["nodeid"] == "test_leaky.py::test_leaky"
    assert test["phase"] == "call"
    (leak,) = test["leaks"]
    assert set(leak) == {"kind", "title", "count", "size", "origin", "details"}
    assert leak["kind"] == "fd" and leak["count"] == 1 and leak["size"] is None
    innermost_user = [f for f in leak["origin"] if f["filename"].endswith("test_leaky.py")][-1]
    assert innermost_user == {
        "filename": str(lw.path / "test_leaky.py"),
        "lineno": 7,
        "function": "test_leaky",
        "line": "KEEP.append(socket.socket())",
    }
    assert data["summary"] == {"leaks": 1, "tests": 1, "fixtures": 0, "by_kind": {"fd": 1}}
    result.stdout.fnmatch_lines(["JSON report: reports*leaks.json"])
    assert [p.name for p in (lw.path / "reports").iterdir()] == ["leaks.json"]  # no temp files


def test_json_report_of_a_clean_run(lw: pytest.Pytester) -> None:
    write(lw, "test_x.py", "def test_x():\n    pass\n")
    run(lw, "--leakwatch", "--leakwatch-json=leaks.json")
    data = read_json(lw.path / "leaks.json")
    assert data["schema"] == SESSION_SCHEMA
    assert data["tests"] == []


# -- pytest-xdist --------------------------------------------------------------------------------


def test_xdist_workers_check_their_own_tests_and_the_controller_combines(
    lw: pytest.Pytester,
) -> None:
    source = """
        import os, threading
        import pytest

        STOP = threading.Event()

        @pytest.mark.parametrize("n", range(4))
        def test_leaks_a_thread(n):
            worker = os.environ.get("PYTEST_XDIST_WORKER", "none")
            threading.Thread(target=STOP.wait, name=f"stuck-{worker}-{n}", daemon=True).start()

        def test_clean():
            pass
        """
    write(lw, "test_one.py", source)
    write(lw, "test_two.py", source)
    result = run(lw, "--leakwatch", "--leakwatch-settle=0.05", "-n", "2", "--leakwatch-json=x.json")
    tests = read_json(lw.path / "x.json")["tests"]
    nodeids = sorted(t["nodeid"] for t in tests)
    expected = [
        f"test_{f}.py::test_leaks_a_thread[[]{n}[]]" for f in ("one", "two") for n in range(4)
    ]
    assert nodeids == sorted(e.replace("[[]", "[").replace("[]]", "]") for e in expected)
    titles = " ".join(leak["title"] for t in tests for leak in t["leaks"])
    assert "stuck-gw0-" in titles and "stuck-gw1-" in titles
    result.stdout.fnmatch_lines(["*= leakwatch =*", "8 leaks found in 8 tests:", "  thread"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


# -- the baseline ---------------------------------------------------------------------------------


def test_baseline_round_trip(lw: pytest.Pytester) -> None:
    test_file = write(lw, "test_leaky.py", LEAKY)
    result = run(lw, "--leakwatch", "--leakwatch-update-baseline", "--leakwatch-baseline=base.json")
    assert outcomes(result) == {"test_leaky": {"PASSED"}, "test_clean": {"PASSED"}}
    result.stdout.fnmatch_lines(["baseline written: base.json (1 scopes with leaks)"])
    baseline = read_json(lw.path / "base.json")
    assert list(baseline["entries"]) == ["test_leaky.py::test_leaky"]

    result = run(lw, "--leakwatch", "--leakwatch-baseline=base.json")
    assert outcomes(result) == {"test_leaky": {"PASSED"}, "test_clean": {"PASSED"}}
    result.stdout.fnmatch_lines(["1 in the baseline (not failing), in 1 test"])

    # A new leak, in a test that had none: it fails, the old one still passes.
    test_file.write_text(
        test_file.read_text().replace(
            "def test_clean():\n    pass", "def test_clean():\n    KEEP.append(open(__file__))"
        )
    )
    result = run(lw, "--leakwatch", "--leakwatch-baseline=base.json")
    assert outcomes(result) == {"test_leaky": {"PASSED"}, "test_clean": {"FAILED"}}


FIXTURE_FAILS = """
import socket

import pytest

import leakwatch as lw_api

KEEP = []

def test_watch_fails(leakwatch):
    with leakwatch.watch(kinds=("fd",)):
        KEEP.append(socket.socket())

def test_check_fails(leakwatch):
    leakwatch.check(lambda: KEEP.append(socket.socket()), repeat=2, warmup=0, kinds=("fd",))

def test_watch_caught(leakwatch):
    with pytest.raises(lw_api.LeakError):
        with leakwatch.watch(kinds=("fd",)):
            KEEP.append(socket.socket())
"""


def test_summary_counts_the_tests_the_fixture_failed(lw: pytest.Pytester) -> None:
    write(lw, "test_own.py", FIXTURE_FAILS)
    # Only threads for the plugin itself: what fails comes from the fixture.
    result = run(lw, "--leakwatch", "--leakwatch-kinds=thread", "--leakwatch-json=leaks.json")
    assert outcomes(result) == {
        "test_watch_fails": {"FAILED"},
        "test_check_fails": {"FAILED"},
        "test_watch_caught": {"PASSED"},
    }
    result.stdout.fnmatch_lines(["*= leakwatch =*", "3 leaks found in 2 tests:", "  fd"])
    result.stdout.no_fnmatch_line("no leaks found")
    data = read_json(lw.path / "leaks.json")
    assert data["summary"] == {"leaks": 3, "tests": 2, "fixtures": 0, "by_kind": {"fd": 3}}
    by_test = {t["nodeid"].rsplit("::", 1)[-1]: t for t in data["tests"]}
    assert set(by_test) == {"test_watch_fails", "test_check_fails"}
    assert {t["phase"] for t in by_test.values()} == {"call"}
    assert {t["judged"] for t in by_test.values()} == {"fixture"}
