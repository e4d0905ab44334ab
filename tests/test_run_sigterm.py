"""SIGTERM under ``leakwatch run`` (what CI sends at a timeout): the reports are
written, marked not judged, and the process dies of the signal as python's would;
a program's own SIGTERM handler works as under python."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import TIMEOUT, env_for, load, of_kind, script

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

WAITS = """\
import socket, time
KEPT = socket.socket()  # leaks
print("ready", flush=True)
time.sleep(60)
"""

OWN_HANDLER = """\
import signal, sys, time

def stop(signum, frame):
    print("stopping cleanly", flush=True)
    sys.exit(7)

signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(60)
"""


def _terminated(
    tmp_path: Path, *args: str, python: bool = False, after: str = ""
) -> tuple[int, str, str]:
    """Start the program, send SIGTERM once it printed "ready" (and ``after`` on
    stderr), wait for it."""
    command = [sys.executable, *args] if python else [sys.executable, "-m", "leakwatch", *args]
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env_for(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready == "ready\n", ready
        seen = ""
        while after not in seen:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            assert line, f"{after!r} never came; got {seen!r}"
            seen += line
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT)
        err = seen + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, ready + out, err


def test_sigterm_writes_the_reports_not_judged_and_dies_of_the_signal(tmp_path: Path) -> None:
    script(tmp_path, "prog.py", WAITS)
    status, out, err = _terminated(
        tmp_path, "run", "--json", "out.json", "--html", "out.html", "prog.py"
    )
    assert status == -signal.SIGTERM  # as python's own death: a shell says 143
    assert _terminated(tmp_path, "prog.py", python=True)[0] == -signal.SIGTERM
    assert out == "ready\n"
    assert "(terminated by SIGTERM: reported, not judged)" in err
    data = load(tmp_path / "out.json")
    assert data["block_failed"] is True
    assert data["program"]["ended_by"] == "terminated"
    assert data["program"]["exit_status"] == 128 + signal.SIGTERM
    assert of_kind(data, "fd")  # listed, as after Ctrl-C
    assert "terminated by SIGTERM" in (tmp_path / "out.html").read_text(encoding="utf-8")


def test_programs_own_sigterm_handler_works_as_under_python(tmp_path: Path) -> None:
    script(tmp_path, "prog.py", OWN_HANDLER)
    status, out, _ = _terminated(tmp_path, "run", "-q", "--json", "out.json", "prog.py")
    assert (status, out) == _terminated(tmp_path, "prog.py", python=True)[:2]
    assert (status, out) == (7, "ready\nstopping cleanly\n")
    data = load(tmp_path / "out.json")
    assert data["block_failed"] is False and data["program"]["ended_by"] == "exit"


def test_sigterm_after_the_report_ends_the_wait_for_threads_as_python(tmp_path: Path) -> None:
    # The final look is done (judged, written); python's shutdown then waits for
    # a thread that never ends, and SIGTERM kills it as it would kill python.
    script(
        tmp_path,
        "prog.py",
        "import threading\n"
        "threading.Thread(target=threading.Event().wait, name='stuck').start()\n"
        "print('ready', flush=True)\n",
    )
    status, _, err = _terminated(
        tmp_path,
        *("run", "-q", "--join-timeout", "0.5", "--json", "out.json", "prog.py"),
        after="python waits for 1 non-daemon thread(s)",
    )
    assert status == -signal.SIGTERM
    data = load(tmp_path / "out.json")
    assert data["block_failed"] is False  # judged: the program itself had ended
    assert of_kind(data, "thread")
    assert "python waits for 1 non-daemon thread(s)" in err


def test_pool_terminated_by_the_program_is_not_disturbed(tmp_path: Path) -> None:
    # Pool.terminate() sends SIGTERM to its forked workers: they die as under
    # python, and write no report of their own.
    script(
        tmp_path,
        "prog.py",
        "import multiprocessing as mp, signal\n"
        "def handler(_):\n"
        "    return all(signal.getsignal(s) == signal.SIG_DFL\n"
        "               for s in (signal.SIGTERM, signal.SIGUSR1))\n"
        "if __name__ == '__main__':\n"
        "    with mp.get_context('fork').Pool(2) as p:\n"
        "        print(p.map(handler, [1, 2]))\n",
    )
    result = subprocess.run(
        [sys.executable, "-m", "leakwatch", "run", "prog.py"],
        cwd=tmp_path,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[True, True]\n"  # the default action, as under python
    assert result.stderr.count("leakwatch: no leaks in prog.py") == 1
    assert "SIGTERM" not in result.stderr
