"""Child processes that children start: the child's, not the running test's.

A wider fixture's worker process (execnet's gateways, a pool of workers, a
server that forks per request) starts processes of its own while tests run.
Each grandchild belongs to the child that started it, and so to whoever owns
that child: a test is charged only for the descendants of its own children.
"""

from __future__ import annotations

import pytest
from support.plugin_runs import line_of, outcomes, prepare, run, write


@pytest.fixture
def lw(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


def test_a_grandchild_is_its_parents_whoever_runs_the_test(lw: pytest.Pytester) -> None:
    path = write(
        lw,
        "test_workers.py",
        """
        import subprocess, sys
        import pytest

        SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
        # A worker that starts a sleeper per line it reads and keeps them all,
        # ending them when its input ends: it owns its children.
        WORKER = (
            "import subprocess, sys\\n"
            f"kids = []\\n"
            "for line in sys.stdin:\\n"
            f"    kids.append(subprocess.Popen({SLEEPER!r}))\\n"
            "    print(kids[-1].pid, flush=True)\\n"
            "for kid in kids:\\n"
            "    kid.kill()\\n"
            "    kid.wait()\\n"
        )
        KEEP = []

        @pytest.fixture(scope="session")
        def worker():
            proc = subprocess.Popen(
                [sys.executable, "-c", WORKER],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
            yield proc
            proc.stdin.close()
            proc.wait(30)
            proc.stdout.close()

        def ask(worker):
            worker.stdin.write("go\\n")
            worker.stdin.flush()
            return int(worker.stdout.readline())

        def test_first_request_starts_the_worker(worker):
            # The test also runs the same command itself, and waits for it: the
            # worker's sleeper has that command line, and is still not the test's.
            own = subprocess.Popen(SLEEPER)
            own.kill()
            own.wait()
            assert ask(worker) > 0

        def test_later_request(worker):
            own = subprocess.Popen(SLEEPER)
            own.kill()
            own.wait()
            assert ask(worker) > 0

        def test_forgets_its_own_sleeper():
            KEEP.append(subprocess.Popen(SLEEPER))  # <- own child

        def test_last():
            for proc in KEEP:
                proc.kill()
                proc.wait()
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_first_request_starts_the_worker": {"PASSED"},
        "test_later_request": {"PASSED"},
        "test_forgets_its_own_sleeper": {"FAILED"},
        "test_last": {"PASSED"},
    }, result.stdout.str()
    line = line_of(path, "# <- own child")
    result.stdout.fnmatch_lines(
        [f"leakwatch: 1 process leak in call: * at test_workers.py:{line}*"]
    )


def test_a_grandchild_of_the_tests_own_child_is_the_tests(lw: pytest.Pytester) -> None:
    path = write(
        lw,
        "test_spawner.py",
        """
        import subprocess, sys, time

        # A child that starts a sleeper and exits at once: the sleeper is left
        # (an orphan the child never waited for), the test's doing.
        LAUNCH = (
            "import subprocess, sys\\n"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\\n"
            "print(p.pid, flush=True)\\n"
            "sys.stdin.read()\\n"
        )
        KEEP = []

        def test_keeps_a_launcher_and_its_sleeper():
            proc = subprocess.Popen(  # <- launcher
                [sys.executable, "-c", LAUNCH], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            KEEP.append((proc, int(proc.stdout.readline())))

        def test_last():
            import os, signal
            for proc, sleeper in KEEP:
                os.kill(sleeper, signal.SIGKILL)
                proc.stdin.close()
                proc.wait(30)
                proc.stdout.close()
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_keeps_a_launcher_and_its_sleeper": {"FAILED"},
        "test_last": {"PASSED"},
    }, result.stdout.str()
    line = line_of(path, "# <- launcher")
    # The launcher and the sleeper it started (with the launcher's pipes), both
    # at the test's line, both held by the test's list through the launcher.
    result.stdout.fnmatch_lines(
        [
            f"leakwatch: 4 leaks (fd, process) in call: * at test_spawner.py:{line}*",
            "  process  process * x2",
            f"*created at test_spawner.py:{line} in test_keeps_a_launcher_and_its_sleeper",
        ]
    )
