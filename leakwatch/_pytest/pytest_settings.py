"""The run's settings and a test's marker, in the documented order of precedence.

Lowest first::

    defaults < [tool.leakwatch] / leakwatch.toml < pytest ini (leakwatch_*)
             < environment (LEAKWATCH_*) < command line (--leakwatch-*)
             < @pytest.mark.leakwatch(...)

The run's settings are read once, in ``pytest_configure``; a marker is read
once per test, and only for tests that carry one.  A mistake in either is a
one-line message naming the setting and where it came from.

Must not start a watch: it only reads and validates settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from leakwatch._base.files import display
from leakwatch._base.model import KINDS, parse_kinds
from leakwatch._report.errors import ConfigError, MarkerError
from leakwatch._rules.config import Config, from_env, load_config
from leakwatch._rules.ignore import IgnoreRule
from leakwatch._suite.settings import DEFAULT_BASELINE as DEFAULT_BASELINE
from leakwatch._suite.settings import RunSettings as _RunSettings

if TYPE_CHECKING:  # the engine loads only when the plugin is on
    from leakwatch._engine.options import Options

#: ini name -> (Config key, ini type, help).  ``update_baseline`` is the
#: plugin's own, not a Config setting.
INI: dict[str, tuple[str, str, str]] = {
    "leakwatch": ("enabled", "bool", "check every test for leaks (like --leakwatch)"),
    "leakwatch_kinds": ("kinds", "string", "kinds to check, comma-separated, or 'all'"),
    "leakwatch_json": ("json", "string", "write a JSON report of the session's leaks here"),
    "leakwatch_html": ("html", "string", "write an HTML report of the session's leaks here"),
    "leakwatch_baseline": ("baseline", "string", "baseline file: leaks listed there don't fail"),
    "leakwatch_update_baseline": (
        "update_baseline",
        "bool",
        "rewrite the baseline from this run's leaks",
    ),
    "leakwatch_check_failed": ("check_failed", "bool", "judge tests that already failed too"),
    "leakwatch_strict_state": (
        "strict_state",
        "bool",
        "fail tests that change global state (sys.path, atexit, logging handlers, ...)",
    ),
    "leakwatch_settle": ("settle_budget", "string", "seconds to let threads/tasks finish"),
}

#: Command-line destinations -> Config key (the same names as the ini, minus the prefix).
CLI: dict[str, str] = {
    "leakwatch": "enabled",
    "leakwatch_kinds": "kinds",
    "leakwatch_json": "json",
    "leakwatch_html": "html",
    "leakwatch_baseline": "baseline",
    "leakwatch_update_baseline": "update_baseline",
    "leakwatch_check_failed": "check_failed",
    "leakwatch_strict_state": "strict_state",
    "leakwatch_settle": "settle_budget",
}

_PATHS = ("json", "html", "baseline")


class RunSettings(_RunSettings):
    """The run's settings; a mistake in a file they read is a :class:`pytest.UsageError`."""

    def engine_options(self) -> Options:
        try:
            return super().engine_options()
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None


def load_run_settings(config: pytest.Config, env: Mapping[str, str] | None = None) -> RunSettings:
    """Read the layers in order; any mistake is a :class:`pytest.UsageError`."""
    env = os.environ if env is None else env
    try:
        settings = load_config(config.rootpath, env={})
        ini, update_ini = _ini_values(config)
        cli, update_cli = _cli_values(config)
        settings = settings.replace(**ini).replace(**from_env(env)).replace(**cli)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    update = update_ini if update_cli is None else update_cli
    return RunSettings(settings, update_baseline=update)


def _ini_values(config: pytest.Config) -> tuple[dict[str, Any], bool]:
    base = config.inipath.parent if config.inipath else config.rootpath
    values: dict[str, Any] = {}
    update = False
    for name, (key, kind, _) in INI.items():
        raw = config.getini(name)
        if raw is None or (kind == "string" and not str(raw).strip()):
            continue
        where = f"{display(config.inipath or 'ini')} {name}"
        if key == "update_baseline":
            update = bool(raw)
        else:
            values[key] = _parse(key, raw, where, base)
    return values, update


def _cli_values(config: pytest.Config) -> tuple[dict[str, Any], bool | None]:
    base = config.invocation_params.dir
    values: dict[str, Any] = {}
    update: bool | None = None
    for dest, key in CLI.items():
        raw = config.getoption(dest, None)
        if raw is None:
            continue
        if key == "update_baseline":
            update = bool(raw)
        else:
            values[key] = _parse(key, raw, f"command line --{dest.replace('_', '-')}", base)
    return values, update


def _parse(key: str, raw: Any, where: str, base: Path) -> Any:
    if key == "settle_budget" and isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            raise ConfigError(
                f"leakwatch: {where}: must be a number of seconds, got {raw!r}"
            ) from None
    if key in _PATHS:
        return str(base / str(raw))  # an absolute path stays as it is
    try:  # checked here, so a mistake names the option it came from
        return getattr(Config().replace(**{key: raw}), key)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("Config.replace()", where, 1)) from None


# -- the marker -------------------------------------------------------------------

MARKER_HELP = (
    "leakwatch(enabled=True, *, kinds=None, allow=(), ignore=(), repeat=0, warmup=0, "
    "settle=None, strict_state=None, check_failed=None): leakwatch options for this test. "
    "leakwatch(False) opts out; kinds: what to check; allow: kinds reported but not failing; "
    "ignore: [leakwatch.ignore(reason=..., ...)]; repeat=N: call the test N more times and "
    "fail on heap or state growing with every call; settle: seconds to let threads and tasks "
    "finish.  Only acts when leakwatch is enabled (--leakwatch)."
)


@dataclass(frozen=True)
class TestSettings:
    """What a test's ``@pytest.mark.leakwatch`` asks for (None: as the run says)."""

    __test__ = False  # not a test class, whatever its name says to pytest

    enabled: bool = True
    kinds: tuple[str, ...] | None = None
    allow: frozenset[str] = frozenset()
    ignore: tuple[IgnoreRule, ...] = ()
    repeat: int = 0
    warmup: int = 0
    settle: float | None = None
    strict_state: bool | None = None
    check_failed: bool | None = None


NO_MARKER = TestSettings()


def marker_settings(item: pytest.Item) -> TestSettings:
    """The test's leakwatch markers merged, the closest one winning per key."""
    marks = list(item.iter_markers("leakwatch"))
    if not marks:
        return NO_MARKER
    raw: dict[str, Any] = {}
    for mark in reversed(marks):
        if len(mark.args) > 1:
            raise MarkerError("takes at most one positional argument, enabled (True or False)")
        if mark.args:
            raw["enabled"] = mark.args[0]
        raw.update(mark.kwargs)
    unknown = sorted(set(raw) - set(_CHECKS))
    if unknown:
        raise MarkerError(f"unknown option {unknown[0]!r}; options: {', '.join(_CHECKS)}")
    return TestSettings(**{key: _CHECKS[key](key, value) for key, value in raw.items()})


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise MarkerError(f"{key!r} must be True or False, got {value!r}")
    return value


def _kinds(key: str, value: Any) -> tuple[str, ...]:
    try:
        return parse_kinds(value, allow_empty=key != "kinds")
    except ValueError as exc:
        if exc.args[0] == "shape":
            raise MarkerError(f"{key!r} must be a tuple of kinds, got {value!r}") from None
        raise MarkerError(
            f"{key!r} must hold kinds from {', '.join(KINDS)}, got {value!r}"
        ) from None


def _rules(key: str, value: Any) -> tuple[IgnoreRule, ...]:
    if isinstance(value, (IgnoreRule, Mapping)):
        value = [value]
    try:
        return Config().replace(ignore=value).ignore
    except ConfigError as exc:
        raise MarkerError(str(exc).removeprefix("leakwatch: Config.replace(): ")) from None


def _count(floor: int) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not (value == 0 or value >= floor)
        ):
            raise MarkerError(f"{key!r} must be 0 or an integer >= {floor}, got {value!r}")
        return value

    return check


def _seconds(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise MarkerError(f"{key!r} must be a number of seconds >= 0, got {value!r}")
    return float(value)


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "enabled": _bool,
    "kinds": _kinds,
    "allow": lambda key, value: frozenset(_kinds(key, value)),
    "ignore": _rules,
    "repeat": _count(2),
    "warmup": _count(1),
    "settle": _seconds,
    "strict_state": _bool,
    "check_failed": _bool,
}
