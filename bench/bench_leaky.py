"""What a suite full of leaks costs: every test leaks one resource, side by side with plain.

The first run on a legacy suite is where a team decides whether to keep the
tool, and there most tests may leak.  This generates ``--tests`` tests in a
temporary directory, each leaving one resource of a kind alive, and runs them
plain (``-p no:leakwatch``) and under ``--leakwatch`` as subprocesses,
interleaved for ``--rounds`` rounds.  Kinds:

    socket   a socket a module list keeps (held by a global: nothing can free it)
    pipe     both ends of ``os.pipe()`` (no Python object: a gc pass must decide)
    thread   a thread waiting on an event nobody sets (daemon)
    waiting  a thread in ``Event().wait(60)``: a timed wait, on an event only
             its own target holds (a worker whose queue nobody kept)
    tempdir  ``tempfile.mkdtemp()`` never removed
    zombie   a child that exited and was never waited for, its ``Popen`` kept

``--idle-worker`` starts one more thread as the suite is imported, asleep in
a timed lock acquire the way a thread cache's idle worker is (trio's,
anyio's): settling cannot tell what such a thread will do when it wakes.

Prints the median wall and CPU seconds of each mode and the cost per leak
(the difference over the number of tests), and checks every test failed
under leakwatch.  Asserts nothing.  Run:
``python bench/bench_leaky.py [--tests 200] [--rounds 3] [--kinds socket,pipe] [--idle-worker]``;
``--code DIR`` (repeated) measures source trees side by side, round by round
(a change against the code before it).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BODIES = {
    "socket": "KEPT.append(socket.socket())",
    "pipe": "KEPT.append(os.pipe())",
    "thread": "threading.Thread(target=NEVER.wait, daemon=True).start()",
    "waiting": "threading.Thread(target=threading.Event().wait, args=(60,), daemon=True).start()",
    "tempdir": "KEPT.append(tempfile.mkdtemp())",
    "zombie": "KEPT.append(zombie())",
}

HEADER = """import os, socket, subprocess, tempfile, threading
KEPT = []
NEVER = threading.Event()

def zombie():
    child = subprocess.Popen(["true"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
    return child
"""


IDLE_WORKER = """IDLE = threading.Lock()
IDLE.acquire()
threading.Thread(
    target=IDLE.acquire, kwargs={"timeout": 3600}, daemon=True, name="idle worker"
).start()
"""


def write_suite(where: Path, kind: str, tests: int, idle_worker: bool = False) -> Path:
    path = where / f"test_leaky_{kind}.py"
    body = BODIES[kind]
    header = HEADER + (IDLE_WORKER if idle_worker else "")
    path.write_text(header + "".join(f"\ndef test_{i}():\n    {body}\n" for i in range(tests)))
    (where / "pytest.ini").write_text("[pytest]\n")
    return path


def run(path: Path, *args: str, code: str | None = None) -> tuple[float, float, str]:
    """Wall and CPU seconds of one pytest process, and its last line.
    ``code``: a leakwatch source tree to run instead of the installed one."""
    # Bytecode is written (a warm run first: see main), else every run of a
    # tree with none (one given with --code) compiles it, a cost charged to
    # its leaks.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [code, env.get("PYTHONPATH")]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = out.stdout.strip().splitlines()
    return wall, cpu, lines[-1] if lines else out.stderr.strip()[-200:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kinds", default=",".join(BODIES))
    parser.add_argument("--idle-worker", action="store_true", help="one idle pool worker beside")
    parser.add_argument(
        "--code",
        action="append",
        metavar="DIR",
        help="a leakwatch source tree to measure (repeat to compare trees side by side, "
        "round by round); default: the installed leakwatch",
    )
    opts = parser.parse_args()
    codes: list[str | None] = [str(Path(c).resolve()) for c in opts.code] if opts.code else [None]
    print(f"{opts.tests} tests, each leaking one resource; {opts.rounds} interleaved rounds;")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{'kind':<8} {'plain':>14} {'leakwatch':>16} {'per leak':>18}  last line")
    with tempfile.TemporaryDirectory(prefix="lw-leaky-") as tmp:
        for kind in opts.kinds.split(","):
            where = Path(tmp) / kind
            where.mkdir()
            path = write_suite(where, kind, opts.tests, opts.idle_worker)
            plain: list[tuple[float, float]] = []
            watched: dict[str | None, list[tuple[float, float]]] = {c: [] for c in codes}
            last: dict[str | None, str] = {}
            run(path, "-p", "no:leakwatch")  # warm: bytecode and page cache
            for code in codes:
                run(path, "--leakwatch", code=code)
            for _ in range(opts.rounds):
                wall, cpu, _ = run(path, "-p", "no:leakwatch")
                plain.append((wall, cpu))
                for code in codes:
                    wall, cpu, last[code] = run(path, "--leakwatch", code=code)
                    watched[code].append((wall, cpu))
            pw, pc = (statistics.median(x) for x in zip(*plain, strict=True))
            for code in codes:
                lw, lc = (statistics.median(x) for x in zip(*watched[code], strict=True))
                per_wall = (lw - pw) / opts.tests * 1000
                per_cpu = (lc - pc) / opts.tests * 1000
                label = kind if code is None else f"{kind} {code}"
                print(
                    f"{label:<8} {pw:6.2f}s/{pc:5.2f}c {lw:7.2f}s/{lc:6.2f}c "
                    f"{per_wall:6.1f} ms/{per_cpu:5.1f} cpu  {last[code]}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
