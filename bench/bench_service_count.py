"""The service middleware's cost per request counted in instructions, not timed.

Timing cannot tell a 1% sample's cost from nothing on a shared machine: one
server process runs a few percent faster or slower than another, and even
every mode in one process (``bench_service_inproc.py``) moves by a few
microseconds from run to run.  Instructions do not move: this runs
``bench_service_inproc.py``'s requests (uvicorn's h11 protocol on uvloop,
the benchmark's ``/hello``, fed in-process) under valgrind's callgrind, one
process per mode and count, and reads the user-space instructions each
thread ran.  Each mode runs twice, with ``SHORT`` and ``LONG`` requests after
the same warm-up, so the difference over ``LONG - SHORT`` requests is what a
request costs, start-up and imports taken out.  The judge's thread is shown
apart from the loop's.

Instructions are not time: they do not see cache misses, so a part that
walks memory (the stack walk of a sampled request) costs more time than its
share of instructions says.  Read them as the cost's floor and its
breakdown's steady proportions; ``bench_service.py`` gives the time under a
real server.  Needs valgrind (``apt-get install valgrind``); takes about
four minutes.  Prints figures; asserts nothing.

    python bench/bench_service_count.py [short] [long]
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile

from _timing import callgrind_summary

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = ("none", "0.0", "0.01", "1.0")
WARM_UP = 300


def child(mode: str, n: int) -> None:
    sys.path.insert(0, HERE)
    import bench_service_inproc as inproc

    made = inproc.config(mode)
    inproc.one_round(made, WARM_UP)
    inproc.one_round(made, n)  # waits for the judge's batch: its cost is counted


def counts(mode: str, n: int) -> list[int]:
    """Instructions per thread (the main thread first) of one child run."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--separate-threads=yes",
                f"--callgrind-out-file={out}",
                sys.executable,
                os.path.abspath(__file__),
                "--child",
                mode,
                str(n),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        paths = sorted(glob.glob(out + "-*"), key=lambda p: int(p.rsplit("-", 1)[-1]))
        return [callgrind_summary(path) for path in paths]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("bench_service_count.py: needs valgrind (apt-get install valgrind)")
    short = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    long = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    per: dict[str, tuple[float, float]] = {}
    for mode in MODES:
        a, b = counts(mode, short), counts(mode, long)
        loop = (b[0] - a[0]) / (long - short)
        others = (sum(b[1:]) - sum(a[1:])) / (long - short)
        per[mode] = (loop, others)
    base = per["none"][0] + per["none"][1]
    print(
        f"/hello in-process, instructions per request (callgrind; {long} less {short}"
        " requests after the same warm-up)"
    )
    for mode in MODES:
        loop, others = per[mode]
        label = "no middleware" if mode == "none" else f"sample {float(mode):.0%}"
        print(
            f"  {label:<14} loop thread {loop:9,.0f}   other threads {others:8,.0f}"
            f"   all {loop + others:9,.0f} ({(loop + others) / base - 1:+6.2%})"
        )


if __name__ == "__main__":
    main()
