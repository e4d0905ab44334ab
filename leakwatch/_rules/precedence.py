"""From configuration to engine options, in the documented order of precedence.

defaults < file (``[tool.leakwatch]`` / ``leakwatch.toml``) < environment
(``LEAKWATCH_*``) < command line < marker < API argument.  The file is read
once per directory and environment, not on every watch.

Must not read a probe or render a report.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

from leakwatch._engine.options import Options
from leakwatch._rules.config import Config, load_config
from leakwatch._rules.policy import Policy


@functools.lru_cache(maxsize=8)
def _base_config(cwd: str, env: tuple[tuple[str, str], ...]) -> Config:
    return load_config(cwd, env=dict(env))


def base_config() -> Config:
    """The file and environment settings for the current directory (cached)."""
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("LEAKWATCH")))
    return _base_config(os.getcwd(), env)


def engine_options(config: Config, *, label: str | None = None, scope: str = "program") -> Options:
    return Options(
        kinds=config.kinds,
        settle_budget=config.settle_budget,
        settle_attempts=config.settle_attempts,
        tracemalloc_depth=config.tracemalloc_depth,
        strict_state=config.strict_state,
        label=label,
        policy=Policy.from_config(config, scope=scope),
    )


def options_for(
    overrides: Mapping[str, Any], *, label: str | None, caller: str = "watch"
) -> tuple[Options, str]:
    """Engine options and the on_leak policy for an API call's arguments
    (``caller``: the function they were passed to, for errors)."""
    config = base_config()
    if overrides:
        config = config.replace_from(caller + "({key}=...)", overrides)
    return engine_options(config, label=label), config.on_leak
