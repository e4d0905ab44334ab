"""pytest plugin overhead on a real outside suite: click's own tests, side by side.

Downloads click's sdist (8.5.1, else the newest 8.x the registry has) into a
cache outside the repository (``$LEAKWATCH_BENCH_CACHE`` or
``~/.cache/leakwatch-bench``), unpacks it, and makes a bench venv there with
this checkout of leakwatch (editable), pytest, pytest-memray (when it
installs) and click.  Then runs click's ``tests/`` under each mode::

    plain          pytest -p no:leakwatch
    leakwatch      pytest --leakwatch                        (default kinds)
    leakwatch-all  pytest --leakwatch --leakwatch-kinds=all  (+ heap, state)
    memray         pytest --memray

with the same flags for all (``-p no:cacheprovider -q``; each mode blocks
the other tools' plugins), interleaved round by round and rotated so that a
noisy machine slows every mode alike.  Bytecode caching is on, as on a
developer's machine.  Prints the median wall time of each pytest process
(start-up and collection included) and its CPU time, their ratios to plain,
each mode's test counts (a mode that ran a different number of tests is
called out), then what leakwatch reported on click's suite.  Asserts
nothing.  Run: ``python bench/bench_pytest.py [--rounds N] [--modes ...]``.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WANTED = "8.5.1"
COMMON = ("-p", "no:cacheprovider", "-q")
MODES: dict[str, tuple[str, ...]] = {
    "plain": ("-p", "no:leakwatch", "-p", "no:memray"),
    "leakwatch": ("--leakwatch", "-p", "no:memray"),
    "leakwatch-all": ("--leakwatch", "--leakwatch-kinds=all", "-p", "no:memray"),
    "memray": ("--memray", "-p", "no:leakwatch"),
}
_COUNT = re.compile(r"(\d+) (passed|failed|skipped|deselected|xfailed|xpassed|errors?|warnings?)")
_IN = re.compile(r" in ([\d.]+)s")


@dataclass
class Run:
    seconds: float
    cpu: float  # user + system seconds of the pytest process
    pytest_seconds: float | None
    counts: dict[str, int]
    returncode: int
    output: str


@dataclass
class Mode:
    name: str
    args: tuple[str, ...]
    runs: list[Run] = field(default_factory=list)


def _cache_dir() -> Path:
    env = os.environ.get("LEAKWATCH_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "leakwatch-bench"


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def _venv(cache: Path) -> Path:
    where = cache / f"venv-py{sys.version_info.major}.{sys.version_info.minor}"
    python = where / "bin" / "python"
    if not python.exists():
        print(f"creating the bench venv {where}", flush=True)
        venv.create(where, with_pip=True)
    return python


def _sdist(python: Path, cache: Path, version: str) -> Path:
    """click's sdist in the cache: ``version``, else the newest 8.x."""
    found = cache / f"click-{version}.tar.gz"
    if found.exists():
        return found
    args = ("download", "--no-binary", ":all:", "--no-deps", "-d", str(cache))
    if _pip(python, *args, f"click=={version}").returncode == 0 and found.exists():
        return found
    print(f"click {version} is not on the registry; trying the newest 8.x", flush=True)
    done = _pip(python, *args, "click>=8,<9")
    if done.returncode != 0:
        sys.exit(f"pip download click failed:\n{done.stderr}")
    got = [p for p in cache.glob("click-8.*.tar.gz") if p.name != found.name]
    newest = max(got, key=lambda p: p.stat().st_mtime)
    print(f"using {newest.name.removesuffix('.tar.gz')}", flush=True)
    return newest


def _unpack(sdist: Path) -> Path:
    root = sdist.parent / sdist.name.removesuffix(".tar.gz")
    if not (root / "tests").is_dir():
        with tarfile.open(sdist) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(sdist.parent, filter="data")
            else:  # pragma: no cover - Pythons without extraction filters
                tar.extractall(sdist.parent)
    return root


def _install(python: Path, click: Path) -> bool:
    """leakwatch (editable), pytest, click, and pytest-memray if it installs."""
    stamp = python.parent.parent / ".bench-installed"
    want = f"{REPO}\n{click}\n"
    if stamp.exists() and stamp.read_text() == want:
        return _pip(python, "show", "pytest-memray").returncode == 0
    print("installing leakwatch, pytest and click into the bench venv", flush=True)
    done = _pip(python, "install", "-q", "-e", str(REPO), "pytest", str(click))
    if done.returncode != 0:
        sys.exit(f"pip install failed:\n{done.stderr}")
    memray = _pip(python, "install", "-q", "pytest-memray").returncode == 0
    if not memray:
        print("pytest-memray did not install: no memray mode", flush=True)
    stamp.write_text(want)
    return memray


def _env() -> dict[str, str]:
    """The environment minus anything that would turn a plugin on or change pytest.

    Bytecode caching stays on (PYTHONDONTWRITEBYTECODE is dropped), as on a
    developer's machine: without it every run recompiles pytest, click's
    rewritten tests and leakwatch, which slows the plain run most and makes
    the ratios look better than they are.
    """
    drop = (
        "LEAKWATCH",
        "PYTEST_ADDOPTS",
        "PYTEST_PLUGINS",
        "PYTHONDEVMODE",
        "PYTHONTRACEMALLOC",
        "PYTHONDONTWRITEBYTECODE",
    )
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(python: Path, click: Path, args: tuple[str, ...]) -> Run:
    argv = [str(python), "-m", "pytest", *COMMON, *args, "tests"]
    cpu = _child_cpu()
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=click, env=_env(), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    cpu = _child_cpu() - cpu
    out = done.stdout + done.stderr
    summary = next(
        (line for line in reversed(out.splitlines()) if _COUNT.search(line) and _IN.search(line)),
        "",
    )
    counts = {}
    for n, what in _COUNT.findall(summary):
        counts[what.rstrip("s") if what.startswith(("error", "warning")) else what] = int(n)
    took = _IN.search(summary)
    return Run(seconds, cpu, float(took.group(1)) if took else None, counts, done.returncode, out)


def _counts(run: Run) -> str:
    order = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
    return ", ".join(f"{run.counts[k]} {k}" for k in order if run.counts.get(k))


def _section(output: str, title: str) -> list[str]:
    """Lines of pytest's ``==== title ====`` section."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if re.fullmatch(rf"=+ {re.escape(title)} =+", line):
            rest = lines[i + 1 :]
            end = next(
                (j for j, x in enumerate(rest) if re.fullmatch(r"=+ .* =+", x) or _IN.search(x)),
                None,
            )
            return rest[:end]
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--click", default=WANTED, help=f"click version (default {WANTED})")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"comma-separated, of {','.join(MODES)}"
    )
    opts = parser.parse_args()

    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    python = _venv(cache)
    sdist = _sdist(python, cache, opts.click)
    click = _unpack(sdist)
    memray = _install(python, click)
    names = [m for m in opts.modes.split(",") if m in MODES and (m != "memray" or memray)]
    if "plain" not in names:
        names.insert(0, "plain")
    modes = [Mode(name, MODES[name]) for name in names]

    print(f"{click.name} tests ({click}); Python {sys.version.split()[0]}; {os.cpu_count()} CPUs")
    print(f"common flags: {' '.join(COMMON)}; {opts.rounds} interleaved rounds", flush=True)
    _run(python, click, MODES["plain"])  # warm the page cache and the bytecode caches
    for r in range(opts.rounds):
        order = modes[r % len(modes) :] + modes[: r % len(modes)]
        for mode in order:
            run = _run(python, click, mode.args)
            mode.runs.append(run)
            head = f"  round {r + 1}: {mode.name:<14}{run.seconds:7.2f}s  cpu {run.cpu:6.2f}s"
            print(f"{head}  {_counts(run)}", flush=True)

    plain = modes[0]
    base = statistics.median(r.seconds for r in plain.runs)
    base_cpu = statistics.median(r.cpu for r in plain.runs)
    print()
    print(
        f"{'mode':<15}{'wall':>8}{'ratio':>8}{'per-round':>11}{'cpu':>9}{'ratio':>8}"
        f"{'pytest says':>13}  tests (last round)"
    )
    for mode in modes:
        wall = statistics.median(r.seconds for r in mode.runs)
        cpu = statistics.median(r.cpu for r in mode.runs)
        per_round = statistics.median(
            r.seconds / p.seconds for r, p in zip(mode.runs, plain.runs, strict=True)
        )
        inner = [r.pytest_seconds for r in mode.runs if r.pytest_seconds is not None]
        said = f"{statistics.median(inner):.2f}s" if inner else "?"
        print(
            f"{mode.name:<15}{wall:>7.2f}s{wall / base:>7.2f}x{per_round:>10.2f}x"
            f"{cpu:>8.2f}s{cpu / base_cpu:>7.2f}x{said:>13}  {_counts(mode.runs[-1])}"
        )
    print(
        "medians over the rounds; wall: the pytest process, start-up and collection included;"
        "\nratio: to plain's median; per-round: median of each round's ratio to plain;"
        "\ncpu: user + system time of the process; pytest says: its own 'in N s'"
    )

    reference = plain.runs[0].counts
    for mode in modes:
        seen = {tuple(sorted(r.counts.items())) for r in mode.runs}
        ran = {sum(v for k, v in c if k not in ("deselected", "warning")) for c in seen}
        if ran != {sum(v for k, v in reference.items() if k not in ("deselected", "warning"))}:
            print(f"NOTE: {mode.name} ran a different number of tests: {sorted(seen)}")
        elif len(seen) > 1 or dict(next(iter(seen))) != reference:
            print(f"NOTE: {mode.name} outcomes differ from plain: {sorted(seen)}")
    for mode in modes:
        if mode.name.startswith("leakwatch"):
            last = mode.runs[-1].output
            print(f"\n{mode.name}: leakwatch's summary of the last round")
            for line in _section(last, "leakwatch") or ["(no leakwatch section)"]:
                print(f"  {line}")
            for line in _section(last, "short test summary info"):
                print(f"  {line}")


if __name__ == "__main__":
    main()
