"""Cost of ``check(repeat=5)`` on a native-heavy function, with and without native
attribution, side by side with pytest-memray's ``limit_leaks`` on the same function;
and what each finds.

The functions (in a small C extension this script builds, tests/native/leakext.c):
each makes 20,000 malloc/free pairs of 4 KiB in C per call (about 2 ms), and

- ``leaky``:  keeps 64 KiB per call (malloc'd by the extension, never freed);
- ``clean``:  keeps nothing;
- ``cached``: fills a 1 MiB native buffer on its first call and reuses it after;
- ``ctypes``: keeps 64 KiB per call, malloc'd by libc through ctypes.

leakwatch: ``check(fn, repeat=5, warmup=1, kinds=("native",))`` (6 calls), timed
against 6 plain calls, with attribution off (counters only) and on (memray and the
line tracer, only when the counters found growth).  pytest-memray: one test per
function calling it 6 times under ``@pytest.mark.limit_leaks("256 KB")``, timed
with ``--memray`` and ``--memray --native`` against plain pytest (the whole test,
setup to teardown, measured by a conftest hook).  Prints figures; asserts nothing.
Run: ``python bench/bench_native.py`` (needs gcc, and memray / pytest-memray for
the attributed and pytest-memray columns: ``pip install -e '.[native,bench]'``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))

from _timing import side_by_side

ROOT = Path(__file__).resolve().parent.parent
CALLS = 6  # warmup 1 + repeat 5

FUNCTIONS = """
import ctypes
import leakext

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
KEPT = []


def churn():
    for _ in range(20_000):
        leakext.scratch(4096)


def leaky():
    churn()
    leakext.leak(64 * 1024)  # the leak


def clean():
    churn()


def cached():
    churn()
    leakext.reuse(1024 * 1024)


def ctypes_leak():
    churn()
    KEPT.append(libc.malloc(64 * 1024))  # the leak
"""

TESTS = """
import pytest
import natfuncs


@pytest.mark.limit_leaks("256 KB")
@pytest.mark.parametrize("name", ["leaky", "clean", "cached", "ctypes_leak"])
def test_function(name):
    fn = getattr(natfuncs, name)
    for _ in range({calls}):
        fn()
"""

CONFTEST = """
import json, os, time
import pytest

TIMES = {}


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    t0 = time.perf_counter()
    yield
    TIMES[item.callspec.params["name"]] = time.perf_counter() - t0


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_TIMES"], "w") as f:
        json.dump(TIMES, f)
"""


def build(where: Path) -> None:
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    include = sysconfig.get_paths()["include"]
    src = ROOT / "tests" / "native" / "leakext.c"
    out = where / f"leakext{suffix}"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-g", "-O1", f"-I{include}", str(src), "-o", str(out)],
        check=True,
    )
    (where / "natfuncs.py").write_text(FUNCTIONS, encoding="utf-8")


def leakwatch_side(where: Path, rounds: int) -> dict[str, dict[str, Any]]:
    sys.path.insert(0, str(where))
    import natfuncs

    import leakwatch
    from leakwatch import _native
    from leakwatch._native import growth_for
    from leakwatch._native.repeat import NativeGrowth

    def check(fn: Callable[[], None], attribute: bool) -> leakwatch.Report:
        _native.growth_for = growth_for if attribute else lambda k: NativeGrowth(attribute=False)
        try:
            return leakwatch.check(fn, repeat=5, warmup=1, kinds=("native",), on_leak="report")
        finally:
            _native.growth_for = growth_for

    out: dict[str, dict[str, Any]] = {}
    for name in ("leaky", "clean", "cached", "ctypes_leak"):
        fn = getattr(natfuncs, name)

        def plain(fn: Callable[[], None] = fn) -> None:
            for _ in range(CALLS):
                fn()

        base, off = side_by_side(plain, lambda fn=fn: check(fn, False), rounds)
        _, on = side_by_side(plain, lambda fn=fn: check(fn, True), rounds)
        report = check(fn, True)
        found = []
        for leak in report.leaks:
            where_ = (
                f"{Path(leak.origin[-1].filename).name}:{leak.origin[-1].lineno}"
                if leak.origin
                else "no line"
            )
            frames = leak.details.get("native_frames") or []
            native = " <- ".join(f.function for f in frames[:2]) if frames else "no native frames"
            per_call = leak.details.get("growth_per_call", 0) / 1024
            found.append(f"{leak.kind} {per_call:.0f} KiB/call at {where_} ({native})")
        out[name] = {"plain": base, "off": off, "on": on, "found": found or ["clean"]}
    return out


def memray_side(where: Path) -> dict[str, dict[str, Any]] | None:
    if importlib.util.find_spec("pytest_memray") is None:
        return None
    (where / "test_native_funcs.py").write_text(TESTS.format(calls=CALLS), encoding="utf-8")
    (where / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    results: dict[str, dict[str, Any]] = {}
    for label, args in (
        ("plain", ["-p", "no:memray"]),
        ("memray", ["--memray"]),
        ("memray --native", ["--memray", "--native"]),
    ):
        times = where / "times.json"
        env = {**os.environ, "BENCH_TIMES": str(times), "PYTHONPATH": str(where)}
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:leakwatch",
                "-rA",
                *args,
            ],
            cwd=where,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        data = json.loads(times.read_text())
        for name, seconds in data.items():
            entry = results.setdefault(name, {})
            entry[label] = seconds
            if label == "memray --native":
                test = f"test_native_funcs.py::test_function[{name}]"
                failed = any(
                    line.startswith(("FAILED", "MEMORY PROBLEMS")) and test in line
                    for line in proc.stdout.splitlines()
                )
                entry["found"] = "fails (leaked over the limit)" if failed else "passes"
    return results


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory(prefix="lw-bench-native-") as tmp:
        where = Path(tmp)
        build(where)
        lw = leakwatch_side(where, rounds)
        pm = memray_side(where)
    print(f"check(repeat=5, warmup=1) = {CALLS} calls; medians of {rounds} interleaved rounds\n")
    print(
        f"{'function':<12} {'6 plain calls':>14} {'check, counters':>16} {'check, attributed':>18}"
    )
    for name, r in lw.items():
        print(
            f"{name:<12} {r['plain'] * 1000:11.1f} ms {r['off'] * 1000:10.1f} ms "
            f"({r['off'] / r['plain']:.2f}x) {r['on'] * 1000:9.1f} ms ({r['on'] / r['plain']:.2f}x)"
        )
    print("\nleakwatch finds:")
    for name, r in lw.items():
        print(f"  {name:<12} " + "; ".join(r["found"]))
    if pm is None:
        print("\npytest-memray is not installed: pip install -e '.[bench]'")
        return
    print(f"\npytest-memray limit_leaks('256 KB'), one test calling the function {CALLS} times")
    print(f"{'function':<12} {'plain test':>11} {'--memray':>18} {'--memray --native':>20}")
    for name in lw:
        r = pm.get(name, {})
        if not r:
            continue
        plain, mem, native = r["plain"], r["memray"], r["memray --native"]
        print(
            f"{name:<12} {plain * 1000:8.1f} ms {mem * 1000:8.1f} ms ({mem / plain:.2f}x) "
            f"{native * 1000:9.1f} ms ({native / plain:.2f}x)   {r.get('found')}"
        )


if __name__ == "__main__":
    main()
