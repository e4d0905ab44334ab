"""leakwatch for pytest: fail the test that leaked, and only that test.

Installed with leakwatch (the ``pytest11`` entry point); it does nothing until
enabled, by any of::

    pytest --leakwatch
    leakwatch = true                 # pytest ini ([pytest], [tool.pytest.ini_options])
    LEAKWATCH=1 pytest               # or LEAKWATCH_ENABLED=1
    enabled = true                   # [tool.leakwatch] in pyproject.toml, or leakwatch.toml

Then every test is watched from the start of its setup to the end of its
teardown.  What it leaves behind (descriptors, threads, asyncio tasks, child
processes, temp files) fails it, charged to the phase that made it::

    FAILED test_api.py::test_upload - leakwatch: 1 leak created in call and still
    alive after teardown: fd socket 127.0.0.1:50123 -> 127.0.0.1:8080 (fd 7) at test_api.py:40

A leak made in call fails the test; one made in setup by a fixture that
never released it, or in teardown, is an error at teardown.  A resource a
function-scoped fixture makes in setup and releases in teardown is fine.
Resources made by fixtures of a wider scope (class, module, package,
session) are that fixture's: judged when it is finalised, reported with the
fixture's name on the teardown of the test during which that happened.
Asyncio tasks are judged as the test returns, inside its loop, before
pytest-asyncio, anyio or ``IsolatedAsyncioTestCase`` cancel them.  Tests
that failed are not judged (``--leakwatch-check-failed`` judges them too).

Settings, lowest precedence first::

    [tool.leakwatch] / leakwatch.toml  <  pytest ini  <  LEAKWATCH_* environment
        <  command line  <  @pytest.mark.leakwatch(...)

Marker and fixture::

    @pytest.mark.leakwatch(False)                       # not this test
    @pytest.mark.leakwatch(kinds=("fd", "thread"))      # only these kinds
    @pytest.mark.leakwatch(allow=("thread",))           # reported, not failing
    @pytest.mark.leakwatch(ignore=[leakwatch.ignore(reason="pool", kind="fd")])
    @pytest.mark.leakwatch(repeat=5)                    # + heap/state growth over 5 more calls
    @pytest.mark.leakwatch(settle=2.0, strict_state=True, check_failed=True)

    def test_x(leakwatch):                              # the test's own watch and check
        with leakwatch.watch(): ...
        leakwatch.check(fn, repeat=5)

The marker only acts when leakwatch is enabled; the fixture always works.
Under pytest-xdist each worker checks its own tests and the controller
combines the terminal summary, ``--leakwatch-json``, ``--leakwatch-html`` and the baseline.
"""

from __future__ import annotations

import functools
import sys
import types
from typing import TYPE_CHECKING

import pytest

from leakwatch._base.model import kinds_help
from leakwatch._pytest.pytest_settings import INI, MARKER_HELP, load_run_settings

if TYPE_CHECKING:
    from leakwatch._pytest.fixture import LeakwatchFixture

_GROUP = (
    "leakwatch: fail the tests that leak resources (settings, lowest precedence first: "
    "[tool.leakwatch] < ini leakwatch_* < LEAKWATCH_* environment < command line < marker)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("leakwatch", _GROUP)
    group.addoption(
        "--leakwatch",
        action="store_true",
        default=None,
        dest="leakwatch",
        help="check every test for leaked descriptors, threads, tasks, processes and temp "
        "files (or: ini 'leakwatch = true', LEAKWATCH=1)",
    )
    group.addoption(
        "--no-leakwatch",
        action="store_false",
        dest="leakwatch",
        help="turn leakwatch off even if the ini or LEAKWATCH=1 turns it on",
    )
    group.addoption(
        "--leakwatch-kinds",
        metavar="KINDS",
        default=None,
        help=f"kinds to check, {kinds_help()}",
    )
    group.addoption(
        "--leakwatch-json",
        metavar="PATH",
        default=None,
        help="write the session's leaks as JSON (schema leakwatch.session/1), whole or not at all",
    )
    group.addoption(
        "--leakwatch-html",
        metavar="PATH",
        default=None,
        help="write the session's leaks as a self-contained HTML page (the tests and "
        "fixtures that leaked, each leak's stack and holder), whole or not at all",
    )
    group.addoption(
        "--leakwatch-baseline",
        metavar="PATH",
        default=None,
        help="leaks listed in this baseline file are reported but don't fail",
    )
    group.addoption(
        "--leakwatch-update-baseline",
        action="store_true",
        default=None,
        help="rewrite the baseline (--leakwatch-baseline, else leakwatch-baseline.json) "
        "from this run's leaks, atomically; leaks don't fail while recording",
    )
    group.addoption(
        "--leakwatch-check-failed",
        action="store_true",
        default=None,
        help="judge tests that failed too (by default their leaks are not judged: "
        "a traceback keeps objects alive)",
    )
    group.addoption(
        "--leakwatch-strict-state",
        action="store_true",
        default=None,
        help="fail tests that change global state (sys.path, sys.modules, atexit, "
        "logging handlers, os.environ, ...)",
    )
    group.addoption(
        "--leakwatch-settle",
        metavar="SECONDS",
        default=None,
        help="how long to let threads and tasks finish before judging (default 0.5)",
    )
    for name, (_, kind, text) in INI.items():
        parser.addini(name, f"leakwatch: {text}", type=kind, default=None)  # type: ignore[arg-type]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    run = load_run_settings(config)
    if not run.config.enabled:
        return  # inert: no hooks registered, no audit hook installed
    from leakwatch._pytest.fixture import remember
    from leakwatch._pytest.plugin import LeakwatchPlugin
    from leakwatch._pytest.session_results import SessionResults

    _stop_stacks_at_hook_dispatch(config)
    results = SessionResults(config, run)
    checker = LeakwatchPlugin(config, run, results)
    remember(config, run.config)
    for name, plugin in (("leakwatch-results", results), ("leakwatch-checker", checker)):
        config.pluginmanager.register(plugin, name)
        config.add_cleanup(functools.partial(config.pluginmanager.unregister, plugin))


def _stop_stacks_at_hook_dispatch(config: pytest.Config) -> None:
    """Creation stacks end at pluggy's innermost hook dispatch: what lies past
    it is pytest's runner, the same for every record (read, never shown)."""
    from leakwatch._attribution import stacks

    dispatch = getattr(sys.modules.get("pluggy._callers"), "_multicall", None)
    code = getattr(dispatch, "__code__", None)
    if isinstance(code, types.CodeType):
        previous = stacks.stop_at(code)

        def put_back() -> None:
            stacks.stop_at(previous)

        config.add_cleanup(put_back)


@pytest.fixture
def leakwatch(request: pytest.FixtureRequest) -> LeakwatchFixture:
    """The test's own leakwatch: ``leakwatch.watch()``, ``leakwatch.check(fn, repeat=5)``."""
    from leakwatch._pytest.fixture import LeakwatchFixture, defaults_for

    return LeakwatchFixture(request.node.nodeid, defaults_for(request.config))
