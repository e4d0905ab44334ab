"""The package namespace exports exactly what was meant, sorted (httpx's pattern)."""

from __future__ import annotations

import subprocess
import sys
import types

import leakwatch

INTENDED = {
    # the contract
    "watch",
    "check",
    "check_async",
    "Report",
    "Leak",
    "LeakError",
    "LeakWarning",
    # value types and errors beside them
    "Frame",
    "Resource",
    "LeakwatchError",
    "LeakwatchInternalWarning",
    # configuration and ignore rules
    "Config",
    "ConfigError",
    "load_config",
    "IgnoreRule",
    "ignore",
    "__version__",
}


def test_all_is_sorted() -> None:
    assert leakwatch.__all__ == sorted(leakwatch.__all__)


def test_all_is_the_intended_set() -> None:
    assert set(leakwatch.__all__) == INTENDED
    assert len(leakwatch.__all__) == len(INTENDED), "no duplicates"


def test_every_exported_name_exists_and_belongs_to_leakwatch() -> None:
    for name in leakwatch.__all__:
        member = getattr(leakwatch, name)
        if name != "__version__":
            assert member.__module__.startswith("leakwatch"), name


def test_every_public_member_is_exported() -> None:
    public = {
        name
        for name, value in vars(leakwatch).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(leakwatch.__all__), sorted(public - set(leakwatch.__all__))


def test_contract_types() -> None:
    assert issubclass(leakwatch.LeakError, AssertionError)
    assert issubclass(leakwatch.LeakWarning, Warning)
    assert isinstance(leakwatch.__version__, str)


def test_the_package_answers_with_the_modules_imported_now() -> None:
    # pytester's in-process runs take the modules a test imported out of
    # sys.modules again; a name the package cached would then belong to an
    # older copy of its module than its neighbours (watch() raising a
    # LeakError that leakwatch.LeakError is not).
    script = """
import os, subprocess, sys
import leakwatch
leakwatch.watch  # first use, then the modules go, as pytester undoes them
for name in [m for m in sys.modules if m.startswith("leakwatch.") and "_base" not in m]:
    del sys.modules[name]
proc = None
try:
    with leakwatch.watch(on_leak="raise"):
        proc = subprocess.Popen(["sleep", "30"])
except leakwatch.LeakError:
    print("caught")
finally:
    proc.kill()
    proc.wait()
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.stdout.strip() == "caught", out.stderr
