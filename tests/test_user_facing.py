"""What the user sees of leakwatch is the user's own code and leakwatch's public names.

A LeakWarning points at the user's ``with`` line or call, a warning of the
user's own inside the block keeps its line, a LeakError is spelled
``leakwatch.LeakError``, pickles, and tracebacks show no leakwatch helper.
"""

from __future__ import annotations

import ast
import importlib
import pickle
import socket
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from support import marker_line

import leakwatch

KEEP: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close() -> object:
    yield
    while KEEP:
        KEEP.pop().close()


def _leak() -> None:
    KEEP.append(socket.socket())


def test_leak_warning_points_at_the_with_line_and_user_warnings_keep_theirs() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with leakwatch.watch(on_leak="warn", kinds=("fd",)):  # <- with line
            _leak()
            warnings.warn("the user's own", UserWarning, stacklevel=1)  # <- user's warning
    by_category = {w.category: (w.filename, w.lineno) for w in caught}
    assert by_category[leakwatch.LeakWarning] == (__file__, marker_line(__file__, "# <- with line"))
    assert by_category[UserWarning] == (__file__, marker_line(__file__, "# <- user's warning"))


@leakwatch.watch(on_leak="warn", kinds=("fd",))
def _decorated() -> None:
    _leak()


def test_leak_warning_of_a_decorated_function_points_at_its_call() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _decorated()  # <- decorated call
    (w,) = [w for w in caught if w.category is leakwatch.LeakWarning]
    assert (w.filename, w.lineno) == (__file__, marker_line(__file__, "# <- decorated call"))


def test_leak_warning_of_check_points_at_its_call_and_uses_the_callers_registry() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # once per location, in the caller's registry
        for _ in range(2):
            leakwatch.check(_leak, repeat=2, warmup=0, on_leak="warn", kinds=("fd",))  # <- check
    found = [w for w in caught if w.category is leakwatch.LeakWarning]
    assert [(w.filename, w.lineno) for w in found] == [
        (__file__, marker_line(__file__, "# <- check"))
    ] * len(found)
    assert len(found) == 2  # the texts differ (fd numbers), so "default" shows both


def test_public_classes_are_named_and_pickled_as_leakwatch() -> None:
    for cls in (
        leakwatch.LeakError,
        leakwatch.LeakWarning,
        leakwatch.LeakwatchInternalWarning,
        leakwatch.ConfigError,
    ):
        assert cls.__module__ == "leakwatch"
        assert getattr(leakwatch, cls.__name__) is cls
    with pytest.raises(leakwatch.LeakError) as info, leakwatch.watch(kinds=("fd",)):
        _leak()
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is leakwatch.LeakError
    assert str(again) == str(info.value)
    assert [leak.kind for leak in again.report.leaks] == ["fd"]
    warning = pickle.loads(pickle.dumps(leakwatch.LeakWarning(info.value.report)))
    assert type(warning) is leakwatch.LeakWarning and str(warning) == str(info.value)


def test_every_error_leakwatch_raises_is_one_family_defined_in_one_module() -> None:
    errors = importlib.import_module("leakwatch._report.errors")
    family = [
        value
        for value in vars(errors).values()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__ != "builtins"
        and not issubclass(value, Warning)
    ]
    assert {cls.__name__ for cls in family} >= {
        "LeakwatchError",
        "LeakError",
        "ConfigError",
        "MarkerError",
        "UsageError",
        "OutputError",
        "TargetError",
        "DiffError",
        "LeakFailure",
    }
    assert all(issubclass(cls, leakwatch.LeakwatchError) for cls in family)
    # Catching the family catches a leak and bad input alike; the old bases stay.
    with pytest.raises(leakwatch.LeakwatchError), leakwatch.watch(kinds=("fd",)):
        _leak()
    with pytest.raises(leakwatch.LeakwatchError):
        leakwatch.Config(kinds=("no such kind",))
    assert issubclass(leakwatch.LeakError, AssertionError)
    assert issubclass(leakwatch.ConfigError, ValueError)
    # No exception class is defined anywhere else in the package (a private
    # one that never leaves its module aside).
    package = Path(leakwatch.__file__).parent
    elsewhere = []
    for path in package.rglob("*.py"):
        if path.name == "errors.py" and path.parent.name == "_report":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            bases = [ast.unparse(b) for b in getattr(node, "bases", [])]
            if (
                isinstance(node, ast.ClassDef)
                and not node.name.startswith("_")
                and any(b.endswith(("Error", "Exception")) for b in bases)
            ):
                elsewhere.append(f"{path.relative_to(package)}: {node.name}")
    assert elsewhere == []


def test_leak_error_context_is_what_python_gives() -> None:
    with pytest.raises(leakwatch.LeakError) as info, leakwatch.watch(kinds=("fd",)):
        _leak()
    assert info.value.__context__ is None and info.value.__cause__ is None
    try:
        raise KeyError("handled")
    except KeyError as handled:
        with pytest.raises(leakwatch.LeakError) as inner, leakwatch.watch(kinds=("fd",)):
            _leak()
        assert inner.value.__context__ is handled  # raised while it was handled


SCRIPT = """
import socket
import unittest

import leakwatch

KEEP = []


class T(unittest.TestCase):
    def test_watch(self):
        with leakwatch.watch(kinds=("fd",)):
            KEEP.append(socket.socket())

    def test_check(self):
        leakwatch.check(lambda: KEEP.append(socket.socket()), repeat=2, warmup=0, kinds=("fd",))


if __name__ == "__main__":
    try:
        unittest.main()
    finally:
        for s in KEEP:
            s.close()
"""


def test_unittest_traceback_names_leakwatch_error_and_no_helper(tmp_path: Path) -> None:
    script = tmp_path / "test_it.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert "FAIL: test_watch" in done.stderr and "FAIL: test_check" in done.stderr, done.stderr
    assert "leakwatch.LeakError: leakwatch:" in done.stderr
    assert "_judge" not in done.stderr and "leakwatch._report" not in done.stderr, done.stderr


PYTEST_FILE = """
import socket

import leakwatch

KEEP = []

def test_watch():
    with leakwatch.watch(kinds=("fd",)):
        KEEP.append(socket.socket())

def test_check():
    leakwatch.check(lambda: KEEP.append(socket.socket()), repeat=2, warmup=0, kinds=("fd",))

def test_fixture_check(leakwatch):
    leakwatch.check(lambda: KEEP.append(socket.socket()), repeat=2, warmup=0, kinds=("fd",))

def teardown_module():
    for s in KEEP:
        s.close()
"""


def test_pytest_traceback_shows_the_users_lines_only(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.plugin_runs import prepare, run, write

    lw = prepare(pytester, monkeypatch)
    write(lw, "test_tb.py", PYTEST_FILE)
    result = run(lw)
    result.assert_outcomes(failed=3)
    text = result.stdout.str()
    assert text.count("E       leakwatch.LeakError: leakwatch:") == 3, text
    for helper in (
        "_judge",
        "raise error",
        "raise LeakError",
        "leakwatch/_watch",
        "leakwatch._report",
    ):
        assert helper not in text, helper
