"""``leakwatch run`` shuts a program down as python does: non-daemon threads
end, then its atexit handlers run, with the same output and exit status; the
final look is taken after the program's own clean-up."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import EXIT_LEAKS, TIMEOUT, env_for, leakwatch, load, of_kind, script

WORKER = """\
import atexit, threading, time

def work():
    time.sleep({sleep})
    print("worker done", flush=True)

@atexit.register
def flush():
    print("flushed results")

threading.Thread(target=work, name="worker").start()
print("main done")
"""


def _python(tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env_for(tmp_path),
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT,
    )


def test_non_daemon_thread_that_ends_is_waited_for_and_atexit_runs(tmp_path: Path) -> None:
    script(tmp_path, "prog.py", WORKER.format(sleep=0.8))
    result = leakwatch("run", "-q", "--json", "out.json", "prog.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == _python(tmp_path, "prog.py").stdout
    assert result.stdout == "main done\nworker done\nflushed results\n"
    data = load(tmp_path / "out.json")
    assert data["leaks"] == []
    assert data["stats"]["shutdown"]["atexit_run"] == 1


def test_thread_still_running_is_reported_then_waited_for_as_python_would(
    tmp_path: Path,
) -> None:
    script(tmp_path, "prog.py", WORKER.format(sleep=2.0))
    result = leakwatch(
        "run", "-q", "--join-timeout", "0.2", "--json", "out.json", "prog.py", cwd=tmp_path
    )
    assert result.returncode == EXIT_LEAKS
    # The program's shutdown still happens: the thread ends, then its handler runs.
    assert result.stdout == "main done\nworker done\nflushed results\n"
    (leak,) = of_kind(load(tmp_path / "out.json"), "thread")
    assert "'worker' (non-daemon)" in leak["title"]
    assert "python waits for 1 non-daemon thread(s) still running ('worker')" in result.stderr


def test_what_the_programs_atexit_handler_closes_is_not_a_leak(tmp_path: Path) -> None:
    script(
        tmp_path,
        "prog.py",
        "import atexit, socket\n"
        "CLOSED = socket.socket()\n"
        "atexit.register(CLOSED.close)\n"
        "KEPT = socket.socket()  # leaks\n",
    )
    result = leakwatch("run", "-q", "--json", "out.json", "prog.py", cwd=tmp_path)
    assert result.returncode == EXIT_LEAKS
    (leak,) = of_kind(load(tmp_path / "out.json"), "fd")
    assert leak["origin"][-1]["lineno"] == 4


def test_a_librarys_atexit_safety_net_does_not_hide_a_leak(tmp_path: Path) -> None:
    # logging closes every handler at exit (its own atexit handler): the file
    # the program never closed is still the program's leak.
    script(
        tmp_path,
        "prog.py",
        "import atexit, logging\n"
        "atexit.register(print, 'bye')\n"
        "logging.getLogger('app').addHandler(logging.FileHandler('app.log'))  # leaks\n",
    )
    result = leakwatch("run", "-q", "--json", "out.json", "prog.py", cwd=tmp_path)
    assert result.returncode == EXIT_LEAKS
    assert result.stdout == "bye\n"
    (leak,) = of_kind(load(tmp_path / "out.json"), "fd")
    assert "app.log" in leak["title"]


@pytest.mark.parametrize(
    ("ending", "status"),
    [("import sys; sys.exit(3)", 3), ("raise ValueError('boom')", 1), ("pass", 0)],
    ids=["sys.exit", "raise", "return"],
)
def test_atexit_output_and_status_are_pythons(tmp_path: Path, ending: str, status: int) -> None:
    script(
        tmp_path,
        "prog.py",
        "import atexit\n"
        "def bad():\n"
        "    raise RuntimeError('in handler')\n"
        "atexit.register(bad)\n"
        "import multiprocessing.util  # a library's handler between the program's\n"
        "atexit.register(print, 'first')\n"
        "atexit.register(print, 'registered last', 'runs first', sep=', ')\n"
        f"{ending}\n",
    )
    result = leakwatch("run", "-q", "prog.py", cwd=tmp_path)
    plain = _python(tmp_path, "prog.py")
    assert (
        (result.returncode, result.stdout)
        == (plain.returncode, plain.stdout)
        == (
            status,
            "registered last, runs first\nfirst\n",
        )
    )
    assert _without_addresses(result.stderr) == _without_addresses(plain.stderr)
    assert "RuntimeError: in handler" in result.stderr


def _without_addresses(text: str) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def test_os_exit_ends_at_once_as_under_python(tmp_path: Path) -> None:
    script(
        tmp_path,
        "prog.py",
        "import atexit, os\natexit.register(print, 'never')\nprint('before', flush=True)\n"
        "os._exit(4)\n",
    )
    result = leakwatch("run", "-q", "--json", "out.json", "prog.py", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (4, "before\n")
    assert not (tmp_path / "out.json").exists()  # nothing runs after os._exit, not even leakwatch
