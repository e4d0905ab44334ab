"""Settings: one frozen :class:`Config`, loaded from a file, the environment and callers.

Where settings come from, lowest precedence first::

    defaults  <  file  <  environment  <  command line  <  marker  <  API argument

``load_config(start, env=..., overrides=...)`` applies the first three and then
``overrides``; the pytest plugin and the CLI pass their command line there and
apply a marker or an argument afterwards with ``config.replace(**changes)``,
which validates exactly as loading does.

The file is the nearest one found walking up from ``start`` (default: the
current directory), stopping at the first directory that holds either

* ``leakwatch.toml``: settings at the top level, or under ``[leakwatch]``; or
* ``pyproject.toml`` with a ``[tool.leakwatch]`` table (a ``pyproject.toml``
  without that table is not a leakwatch config and the walk goes on, as with
  pytest and ruff).

If one directory holds both, ``leakwatch.toml`` wins.  Relative ``baseline``,
``json`` and ``html`` paths in a file are relative to that file's directory::

    [tool.leakwatch]
    kinds = ["fd", "thread", "task"]     # or "fd,thread,task", or "all"
    settle_budget = 0.2
    baseline = "leakwatch-baseline.json"

    [[tool.leakwatch.ignore]]
    reason = "the pool keeps one warm connection by design"
    kind = "fd"
    function = "myapp.pool.*"

Every setting ``key`` can also be set as ``LEAKWATCH_<KEY>`` (``LEAKWATCH_KINDS=fd,thread``,
``LEAKWATCH_SETTLE_BUDGET=0.2``, ``LEAKWATCH_ENABLED=1``), except ``ignore``;
``LEAKWATCH=1`` is short for ``LEAKWATCH_ENABLED=1``.  Booleans read
1/0, true/false, yes/no, on/off.  An empty variable is unset, except that an
empty ``LEAKWATCH_BASELINE``, ``_JSON`` or ``_HTML`` turns that output off.
Names starting ``LEAKWATCH__`` are left for leakwatch's own use.

A mistake is a :class:`ConfigError` (a ``ValueError``) of one line naming the
setting and where it came from::

    leakwatch: pyproject.toml [tool.leakwatch]: unknown key 'kindz' (did you mean 'kinds'?)

Must not build engine options: :mod:`leakwatch._rules.precedence` does.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leakwatch._base.files import display
from leakwatch._base.model import KINDS, RESOURCE_KINDS, parse_kinds
from leakwatch._report.errors import ConfigError
from leakwatch._rules.ignore import IgnoreRule
from leakwatch._rules.reading import read_toml, suggest

__all__ = ["Config", "ConfigError", "find_config_file", "load_config", "read_toml"]


SCOPES = ("test", "module", "session")


ON_LEAK = ("raise", "warn", "report")


ENV_PREFIX = "LEAKWATCH_"


_TRUE = ("1", "true", "yes", "on")


_FALSE = ("0", "false", "no", "off")


_PATH_KEYS = ("baseline", "json", "html")


@dataclass(frozen=True)
class Config:
    """Every leakwatch setting, validated.  Build one with :func:`load_config`."""

    enabled: bool = False  # the pytest plugin's switch (--leakwatch)
    kinds: tuple[str, ...] = RESOURCE_KINDS
    settle_attempts: int = 20
    settle_budget: float = 0.5  # seconds
    repeat: int = 5
    warmup: int = 1
    tracemalloc_depth: int = 16
    min_growth: int = 1  # bytes per call that count as heap growth
    strict_state: bool = False  # a global-state change after one call fails
    check_failed: bool = False  # judge blocks and tests that already failed
    scope: str = "test"
    ignore: tuple[IgnoreRule, ...] = ()
    known_leaks: bool = True  # apply the shipped list of known library leaks
    baseline: str | None = None
    json: str | None = None
    html: str | None = None
    verbose: bool = False
    on_leak: str = "raise"
    #: The file the settings were read from, if any (not a setting).
    config_file: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Every construction passes here, so a Config is never invalid; values
        # that came through load_config() or replace() are already clean.
        for key in SETTINGS:
            value = _coerce(key, getattr(self, key), "Config")
            object.__setattr__(self, key, value)

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied, validated like a file's settings."""
        return self.replace_from("Config.replace()", changes)

    def replace_from(self, where: str, changes: Mapping[str, Any]) -> Config:
        """:meth:`replace`, an error naming ``where`` the changes came from: a
        place (``"Config.replace()"``), or what the user typed for each key,
        with ``{key}`` in it (``"watch({key}=...)"``, ``"--{key}"``)."""
        return dataclasses.replace(self, **_coerce_all(changes, where))

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for a report header or a JSON report."""
        data = {key: getattr(self, key) for key in SETTINGS}
        data["kinds"] = list(self.kinds)
        data["ignore"] = [rule.to_dict() for rule in self.ignore]
        data["config_file"] = self.config_file
        return data


#: The names of the settings, in declaration order.
SETTINGS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(Config) if f.name != "config_file"
)


def load_config(
    start: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    overrides_from: str = "override",
) -> Config:
    """Defaults, then the nearest config file, then ``env``, then ``overrides``.

    ``env`` defaults to ``os.environ``; pass ``{}`` to ignore the environment.
    ``overrides_from`` names them in errors (see :meth:`Config.replace_from`).
    """
    values: dict[str, Any] = {}
    found = _locate(start)
    if found is not None:
        path, table, where = found
        values.update(_coerce_all(table, where, base_dir=path.parent))
        values["config_file"] = str(path)
    values.update(from_env(os.environ if env is None else env))
    if overrides:
        values.update(_coerce_all(overrides, overrides_from))
    return Config(**values)


def find_config_file(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The file :func:`load_config` would read, or None."""
    found = _locate(start)
    return None if found is None else found[0]


def _locate(start: str | os.PathLike[str] | None) -> tuple[Path, Mapping[str, Any], str] | None:
    here = Path(os.getcwd() if start is None else start).resolve()
    if here.is_file():
        here = here.parent
    for directory in (here, *here.parents):
        candidate = directory / "leakwatch.toml"
        if candidate.is_file():
            data = read_toml(candidate)
            if set(data) == {"leakwatch"} and isinstance(data["leakwatch"], dict):
                return candidate, data["leakwatch"], f"{display(candidate)} [leakwatch]"
            return candidate, data, display(candidate)
        candidate = directory / "pyproject.toml"
        # Most pyproject.toml files are not ours: skip the parse when the name is absent.
        if candidate.is_file() and "leakwatch" in _text_or_empty(candidate):
            table = read_toml(candidate).get("tool", {}).get("leakwatch")
            where = f"{display(candidate)} [tool.leakwatch]"
            if table is None:
                continue
            if not isinstance(table, dict):
                raise ConfigError(f"leakwatch: {where}: must be a table")
            return candidate, table, where
    return None


def _text_or_empty(path: Path) -> str:
    try:
        return path.read_text("utf-8", errors="replace")
    except OSError:  # unreadable: not a config we can use, so not ours
        return ""


def from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    short = env.get("LEAKWATCH", "")
    if short.strip():
        values["enabled"] = _coerce("enabled", short, "environment LEAKWATCH", text=True)
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name.startswith(ENV_PREFIX + "_"):
            continue
        key, raw = name[len(ENV_PREFIX) :].lower(), env[name]
        where = f"environment {name}"
        if key not in SETTINGS:
            names = [ENV_PREFIX + k.upper() for k in SETTINGS if k != "ignore"]
            raise ConfigError(f"leakwatch: {where}: unknown setting{suggest(name, names)}")
        if key == "ignore":
            raise ConfigError(
                f"leakwatch: {where}: ignore rules can only be set in a config file "
                "or with leakwatch.ignore()"
            )
        if raw.strip() or key in _PATH_KEYS:
            values[key] = _coerce(key, raw, where, text=True)
    return values


def _coerce_all(
    values: Mapping[str, Any], where: str, *, base_dir: Path | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in SETTINGS:
            if "{key}" in where:
                typed = _typed(where, key)
                raise ConfigError(f"leakwatch: {typed}: unknown option{suggest(key, SETTINGS)}")
            raise ConfigError(f"leakwatch: {where}: unknown key {key!r}{suggest(key, SETTINGS)}")
        value = _coerce(key, value, where)
        if base_dir is not None and key in _PATH_KEYS and value is not None:
            value = str(base_dir / value)  # an absolute value stays as it is
        out[key] = value
    return out


def _typed(where: str, key: str) -> str:
    """What the user typed for ``key``: ``--settle-budget`` for ``--{key}``."""
    return where.format(key=key.replace("_", "-") if where.startswith("--") else key)


def _coerce(key: str, value: Any, where: str, *, text: bool = False) -> Any:
    """Check (and, for text from the environment, parse) one setting's value."""
    # A place names the key ("pyproject.toml [tool.leakwatch]: 'kinds' must
    # be ..."); what the user typed already is the key ("--kinds: must be ...").
    head = f"{_typed(where, key)}:" if "{key}" in where else f"{where}: {key!r}"

    def bad(expected: str) -> ConfigError:
        return ConfigError(f"leakwatch: {head} must be {expected}, got {value!r}")

    default = _DEFAULTS[key]
    if key == "kinds":
        return _kinds(value, bad, head if "{key}" in where else None)
    if key == "ignore":
        return _ignore_rules(value, where, bad)
    if key in _PATH_KEYS:
        if value is None or (text and value == ""):
            return None
        if isinstance(value, (str, os.PathLike)) and os.fspath(value):
            return os.fspath(value)
        raise bad("a file path")
    if isinstance(default, bool):
        if text and str(value).strip().lower() in _TRUE + _FALSE:
            return str(value).strip().lower() in _TRUE
        if isinstance(value, bool):
            return value
        raise bad("true or false")
    if isinstance(default, int):
        floor = 1 if key in ("repeat", "tracemalloc_depth") else 0
        number = _number(value, int, text)
        if isinstance(number, int) and number >= floor:
            return number
        raise bad(f"an integer >= {floor}")
    if isinstance(default, float):
        number = _number(value, float, text)
        if isinstance(number, (int, float)) and math.isfinite(number) and number >= 0:
            return float(number)
        raise bad("a number >= 0")
    choices = SCOPES if key == "scope" else ON_LEAK
    if isinstance(value, str) and value.strip() in choices:
        return value.strip()
    raise bad("one of " + ", ".join(repr(c) for c in choices))


def _number(value: Any, kind: type[int] | type[float], text: bool) -> Any:
    if text and isinstance(value, str):
        try:
            return kind(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool):  # bool is an int to Python, never a number to a user
        return None
    return value if isinstance(value, (int, float) if kind is float else int) else None


def _kinds(
    value: Any, bad: Callable[[str], ConfigError], typed: str | None = None
) -> tuple[str, ...]:
    try:
        return parse_kinds(value)
    except ValueError as exc:
        reason, name = exc.args
    if reason == "shape":
        raise bad("a list of kinds")
    if reason == "unknown" and typed is not None:  # "--kinds: unknown kind 'x'": one name, one fix
        raise ConfigError(
            f"leakwatch: {typed} unknown kind {name!r}{suggest(name, KINDS)}; "
            f"kinds: {', '.join(KINDS)}, or all"
        )
    raise bad("kinds from " + ", ".join(KINDS))


def _ignore_rules(
    value: Any, where: str, bad: Callable[[str], ConfigError]
) -> tuple[IgnoreRule, ...]:

    if not isinstance(value, (list, tuple)):
        raise bad("a list of rules")
    rules = []
    for i, item in enumerate(value, 1):
        if isinstance(item, IgnoreRule):
            rules.append(item)
        elif isinstance(item, Mapping):
            rules.append(IgnoreRule.from_mapping(item, f"{where} ignore #{i}"))
        else:
            raise bad("a list of rules (tables with a 'reason')")
    return tuple(rules)


_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Config)}
