"""The plugin's overhead on field-trial suites: plain and leakwatch, side by side.

A field trial (``run.py``) runs plain once and then each leakwatch mode, so
a busy moment lands on one mode only.  This alternates them instead: round
by round, plain then ``--leakwatch`` (default kinds), for each suite, with
the recipe's arguments, environment and deselects, in the venv the trial
made (``run.py SUITE --prepare`` makes it).  It prints the median wall and
CPU time of each mode (pytest start-up and collection included) and their
ratios, plus the spread.  Outcomes are not compared here: the trial does.
Asserts nothing.

    python bench/field/overhead.py starlette click httpx --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

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


def one_run(recipe: Recipe, source: object, python: object, mode: str) -> tuple[float, float]:
    argv = [str(python), "-m", "pytest", *COMMON, *MODES[mode], *recipe.args]
    for nodeid in recipe.deselect:
        argv += ["--deselect", nodeid]
    argv += list(recipe.paths)
    cpu, t0 = child_cpu(), time.perf_counter()
    subprocess.run(
        argv,
        cwd=source,  # type: ignore[arg-type]
        env=run_env(recipe, python),  # type: ignore[arg-type]
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=recipe.timeout,
        check=False,
    )
    return time.perf_counter() - t0, child_cpu() - cpu


def measure(suite: str, rounds: int) -> None:
    recipe = Recipe.load(suite)
    source = unpack(recipe, fetch_sdist(recipe))
    python = make_venv(recipe, source)
    one_run(recipe, source, python, "plain")  # warm: bytecode, page cache
    times: dict[str, list[tuple[float, float]]] = {"plain": [], "default": []}
    for index in range(rounds):
        order = ("plain", "default") if index % 2 == 0 else ("default", "plain")
        for mode in order:
            times[mode].append(one_run(recipe, source, python, mode))
    wall = {m: statistics.median(w for w, _ in t) for m, t in times.items()}
    cpu = {m: statistics.median(c for _, c in t) for m, t in times.items()}
    spread = {m: (min(w for w, _ in t), max(w for w, _ in t)) for m, t in times.items()}
    print(
        f"{suite:10s} plain {wall['plain']:6.1f}s ({spread['plain'][0]:.1f}-"
        f"{spread['plain'][1]:.1f})  leakwatch {wall['default']:6.1f}s "
        f"({spread['default'][0]:.1f}-{spread['default'][1]:.1f})  "
        f"wall {wall['default'] / wall['plain']:.2f}x  cpu {cpu['default'] / cpu['plain']:.2f}x",
        flush=True,
    )


def main() -> None:
    interruptible()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("suites", nargs="+", help=f"of {', '.join(recipe_names())}")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each mode")
    opts = parser.parse_args()
    for suite in opts.suites:
        measure(suite, opts.rounds)


if __name__ == "__main__":
    main()
