"""``leakwatch run`` runs a program as python would: argv, sys.path, __main__, stdin, status."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.cli import EXIT_LEAKS, TIMEOUT, env_for, leakwatch, load, of_kind, script

SHOW = """\
import json, sys
print(json.dumps({"argv": sys.argv, "path0": sys.path[0], "name": __name__,
                  "file": __file__, "spec": getattr(__spec__, "name", None)}))
"""


def shown(out: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(out.splitlines()[0])
    return data


def test_script_sees_argv_path_and_main_as_under_python(tmp_path: Path) -> None:
    prog = script(tmp_path, "app/show.py", SHOW)
    # Options after the script are the script's, even ones leakwatch also has.
    result = leakwatch("run", "--quiet", "app/show.py", "a", "--json", "x.json", "-v", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seen = shown(result.stdout)
    assert seen["argv"] == ["app/show.py", "a", "--json", "x.json", "-v"]
    assert seen["path0"] == str(prog.parent)
    assert seen["name"] == "__main__"
    assert seen["file"] == str(prog)
    assert seen["spec"] is None
    assert not (tmp_path / "x.json").exists()  # --json went to the script, not to leakwatch


def test_module_runs_with_cwd_on_path(tmp_path: Path) -> None:
    script(tmp_path, "pkg/__init__.py", "")
    mod = script(tmp_path, "pkg/show.py", SHOW)
    script(tmp_path, "pkg/__main__.py", "import sys\nprint('package main', sys.argv[1:])\n")
    result = leakwatch("run", "-q", "-m", "pkg.show", "one", "--two", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    seen = shown(result.stdout)
    assert seen["argv"] == [str(mod), "one", "--two"]
    assert seen["path0"] == str(tmp_path)
    assert seen["name"] == "__main__"
    assert seen["spec"] == "pkg.show"

    package = leakwatch("run", "-q", "-m", "pkg", "x", cwd=tmp_path)
    assert package.returncode == 0, package.stderr
    assert package.stdout.strip() == "package main ['x']"


def test_stdin_reaches_the_program(tmp_path: Path) -> None:
    script(tmp_path, "upper.py", "import sys\nprint(sys.stdin.read().upper(), end='')\n")
    result = leakwatch("run", "-q", "upper.py", cwd=tmp_path, stdin="hello\nworld\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "HELLO\nWORLD\n"


def test_uncaught_exception_prints_traceback_and_exits_1(tmp_path: Path) -> None:
    prog = script(tmp_path, "boom.py", "def fail():\n    raise ValueError('boom')\n\nfail()\n")
    result = leakwatch("run", "--json", "out.json", "boom.py", cwd=tmp_path)
    assert result.returncode == 1
    plain = subprocess.run(
        [sys.executable, str(prog)], capture_output=True, text=True, cwd=tmp_path
    )
    traceback = result.stderr[: result.stderr.index("ValueError: boom") + len("ValueError: boom")]
    # The same traceback python prints: the program's frames, none of leakwatch's or runpy's.
    assert plain.stderr.strip() == traceback.strip()
    assert load(tmp_path / "out.json")["program"]["exit_status"] == 1


def test_system_exit_code_passes_through(tmp_path: Path) -> None:
    script(tmp_path, "three.py", "import sys\nsys.exit(3)\n")
    result = leakwatch("run", "--json", "out.json", "three.py", cwd=tmp_path)
    assert result.returncode == 3
    data = load(tmp_path / "out.json")
    assert data["leaks"] == []
    assert data["program"]["exit_status"] == 3

    script(tmp_path, "message.py", "raise SystemExit('bad input')\n")
    result = leakwatch("run", "-q", "message.py", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "bad input"


def test_keyboard_interrupt_exits_130_with_traceback(tmp_path: Path) -> None:
    script(tmp_path, "interrupted.py", "def wait():\n    raise KeyboardInterrupt\n\nwait()\n")
    result = leakwatch("run", "-q", "interrupted.py", cwd=tmp_path)
    assert result.returncode == 130
    assert 'interrupted.py", line 2, in wait' in result.stderr
    assert result.stderr.rstrip().endswith("KeyboardInterrupt")


def test_failed_program_keeps_its_status_even_when_it_leaks(tmp_path: Path) -> None:
    script(
        tmp_path, "leak_and_fail.py", "import socket\nKEEP = socket.socket()\nraise SystemExit(5)\n"
    )
    result = leakwatch("run", "--json", "out.json", "leak_and_fail.py", cwd=tmp_path)
    assert result.returncode == 5
    assert of_kind(load(tmp_path / "out.json"), "fd")


def test_exit_zero_returns_the_programs_status(tmp_path: Path) -> None:
    script(tmp_path, "leaky.py", "import socket\nKEEP = socket.socket()\n")
    leaky = leakwatch("run", "--json", "out.json", "leaky.py", cwd=tmp_path)
    assert leaky.returncode == EXIT_LEAKS
    zero = leakwatch("run", "--exit-zero", "--json", "out.json", "leaky.py", cwd=tmp_path)
    assert zero.returncode == 0
    assert of_kind(load(tmp_path / "out.json"), "fd")  # still reported, just not failing


def test_missing_script_and_module_fail_as_python_does(tmp_path: Path) -> None:
    missing = leakwatch("run", "nope.py", cwd=tmp_path)
    assert missing.returncode == 2
    assert "can't open file" in missing.stderr and "nope.py" in missing.stderr
    module = leakwatch("run", "-m", "no_such_module_here", cwd=tmp_path)
    assert module.returncode == 1
    assert "No module named no_such_module_here" in module.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "a script or -m module is required"),
        (("-m",), "expected a module name"),
        (("--interval", "soon", "x.py"), "argument --interval"),
        (("--interval", "0", "x.py"), "argument --interval"),
        (("--bogus", "x.py"), "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = leakwatch("run", *args, cwd=tmp_path)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("leakwatch run: error:") and message in last
    assert "Traceback" not in result.stderr
    # the usage shown is run's, which names what run takes
    assert result.stderr.startswith("usage: leakwatch run [options] script.py")


def test_an_option_after_the_script_is_the_programs(tmp_path: Path) -> None:
    script(tmp_path, "args.py", "import sys\nprint(sys.argv[1:])\n")
    result = leakwatch("run", "-q", "args.py", "--bogus", "-v", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['--bogus', '-v']"


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.leakwatch]\nkindz = ['fd']\n", encoding="utf-8")
    script(tmp_path, "ok.py", "open('ran', 'w').close()\n")
    result = leakwatch("run", "ok.py", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "leakwatch: pyproject.toml [tool.leakwatch]: unknown key 'kindz' (did you mean 'kinds'?)"
    )
    assert not (tmp_path / "ran").exists()  # the program never started


def test_non_daemon_thread_blocked_forever_is_reported_and_no_wait_ends_the_run(
    tmp_path: Path,
) -> None:
    prog = script(
        tmp_path,
        "stuck.py",
        "import threading\n"
        "threading.Thread(target=threading.Event().wait, name='stuck').start()  # blocks\n"
        "print('main done')\n",
    )
    result = leakwatch(
        "run", "--no-wait", "--join-timeout", "0.2", "--json", "out.json", "stuck.py", cwd=tmp_path
    )  # TIMEOUT guards a hang
    assert result.returncode == EXIT_LEAKS
    assert "main done" in result.stdout
    assert "non-daemon thread(s) still running ('stuck')" in result.stderr
    (leak,) = of_kind(load(tmp_path / "out.json"), "thread")
    assert "'stuck' (non-daemon)" in leak["title"]
    assert (str(prog), 2) in [(f["filename"], f["lineno"]) for f in leak["origin"]]


def _read_until(fd: int, marker: bytes, timeout: float = TIMEOUT) -> bytes:
    """Read a pipe until ``marker`` shows up (or the process closes it)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{marker!r} never came; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        chunk = os.read(fd, 65536) if ready else b""
        if ready and not chunk:
            break
        seen += chunk
    return seen


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="SIGUSR1 is Unix only")
def test_sigusr1_prints_state_and_the_program_goes_on(tmp_path: Path) -> None:
    # The program waits in Python (a sleep that a signal interrupts) for a file
    # the test makes only once the state has been printed.
    script(
        tmp_path,
        "waits.py",
        "import os, time\n"
        "print('ready', flush=True)\n"
        "while not os.path.exists('go'): time.sleep(0.05)  # waiting here\n"
        "print('after')\n",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "leakwatch", "run", "-q", "waits.py"],
        cwd=tmp_path,
        env=env_for(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == b"ready\n"
        os.kill(proc.pid, signal.SIGUSR1)
        dump = _read_until(proc.stderr.fileno(), b"leakwatch: end of state", timeout=30).decode()
        (tmp_path / "go").touch()
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == b"after\n"
    assert "leakwatch: state of waits.py" in dump
    assert "thread 'MainThread' (main)" in dump
    assert re.search(r'waits.py", line [23], in <module>', dump), dump
    assert "leakwatch/" not in dump  # leakwatch's own frames are not part of the story
