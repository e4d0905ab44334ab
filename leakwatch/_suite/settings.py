"""The run's settings, whichever runner reads them (pytest, unittest).

Must not start a watch: it only holds what was read and makes the engine's
options from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from leakwatch._base.files import display
from leakwatch._base.wording import plural
from leakwatch._rules.config import Config

if TYPE_CHECKING:  # the engine loads only when a runner turns leakwatch on
    from leakwatch._engine.options import Options

#: Kinds a wider fixture's span watches (a pytest fixture of a wider scope, a
#: unittest class or module).  Tasks die with their loop (and their span
#: would change coroutine origin tracking out of order); heap and state are
#: whole-process views that cannot be split between overlapping spans.
FIXTURE_KINDS = ("fd", "thread", "timer", "process", "tempfile")

DEFAULT_BASELINE = "leakwatch-baseline.json"


@dataclass(frozen=True)
class RunSettings:
    """Everything the plugin decided for the whole run."""

    config: Config
    update_baseline: bool = False

    @property
    def baseline_out(self) -> str:
        """Where ``--leakwatch-update-baseline`` writes."""
        return self.config.baseline or DEFAULT_BASELINE

    def engine_options(self) -> Options:
        """Engine options for a test (its label and policy are set per test).

        The files they read (baseline, ignore rules) are read here: a mistake in
        one is a :class:`~leakwatch._rules.reading.ConfigError`, one line."""
        from leakwatch._rules.precedence import engine_options

        options = engine_options(self.config, scope="test")
        if self.config.strict_state and "state" not in options.kinds:
            options = options.with_(kinds=(*options.kinds, "state"))
        return options

    def header(self) -> list[str]:
        cfg = self.config
        parts = [
            "kinds " + ",".join(cfg.kinds),
            f"settle {cfg.settle_budget:g}s",
            "failed tests " + ("judged" if cfg.check_failed else "not judged"),
        ]
        if cfg.strict_state:
            parts.append("strict state")
        if cfg.ignore:
            parts.append(plural(len(cfg.ignore), "ignore rule"))
        if self.update_baseline:
            parts.append(f"updating baseline {display(self.baseline_out)}")
        elif cfg.baseline:
            parts.append(f"baseline {display(cfg.baseline)}")
        if cfg.json:
            parts.append(f"json {display(cfg.json)}")
        if cfg.html:
            parts.append(f"html {display(cfg.html)}")
        lines = ["leakwatch: " + ", ".join(parts)]
        if cfg.config_file:
            lines.append(f"leakwatch: settings from {display(cfg.config_file)}")
        return lines
