"""leakwatch's own options for a unittest run, read before unittest's.

Lowest precedence first::

    defaults < [tool.leakwatch] / leakwatch.toml < LEAKWATCH_* environment
             < --leakwatch-* options placed before unittest's own arguments

The options are the pytest plugin's, with the same names and meanings.  A
mistake is one line (:class:`UsageError`).  Must not start a watch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from leakwatch._base.model import kinds_help
from leakwatch._report.errors import ConfigError, UsageError
from leakwatch._rules.config import Config, load_config
from leakwatch._suite.settings import RunSettings

#: option -> (Config key or "update_baseline", takes a value, help)
OPTIONS: dict[str, tuple[str, bool, str]] = {
    "--leakwatch-kinds": ("kinds", True, f"kinds to check, {kinds_help()}"),
    "--leakwatch-json": (
        "json",
        True,
        "write the run's leaks as JSON (schema leakwatch.session/1), whole or not at all",
    ),
    "--leakwatch-html": (
        "html",
        True,
        "write the run's leaks as an HTML page (as leakwatch report --html), whole or not at all",
    ),
    "--leakwatch-baseline": (
        "baseline",
        True,
        "leaks listed in this baseline file are reported but don't fail",
    ),
    "--leakwatch-update-baseline": (
        "update_baseline",
        False,
        "rewrite the baseline (--leakwatch-baseline, else leakwatch-baseline.json) "
        "from this run's leaks; leaks don't fail while recording",
    ),
    "--leakwatch-check-failed": ("check_failed", False, "judge tests that failed too"),
    "--leakwatch-strict-state": (
        "strict_state",
        False,
        "fail tests that change global state (sys.path, atexit, logging handlers, ...)",
    ),
    "--leakwatch-settle": (
        "settle_budget",
        True,
        "seconds to let threads and tasks finish before judging (default 0.5)",
    ),
}


def usage() -> str:
    lines = [
        "leakwatch options (before unittest's own arguments; the pytest plugin's names):",
    ]
    for name, (_, value, text) in OPTIONS.items():
        lines.append(f"  {name}{' VALUE' if value else ''}")
        lines.append(f"      {text}")
    lines.append("environment: LEAKWATCH_KINDS, LEAKWATCH_JSON, LEAKWATCH_BASELINE, ...")
    return "\n".join(lines)


def split_argv(argv: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """The leading ``--leakwatch-*`` options (as Config keys) and the rest."""
    found: dict[str, Any] = {}
    rest = list(argv)
    while rest and rest[0].startswith("--leakwatch"):
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        spec = OPTIONS.get(name)
        if spec is None:
            raise UsageError(f"leakwatch: unknown option {name!r}; {_names()}")
        key, takes, _ = spec
        if not takes:
            if eq:
                raise UsageError(f"leakwatch: {name} takes no value")
            found[key] = True
            continue
        if not eq:
            if not rest:
                raise UsageError(f"leakwatch: {name} needs a value")
            value = rest.pop(0)
        found[key] = value
    return found, rest


def _names() -> str:
    return "options: " + ", ".join(OPTIONS)


def run_settings(
    options: Mapping[str, Any],
    *,
    start: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> RunSettings:
    """The run's settings: file, environment, then ``options`` (from :func:`split_argv`
    or a runner's keyword arguments); paths on the command line are relative to
    the current directory.  The run is watched whatever ``enabled`` says."""
    here = Path.cwd()
    values = dict(options)
    update = bool(values.pop("update_baseline", False))
    try:
        config = load_config(start or here, env=os.environ if env is None else env)
        for key in ("json", "html", "baseline"):
            if values.get(key):
                values[key] = str(here / str(values[key]))
        if "settle_budget" in values and isinstance(values["settle_budget"], str):
            raw = values["settle_budget"]
            try:
                values["settle_budget"] = float(raw)
            except ValueError:
                raise ConfigError(
                    f"leakwatch: --leakwatch-settle: must be a number of seconds, got {raw!r}"
                ) from None
        config = _replace(config, values)
        run = RunSettings(config.replace(enabled=True), update_baseline=update)
        run.engine_options()  # read the baseline and rules now: a mistake is one line
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return run


def _replace(config: Config, values: Mapping[str, Any]) -> Config:
    for key, value in values.items():
        try:
            config = config.replace(**{key: value})
        except ConfigError as exc:
            option = next((n for n, spec in OPTIONS.items() if spec[0] == key), key)
            raise ConfigError(str(exc).replace("Config.replace()", option, 1)) from None
    return config
