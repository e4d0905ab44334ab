"""``python -m leakwatch.unittest``: unittest's own run, every test watched.

Real subprocesses: the same suite run by plain ``python -m unittest`` and by
leakwatch's runner, compared line by line; leaks fail the test that made
them (``FAIL: test_x (module.Class.test_x)``), a class's ``setUpClass``
resources are the class's, skips and expected failures are left alone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.cli import TIMEOUT, env_for

LEAKY = """
import asyncio, socket, threading, unittest

KEEP = []

class Leaky(unittest.TestCase):
    def test_leaks_socket(self):
        KEEP.append(socket.socket())

    def test_clean(self):
        with socket.socket():
            pass

class ClassOwned(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = socket.socket()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_uses_it(self):
        self.assertIsNotNone(self.server)

class ClassLeaks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        KEEP.append(socket.socket())

    def test_first(self):
        pass

class Sub(unittest.TestCase):
    def test_sub(self):
        for i in range(3):
            with self.subTest(i=i):
                if i == 1:
                    KEEP.append(socket.socket())

    @unittest.skip("not today")
    def test_skipped(self):
        KEEP.append(socket.socket())

    @unittest.expectedFailure
    def test_xfail(self):
        KEEP.append(socket.socket())
        self.fail("expected")

class Async(unittest.IsolatedAsyncioTestCase):
    async def test_task_leak(self):
        asyncio.get_running_loop().create_task(asyncio.sleep(100))

    async def test_task_clean(self):
        await asyncio.create_task(asyncio.sleep(0.001))

    async def asyncSetUp(self):
        self.ready = asyncio.Event()

    async def test_thread_leak(self):
        stop = threading.Event()
        KEEP.append(stop)
        threading.Thread(target=stop.wait, daemon=True).start()
"""

MODULES = {
    "test_modclean": """
import socket, unittest

def setUpModule():
    global SERVER
    SERVER = socket.socket()

def tearDownModule():
    SERVER.close()

class First(unittest.TestCase):
    def test_first(self):
        self.assertIsNotNone(SERVER)
""",
    "test_modleak": """
import socket, unittest

KEEP = []

def setUpModule():
    KEEP.append(socket.socket())

class First(unittest.TestCase):
    def test_first(self):
        pass
""",
}

CLEAN = """
import socket, unittest

class Clean(unittest.TestCase):
    def test_ok(self):
        with socket.socket():
            pass

    def test_fails(self):
        self.assertEqual(1, 2)

    def test_error(self):
        raise KeyError("k")

    def test_subtests(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertLess(i, 2)

    @unittest.skip("why")
    def test_skip(self):
        pass

    @unittest.expectedFailure
    def test_xfail(self):
        self.fail("x")

    @unittest.expectedFailure
    def test_xpass(self):
        pass
"""


Run = subprocess.CompletedProcess[str]


def _d(cls: str, name: str) -> str:
    """unittest's description of a test: ``name (module.Class.name)`` (3.11+)."""
    if sys.version_info >= (3, 11):
        return f"{name} (test_leaky.{cls}.{name})"
    return f"{name} (test_leaky.{cls})"


def _line(source: str, text: str, nth: int = 1) -> int:
    """The line number of the ``nth`` line of ``source`` holding ``text``."""
    hits = [i for i, line in enumerate(source.splitlines(), 1) if text in line]
    return hits[nth - 1]


def _run(
    tmp_path: Path, *args: str, module: str = "leakwatch.unittest"
) -> subprocess.CompletedProcess[str]:
    stop = {} if sys.platform == "win32" else {"start_new_session": False}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env_for(tmp_path),
        stdin=subprocess.DEVNULL,
        **stop,  # type: ignore[arg-type]
    )


def _blocks(err: str) -> dict[str, str]:
    """``FAIL: test_x (...)`` / ``ERROR: ...`` -> the text under it."""
    out = {}
    for block in err.split("=" * 70)[1:]:
        head, _, body = block.strip("\n").partition("\n")
        out[head] = body.split("-" * 70, 1)[1] if "-" * 70 in body else body
    return out


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    where = tmp_path_factory.mktemp("leaky")
    (where / "test_leaky.py").write_text(LEAKY)
    for name, source in MODULES.items():
        (where / f"{name}.py").write_text(source)
    report = where / "out" / "leaks.json"
    run = _run(where, "--leakwatch-json", str(report), "-v", "test_leaky", *MODULES)
    return where, run


def test_a_leaky_test_fails_in_unittests_terms(leaky) -> None:
    _, run = leaky
    assert run.returncode == 1, run.stderr
    blocks = _blocks(run.stderr)
    text = blocks[f"FAIL: {_d('Leaky', 'test_leaks_socket')}"]
    assert "leakwatch: 1 fd leak in call: socket" in text
    assert f"created at test_leaky.py:{_line(LEAKY, 'KEEP.append')}" in text
    assert "KEEP.append(socket.socket())" in text
    assert f"{_d('Leaky', 'test_clean')} ... ok" in run.stderr


def test_class_fixture_resources_are_the_classs(leaky) -> None:
    _, run = leaky
    assert f"{_d('ClassOwned', 'test_uses_it')} ... ok" in run.stderr
    assert f"{_d('ClassLeaks', 'test_first')} ... ok" in run.stderr
    text = _blocks(run.stderr)["ERROR: tearDownClass (test_leaky.ClassLeaks)"]
    assert "from class fixture 'ClassLeaks.setUpClass'" in text
    assert f"created at test_leaky.py:{_line(LEAKY, 'KEEP.append', 2)}" in text
    assert "tearDownClass (test_leaky.ClassOwned)" not in run.stderr


def test_module_fixture_resources_are_the_modules(leaky) -> None:
    _, run = leaky
    assert "test_first (test_modclean.First" in run.stderr
    assert "tearDownModule (test_modclean)" not in run.stderr
    assert "FAIL: test_first" not in run.stderr
    text = _blocks(run.stderr)["ERROR: tearDownModule (test_modleak)"]
    assert "from module fixture 'setUpModule'" in text
    assert "in setUpModule" in text


def test_subtest_skip_and_expected_failure(leaky) -> None:
    _, run = leaky
    blocks = _blocks(run.stderr)
    where = f"created at test_leaky.py:{_line(LEAKY, 'KEEP.append', 3)}"
    # the subtest that made it fails, as a failing subtest does under unittest
    assert where in blocks[f"FAIL: {_d('Sub', 'test_sub')} (i=1)"]
    assert f"FAIL: {_d('Sub', 'test_sub')}\n" not in run.stderr
    assert f"{_d('Sub', 'test_skipped')} ... skipped 'not today'" in run.stderr
    assert f"{_d('Sub', 'test_xfail')} ... expected failure" in run.stderr
    assert not [h for h in blocks if "test_xfail" in h or "test_skipped" in h]
    assert "tearDownClass (test_leaky.Sub)" not in run.stderr  # nobody else's


def test_isolated_asyncio_test_case(leaky) -> None:
    _, run = leaky
    blocks = _blocks(run.stderr)
    task = blocks[f"FAIL: {_d('Async', 'test_task_leak')}"]
    assert "task leak in call" in task and "still pending when its loop shut down" in task
    assert f"created at test_leaky.py:{_line(LEAKY, 'create_task(asyncio.sleep(100))')}" in task
    thread = blocks[f"FAIL: {_d('Async', 'test_thread_leak')}"]
    assert "thread leak" in thread
    assert f"test_leaky.py:{_line(LEAKY, 'threading.Thread(')}" in thread
    assert f"{_d('Async', 'test_task_clean')} ... ok" in run.stderr


def test_json_is_a_session_report_leakwatch_report_reads(leaky) -> None:
    where, run = leaky
    data = json.loads((where / "out" / "leaks.json").read_text())
    assert data["schema"] == "leakwatch.session/1"
    leaky_ids = {t["nodeid"] for t in data["tests"] if t["leaks"]}
    assert leaky_ids == {
        "test_leaky.Leaky.test_leaks_socket",
        "test_leaky.ClassLeaks",
        "test_leaky.Sub.test_sub (i=1)",
        "test_leaky.Async.test_task_leak",
        "test_leaky.Async.test_thread_leak",
        "test_modleak",
    }
    assert data["summary"]["tests"] == 4 and data["summary"]["fixtures"] == 2
    assert "leakwatch: 6 leaks found in 4 tests and 2 fixtures:" in run.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "leakwatch", "report", str(where / "out" / "leaks.json")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert shown.returncode == 23, shown.stderr  # leaks listed: the status leakwatch run gives
    assert "test_leaky.Leaky.test_leaks_socket" in shown.stdout


def _without_timing(text: str) -> str:
    return re.sub(r"Ran (\d+) tests? in [0-9.]+s", r"Ran \1 tests", text)


def test_output_is_unittests_apart_from_the_summary(tmp_path: Path) -> None:
    (tmp_path / "test_clean.py").write_text(CLEAN)
    plain = _run(tmp_path, "-v", "test_clean", module="unittest")
    watched = _run(tmp_path, "-v", "test_clean")
    assert watched.returncode == plain.returncode == 1
    assert watched.stdout == plain.stdout
    ours, _, summary = watched.stderr.rpartition("-" * 70 + "\nleakwatch: ")
    assert summary.startswith("no leaks found")
    assert _without_timing(ours) == _without_timing(plain.stderr)


def test_a_clean_suite_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "test_ok.py").write_text(
        textwrap.dedent(
            """
            import unittest
            class T(unittest.TestCase):
                def test_a(self):
                    self.assertTrue(True)
            """
        )
    )
    run = _run(tmp_path, "test_ok")
    assert run.returncode == 0, run.stderr
    assert "OK" in run.stderr and "leakwatch: no leaks found" in run.stderr


def test_a_bad_option_is_one_line(tmp_path: Path) -> None:
    run = _run(tmp_path, "--leakwatch-kinds=bogus", "discover")
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("leakwatch: ")
    assert "Traceback" not in run.stderr


BASELINED = """
import socket, unittest

KEEP = []

class T(unittest.TestCase):
    def test_leak(self):
        KEEP.append(socket.socket())

    def test_clean(self):
        pass
"""


def test_baseline_and_ignore_rules_from_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "test_b.py").write_text(BASELINED)
    rec = _run(tmp_path, "--leakwatch-update-baseline", "--leakwatch-baseline", "b.json", "test_b")
    assert rec.returncode == 0, rec.stderr
    assert "leakwatch: 1 leak recorded in 1 test:" in rec.stderr
    assert "baseline written: b.json" in rec.stderr
    again = _run(tmp_path, "--leakwatch-baseline=b.json", "test_b")
    assert again.returncode == 0, again.stderr
    assert "1 in the baseline (not failing), in 1 test" in again.stderr
    assert _run(tmp_path, "test_b").returncode == 1
    (tmp_path / "pyproject.toml").write_text(
        '[tool.leakwatch]\n[[tool.leakwatch.ignore]]\nreason = "kept on purpose"\nkind = "fd"\n'
    )
    ignored = _run(tmp_path, "test_b")
    assert ignored.returncode == 0, ignored.stderr
    assert "1 ignored by rules" in ignored.stderr
