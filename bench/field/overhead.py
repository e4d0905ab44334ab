"""The plugin's overhead on field-trial suites: plain and leakwatch, side by side.

A field trial (``run.py``) runs plain once and then each leakwatch mode, so
a busy moment lands on one mode only.  This alternates them instead: round
by round, plain then ``--leakwatch`` (default kinds), for each suite, with
the recipe's arguments, environment and deselects, in the venv the trial
made (``run.py SUITE --prepare`` makes it).  It prints the median wall and
CPU time of each mode (pytest start-up and collection included) and their
ratios, plus the spread.  Outcomes are not compared here: the trial does.
``--code DIR`` (repeated) runs leakwatch from each source tree in turn, each
its own mode beside plain in every round (a change against the code before
it: ``git worktree add`` the older commit).  Asserts nothing.

    python bench/field/overhead.py starlette click httpx --rounds 5
    python bench/field/overhead.py anyio --code ../old --code . --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

from run import (
    COMMON,
    MODES,
    Recipe,
    child_cpu,
    fetch_sdist,
    interruptible,
    make_venv,
    recipe_names,
    run_env,
    unpack,
)


def one_run(
    recipe: Recipe, source: object, python: object, mode: str, code: str | None = None
) -> tuple[float, float]:
    argv = [str(python), "-m", "pytest", *COMMON, *MODES[mode], *recipe.args]
    env = run_env(recipe, python)  # type: ignore[arg-type]
    if code is not None:  # this tree's leakwatch before the venv's own
        env["PYTHONPATH"] = os.pathsep.join(p for p in (code, env.get("PYTHONPATH")) if p)
    for nodeid in recipe.deselect:
        argv += ["--deselect", nodeid]
    argv += list(recipe.paths)
    cpu, t0 = child_cpu(), time.perf_counter()
    subprocess.run(
        argv,
        cwd=source,  # type: ignore[arg-type]
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=recipe.timeout,
        check=False,
    )
    return time.perf_counter() - t0, child_cpu() - cpu


def measure(suite: str, rounds: int, codes: list[str]) -> None:
    recipe = Recipe.load(suite)
    source = unpack(recipe, fetch_sdist(recipe))
    python = make_venv(recipe, source)
    # Each mode: (name, pytest mode, code tree); plain first, then leakwatch's.
    modes = [("plain", "plain", None)]
    if codes:
        modes += [(Path(c).name or c, "default", str(Path(c).resolve())) for c in codes]
    else:
        modes.append(("leakwatch", "default", None))
    for _, mode, code in modes:  # warm: bytecode (each tree's), page cache
        one_run(recipe, source, python, mode, code)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in modes}
    for index in range(rounds):
        for name, mode, code in modes if index % 2 == 0 else modes[::-1]:
            times[name].append(one_run(recipe, source, python, mode, code))
    wall = {m: statistics.median(w for w, _ in t) for m, t in times.items()}
    cpu = {m: statistics.median(c for _, c in t) for m, t in times.items()}
    spread = {m: (min(w for w, _ in t), max(w for w, _ in t)) for m, t in times.items()}
    low, high = spread["plain"]
    line = f"{suite:10s} plain {wall['plain']:6.1f}s ({low:.1f}-{high:.1f})"
    for name, _, _ in modes[1:]:
        line += (
            f"  {name} {wall[name]:6.1f}s ({spread[name][0]:.1f}-{spread[name][1]:.1f})"
            f" wall {wall[name] / wall['plain']:.2f}x cpu {cpu[name] / cpu['plain']:.2f}x"
        )
    print(line, flush=True)


def main() -> None:
    interruptible()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("suites", nargs="+", help=f"of {', '.join(recipe_names())}")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each mode")
    parser.add_argument(
        "--code", action="append", default=[], help="a leakwatch source tree (repeatable)"
    )
    opts = parser.parse_args()
    for suite in opts.suites:
        measure(suite, opts.rounds, opts.code)


if __name__ == "__main__":
    main()
