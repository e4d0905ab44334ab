"""Where a clean test's cost goes, layer by layer, counted in instructions.

``bench_per_test.py`` breaks a trivial test's time down by function, with
wrappers of its own; that cannot see what runs inside an audit hook (CPython
runs audit hooks with profiling off, so cProfile and the wrappers miss the
creation records' work altogether), nor what a real suite pays that a
trivial test does not.  This adds leakwatch one layer at a time, each a
``-p`` plugin switching the layers above it off, and counts every
instruction of the pytest process under valgrind's callgrind:

- ``plain``: no leakwatch.
- ``hooks``: leakwatch's pytest hooks, no test watched, no creation
  recorded (the hooks and hook wrappers alone).
- ``recording``: and the creation records on for the whole run (the audit
  hook, the wrappers, their stacks), as they are in any suite with a session
  fixture (``tmp_path`` is one), still no test watched.
- ``spans``: and each test's span (start, phase marks, settle, describe,
  report), its looks answered with nothing (no ``/proc`` read, no probe's work).
- ``full``: ``pytest --leakwatch``.

Each layer runs the tests of ``A`` and of ``A`` plus ``B`` (``B``: copies of
``A``'s files), so the difference is what ``len(B)`` tests cost at a steady
state, start-up, imports and first uses taken out.  Without ``--suite``, A
and B are trivial tests (``def test_i(): pass``); with ``--suite NAME
--files F,...``, a field suite's files (its recipe, venv and sdist from
``bench/field/run.py``, copied to a temp dir).  Prints instructions per
test and each layer's share; asserts nothing.  Takes minutes (two
callgrind runs a layer, two at a time).

    python bench/bench_layers_count.py
    python bench/bench_layers_count.py --suite click \
        --files tests/test_testing.py,tests/test_basic.py,tests/test_termui.py
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _timing import callgrind_summary, child_env

REPO = Path(__file__).resolve().parent.parent
LAYERS = ("plain", "hooks", "recording", "spans", "full")
COMMON = ("-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "_lw_layers")

#: The plugin each run loads; ``LW_LAYER`` says which layers are off.
PLUGIN = '''
import os

layer = os.environ.get("LW_LAYER", "full")
if layer in ("hooks", "recording"):
    from leakwatch._pytest import per_test

    def begin(self, item):
        """The test's state with no span: its hooks run, nothing is watched."""
        state = per_test.TestState(item.nodeid, deferred=item.stash.get(per_test._DEFERRED, False))
        item.stash[per_test._TEST] = state
        return state

    per_test.PerTest.begin = begin
if layer == "hooks":
    from leakwatch._attribution import origins

    origins.activate = lambda full=True: None
if layer == "spans":
    from leakwatch._engine.snapshot import Snapshots
    from leakwatch._suite.spans import SpanWatcher

    def nothing(self):
        return {kind: {} for kind in self.probes}

    Snapshots.snapshot = Snapshots.first_look = nothing
    SpanWatcher.mark = lambda self, within_test=False: {}


def pytest_sessionstart(session):
    if layer == "recording":
        from leakwatch._attribution import origins

        origins.activate()
'''


def _env(layer: str, plugin_dir: str) -> dict[str, str]:
    env = child_env(LW_LAYER=layer)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm run writes each file's bytecode
    paths = [plugin_dir, str(REPO), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def _argv(python: str, layer: str, files: list[str]) -> list[str]:
    flags = ["-p", "no:leakwatch"] if layer == "plain" else ["--leakwatch"]
    return [python, "-m", "pytest", *COMMON, *flags, *files]


def _count(where: Path, python: str, layer: str, files: list[str], plugin_dir: str) -> int:
    out = where / f"cg.{layer}.{len(files)}.out"
    for old in where.glob(out.name + "*"):
        old.unlink()
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    # A fresh base temp dir of its own: by default pytest removes the oldest
    # of its numbered temp dirs as a session starts, a cost (and a race
    # between the two runs at a time) that depends on what runs before left.
    basetemp = where.parent / f"basetemp.{layer}.{len(files)}"
    shutil.rmtree(basetemp, ignore_errors=True)
    done = subprocess.run(
        argv + _argv(python, layer, files) + [f"--basetemp={basetemp}"],
        cwd=where,
        env=_env(layer, plugin_dir),
        capture_output=True,
        text=True,
    )
    if done.returncode not in (0, 5):  # 5: no tests (never here)
        sys.exit(f"layer {layer} failed under valgrind:\n{done.stdout[-2000:]}")
    total = 0
    for path in where.glob(out.name + "*"):
        total += callgrind_summary(path)
        path.unlink()
    shutil.rmtree(basetemp, ignore_errors=True)
    return total


def _collected(where: Path, python: str, files: list[str], plugin_dir: str) -> int:
    done = subprocess.run(
        [*_argv(python, "plain", files), "--collect-only"],
        cwd=where,
        env=_env("plain", plugin_dir),
        capture_output=True,
        text=True,
    )
    found = re.search(r"(\d+) tests? collected", done.stdout)
    if found is None:
        sys.exit(f"could not count the tests of {files}:\n{done.stdout[-2000:]}")
    return int(found.group(1))


def _suite(name: str, files: list[str], tmp: Path) -> tuple[str, Path, list[str], list[str]]:
    """(python, a copy of the suite's source, A, B) for a field suite."""
    sys.path.insert(0, str(REPO / "bench" / "field"))
    from run import Recipe, fetch_sdist, make_venv, unpack  # type: ignore[import-not-found]

    recipe = Recipe.load(name)
    source = unpack(recipe, fetch_sdist(recipe))
    python = make_venv(recipe, source)
    where = tmp / source.name
    shutil.copytree(source, where, ignore=shutil.ignore_patterns(".git", "__pycache__"))
    copies = []
    for file in files:
        path = where / file
        if not path.is_file():
            sys.exit(f"--files: {file} is not a file of {source.name}")
        copy = path.with_name(f"{path.stem}_lwcopy.py")
        shutil.copyfile(path, copy)
        copies.append(str(copy.relative_to(where)))
    return str(python), where, files, copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--suite", help="a field suite (bench/field/NAME.toml)")
    parser.add_argument("--files", default="", help="with --suite: test files, comma-separated")
    parser.add_argument("--tests", type=int, default=300, help="without --suite: tests in A")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("bench_layers_count.py: needs valgrind (apt-get install valgrind)")
    if args.suite and not args.files:
        sys.exit("bench_layers_count.py: --suite needs --files")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        plugin_dir = tmp / "plugin"
        plugin_dir.mkdir()
        (plugin_dir / "_lw_layers.py").write_text(PLUGIN)
        if args.suite:
            python, where, a, b = _suite(args.suite, args.files.split(","), tmp)
        else:
            python, where = sys.executable, tmp / "trivial"
            where.mkdir()
            body = "".join(f"def test_{i}():\n    pass\n" for i in range(args.tests))
            for name in ("test_a.py", "test_b.py"):
                (where / name).write_text(body)
            a, b = ["test_a.py"], ["test_b.py"]
        tests = _collected(where, python, b, str(plugin_dir))
        for layer in LAYERS:  # warm: bytecode written, caches filled, outside valgrind
            subprocess.run(
                _argv(python, layer, a + b),
                cwd=where,
                env=_env(layer, str(plugin_dir)),
                capture_output=True,
            )
        jobs = [(layer, files) for layer in LAYERS for files in (a, a + b)]
        with ThreadPoolExecutor(2) as pool:
            counts = list(
                pool.map(lambda j: _count(where, python, j[0], j[1], str(plugin_dir)), jobs)
            )
    per = {layer: (counts[2 * i + 1] - counts[2 * i]) / tests for i, layer in enumerate(LAYERS)}
    what = args.suite or "trivial"
    print(f"instructions per test, {what}, steady state ({tests} tests of B; callgrind):")
    own = per["full"] - per["plain"]
    before = per["plain"]
    print(f"  {'plain':<10} {per['plain']:12,.0f}")
    for layer in LAYERS[1:]:
        step = per[layer] - before
        share = f"{100 * step / own:5.1f} % of leakwatch's" if own else ""
        print(f"  {layer:<10} {per[layer]:12,.0f}   +{step:10,.0f}  {share}")
        before = per[layer]
    print(f"  leakwatch in all: +{own:,.0f} ({100 * own / per['plain']:.1f} % over plain)")


if __name__ == "__main__":
    main()
