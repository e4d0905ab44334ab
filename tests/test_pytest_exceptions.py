"""Exceptions of async tests are the same with and without ``--leakwatch``.

leakwatch wraps an async test for its call to watch asyncio tasks.  It must
not change what the test's exceptions carry: ``__context__`` (an exception
handled around the await would become it), ``__traceback__`` and
``sys.exc_info()`` inside the test, nor what escapes the test.  Under trio
(pytest-trio, and anyio's trio backend) and asyncio (pytest-asyncio, anyio).
"""

from __future__ import annotations

import re

import pytest
from support.plugin_runs import outcomes, prepare, run, write

pytest.importorskip("trio")
pytest.importorskip("pytest_trio")


@pytest.fixture
def lw(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


CONFTEST = """
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call" and call.excinfo is not None:
        exc = call.excinfo.value
        with open("escaped.txt", "a") as out:
            for leaf in leaves(exc):
                print(item.nodeid, type(leaf).__name__, repr(leaf.__context__), file=out)
    return report


def leaves(exc):
    # pytest-trio raises what a test raised inside an ExceptionGroup (its nursery's).
    inner = getattr(exc, "exceptions", None)
    if inner is None:
        yield exc
    else:
        yield from (leaf for e in inner for leaf in leaves(e))
"""

TESTS = """
import sys
import traceback

import pytest


async def inner():
    raise ValueError("boom")


async def chained():
    try:
        raise KeyError("first")
    except KeyError:
        raise ValueError("second")


def names(exc):
    return [frame.name for frame in traceback.extract_tb(exc.__traceback__)]


async def body(name):
    assert sys.exc_info() == (None, None, None)
    with pytest.raises(ValueError) as caught:
        await inner()
    assert caught.value.__context__ is None
    assert names(caught.value) == [name, "inner"]
    with pytest.raises(ValueError) as caught:
        await chained()
    assert isinstance(caught.value.__context__, KeyError)
    assert names(caught.value) == [name, "chained"]
    assert sys.exc_info() == (None, None, None)


@pytest.mark.trio
async def test_trio():
    await body("body")


@pytest.mark.trio
async def test_trio_escapes():
    await inner()


@pytest.mark.asyncio
async def test_asyncio():
    await body("body")


@pytest.mark.asyncio
async def test_asyncio_escapes():
    await inner()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_anyio(anyio_backend):
    await body("body")


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_anyio_escapes(anyio_backend):
    await inner()
"""

EXPECTED = {
    "test_trio": {"PASSED"},
    "test_trio_escapes": {"FAILED"},
    "test_asyncio": {"PASSED"},
    "test_asyncio_escapes": {"FAILED"},
    "test_anyio[asyncio]": {"PASSED"},
    "test_anyio[trio]": {"PASSED"},
    "test_anyio_escapes[asyncio]": {"FAILED"},
    "test_anyio_escapes[trio]": {"FAILED"},
}


_HEAD = re.compile(r"^_{3,} (\S+) _{3,}$")


def failures(text: str) -> dict[str, str]:
    """Per failed test, its part of the FAILURES section: the traceback pytest shows."""
    section = text[text.index("= FAILURES =") :]
    section = re.split(
        r"^=+ (?:PASSES|leakwatch|short test summary info) =+$", section, flags=re.M
    )[0]
    found: dict[str, str] = {}
    name = ""
    for line in section.splitlines():
        head = _HEAD.match(line)
        if head:
            name = head.group(1)
            found[name] = ""
        elif name:
            found[name] += line + "\n"
    return found


@pytest.fixture
def both_runs(lw: pytest.Pytester) -> tuple[pytest.RunResult, pytest.RunResult, str, str]:
    """The same async tests run plain and under ``--leakwatch``."""
    write(lw, "conftest.py", CONFTEST)
    write(lw, "test_exc.py", TESTS)
    escaped = lw.path / "escaped.txt"
    plain = run(lw)
    plain_escaped = escaped.read_text(encoding="utf-8")
    escaped.unlink()
    watched = run(lw, "--leakwatch")
    return plain, watched, plain_escaped, escaped.read_text(encoding="utf-8")


# pytest-trio re-raises what escaped a test in an ExceptionGroup raised by
# trio itself, whose traceback pytest prints whole (it cannot cut it at the
# test): every hook wrapper frame the group passed through is in it.
GROUPED = "test_trio_escapes"


def test_exceptions_of_async_tests_are_the_same_with_and_without_leakwatch(
    both_runs: tuple[pytest.RunResult, pytest.RunResult, str, str],
) -> None:
    plain, watched, plain_escaped, watched_escaped = both_runs
    assert outcomes(plain) == EXPECTED, plain.stdout.str()
    assert outcomes(watched) == EXPECTED, watched.stdout.str()
    # What escaped each failing test: a ValueError with no __context__, both times
    # (under pytest-trio, inside the ExceptionGroup of pytest-trio's own nursery).
    assert plain_escaped == watched_escaped
    assert sorted(plain_escaped.splitlines()) == sorted(
        f"test_exc.py::{name} ValueError None"
        for name, seen in EXPECTED.items()
        if "FAILED" in seen
    )
    # And the tracebacks pytest shows are the same, line for line.
    shown, shown_plain = failures(watched.stdout.str()), failures(plain.stdout.str())
    assert (
        sorted(shown)
        == sorted(shown_plain)
        == sorted(name for name, seen in EXPECTED.items() if "FAILED" in seen)
    )
    for name in shown:
        if name != GROUPED:
            assert shown[name] == shown_plain[name], name


def test_an_exception_group_escaping_a_trio_test_shows_the_same_traceback(
    both_runs: tuple[pytest.RunResult, pytest.RunResult, str, str],
) -> None:
    plain, watched, _, _ = both_runs
    shown = failures(watched.stdout.str())[GROUPED]
    assert "leakwatch" not in shown, shown
    assert shown == failures(plain.stdout.str())[GROUPED]
