"""The pytest plugin's fixed cost per test, counted in instructions, not timed.

``bench_per_test.py`` times trivial tests, and its figures move by about
10% from run to run on a shared machine: a change of a few microseconds a
test cannot be told from the spread.  Instructions do not move.  This runs
pytest on ``SHORT`` and ``LONG`` trivial tests (``def test_N(): pass``),
plain and under ``--leakwatch``, each under valgrind's callgrind, and reads
the user-space instructions of the whole process (all its threads): the
difference over ``LONG - SHORT`` tests is what one test costs, start-up
and collection of the rest taken out.  ``--code DIR`` (repeated) counts
leakwatch source trees side by side (a change against the code before it).

Instructions are not time: they do not see cache misses or the kernel's
side of a system call (the ``/proc`` reads of each look), so read them as
the cost's floor and as a steady yardstick for a change; ``bench_per_test.py``
gives the time.  Needs valgrind (``apt-get install valgrind``); takes a few
minutes.  Prints figures; asserts nothing.

    python bench/bench_per_test_count.py [--short N] [--long N] [--code DIR ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import callgrind_summary, child_env

COMMON = ("-q", "-p", "no:cacheprovider", "-p", "no:randomly")
PLAIN = ("-p", "no:leakwatch")
LEAKWATCH = ("--leakwatch",)


def _env(code: str | None) -> dict[str, str]:
    env = child_env()
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [code, env.get("PYTHONPATH")]))
    return env


def warm(where: Path, args: tuple[str, ...], tests: str, code: str | None) -> None:
    """One run outside valgrind first: the test files and a tree's modules
    compiled and their bytecode written, so neither count pays for it (plain's
    count, run first, had paid for compiling the test files)."""
    argv = [sys.executable, "-m", "pytest", *COMMON, *args, tests]
    env = {k: v for k, v in _env(code).items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(argv, cwd=where, env=env, capture_output=True, check=False)


def count(where: Path, args: tuple[str, ...], tests: str, code: str | None) -> int:
    """Instructions of one pytest process, every thread."""
    out = where / "cg.out"
    for old in where.glob("cg.out*"):
        old.unlink()
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    argv += [sys.executable, "-m", "pytest", *COMMON, *args, tests]
    done = subprocess.run(argv, cwd=where, env=_env(code), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"pytest {' '.join(args)} failed under valgrind:\n{done.stdout[-2000:]}")
    return sum(map(callgrind_summary, where.glob("cg.out*")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", type=int, default=100)
    parser.add_argument("--long", type=int, default=400)
    parser.add_argument("--code", action="append", default=[], help="a leakwatch source tree")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("bench_per_test_count.py: needs valgrind (apt-get install valgrind)")
    modes: list[tuple[str, tuple[str, ...], str | None]] = [("plain", PLAIN, None)]
    modes += [(f"leakwatch {c}", LEAKWATCH, c) for c in args.code] or [
        ("leakwatch", LEAKWATCH, None)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        for n in (args.short, args.long):
            body = "".join(f"def test_{i}():\n    pass\n" for i in range(n))
            (where / f"test_{n}.py").write_text(body)
        per: dict[str, float] = {}
        for mode, flags, code in modes:
            warm(where, flags, f"test_{args.long}.py", code)
            short = count(where, flags, f"test_{args.short}.py", code)
            long = count(where, flags, f"test_{args.long}.py", code)
            per[mode] = (long - short) / (args.long - args.short)
    base = per["plain"]
    print(
        f"instructions per trivial test (callgrind; {args.long} less {args.short} tests,"
        " every thread)"
    )
    for mode, _, _ in modes:
        extra = "" if mode == "plain" else f"   leakwatch's own {per[mode] - base:10,.0f}"
        print(f"  {mode:<12} {per[mode]:12,.0f}{extra}")


if __name__ == "__main__":
    main()
