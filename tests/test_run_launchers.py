"""However leakwatch is started (its console script, ``python -m leakwatch``, from
another directory), the same leak has the same stack and the same baseline
signature: the frames that launched leakwatch are never the program's."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from support.cli import EXIT_LEAKS, TIMEOUT, env_for, leakwatch, load, script

LEAKY = "import socket\n\nKEEP = socket.socket()  # leaks\n"


def _console_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "leakwatch"
    assert exe.exists(), "the leakwatch console script is installed beside this python"
    return subprocess.run(
        [str(exe), *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env_for(cwd),
        timeout=TIMEOUT,
    )


def test_a_baseline_from_the_console_script_matches_under_python_m_elsewhere(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "checkout-a", tmp_path / "checkout-b"
    script(first, "leaky.py", LEAKY)
    written = _console_script(
        "run", "--json", "a.json", "--baseline", "base.json", "--update-baseline", "leaky.py",
        cwd=first,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    origin = load(first / "a.json")["leaks"][0]["origin"]
    assert [f["filename"] for f in origin] == [str(first / "leaky.py")], origin

    shutil.copytree(first, second)
    again = leakwatch("run", "--json", "b.json", "--baseline", "base.json", "leaky.py", cwd=second)
    assert again.returncode == 0, again.stdout + again.stderr
    data = load(second / "b.json")
    assert data["leaks"] == [] and len(data["baselined"]) == 1

    # The look-alike: a leak made elsewhere, which the baseline does not list, fails.
    script(
        second,
        "leaky.py",
        LEAKY + "\n\ndef pair():\n    return socket.socketpair()\n\n\nMORE = pair()\n",
    )
    worse = leakwatch("run", "--json", "c.json", "--baseline", "base.json", "leaky.py", cwd=second)
    assert worse.returncode == EXIT_LEAKS
    (new,) = load(second / "c.json")["leaks"]
    assert [(f["function"], f["lineno"]) for f in new["origin"]] == [("<module>", 10), ("pair", 7)]
