"""``TEST_RUNNER = "leakwatch.django.DiscoverRunner"``: a real Django project
(examples/djangoapp: sqlite, one app, the test client), run by ``manage.py
test`` in a subprocess.  The view test that leaks a socket fails with the
view's line; the clean ones pass."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import EXAMPLES, TIMEOUT, env_for

pytest.importorskip("django")

VIEWS = (EXAMPLES / "djangoapp" / "notes" / "views.py").read_text()
SOCKET_LINE = next(i for i, line in enumerate(VIEWS.splitlines(), 1) if "socket.socket(" in line)


def test_manage_py_test_fails_the_leaky_view_test(tmp_path: Path) -> None:
    project = tmp_path / "djangoapp"
    shutil.copytree(
        EXAMPLES / "djangoapp", project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3")
    )
    run = subprocess.run(
        [sys.executable, "manage.py", "test", "-v", "2", "--leakwatch-json", "out.json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env_for(tmp_path),
        stdin=subprocess.DEVNULL,
    )
    err = run.stderr
    assert run.returncode == 1, err
    assert "FAIL: test_status (notes.tests.StatusView" in err
    assert "leakwatch: 1 fd leak in call: socket" in err
    assert f"created at notes/views.py:{SOCKET_LINE}" in err
    assert "test_add_then_list (notes.tests.NoteViews" in err
    assert "test_list_over_http (notes.tests.LiveServer" in err
    assert err.count(" ... ok") == 3
    assert "FAILED (failures=1)" in err
    data = json.loads((project / "out.json").read_text())
    assert data["schema"] == "leakwatch.session/1"
    assert [t["nodeid"] for t in data["tests"] if t["leaks"]] == [
        "notes.tests.StatusView.test_status"
    ]


def test_without_django_the_import_error_says_so(tmp_path: Path) -> None:
    code = "import sys; sys.modules['django'] = None; import leakwatch.django"
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env_for(tmp_path),
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 1
    assert "ImportError: leakwatch.django needs Django: pip install 'pyleakwatch[django]'" in (
        run.stderr
    )
