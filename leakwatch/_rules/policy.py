"""What counts against the user: ignore rules, known library leaks, a baseline.

Applied to a report's leaks in that order; what a step takes out moves to its
own section (``ignored``, ``known``, ``baselined``) and never fails.  A
policy lives as long as its run (a watch, a pytest session, ``leakwatch
run``) and sums rule hits across it, so stale rules can be listed at the end.
"""

from __future__ import annotations

import functools
from collections import Counter

from leakwatch._base.model import Leak
from leakwatch._report.report import Report
from leakwatch._rules.baseline import Baseline, load_baseline
from leakwatch._rules.config import Config
from leakwatch._rules.ignore import IgnoreRule, Texts, apply_rules, unmatched
from leakwatch._rules.known import KnownLeak, apply_known, load_known_leaks


@functools.lru_cache(maxsize=1)
def _known() -> tuple[KnownLeak, ...]:
    return tuple(load_known_leaks())


class Policy:
    def __init__(
        self,
        rules: tuple[IgnoreRule, ...] = (),
        *,
        known: bool = True,
        baseline: Baseline | None = None,
        scope: str = "program",
    ) -> None:
        self.rules = rules
        self.known = _known() if known else ()
        self.baseline = baseline
        self.scope = scope
        self.hits: Counter[IgnoreRule] = Counter()

    @classmethod
    def from_config(cls, config: Config, *, scope: str = "program") -> Policy:
        baseline = load_baseline(config.baseline, missing_ok=True) if config.baseline else None
        return cls(config.ignore, known=config.known_leaks, baseline=baseline, scope=scope)

    def apply(self, report: Report, scope: str | None = None) -> Report:
        leaks = report.leaks
        if self.rules:
            leaks, ignored, hits = apply_rules(leaks, self.rules)
            self.hits.update(hits)
            report.ignored.extend(ignored)
        if self.known:
            leaks, known = apply_known(leaks, self.known)
            report.known.extend(known)
        if self.baseline is not None:
            leaks, old = self.baseline.split(scope or report.label or self.scope, leaks)
            report.baselined.extend(old)
        report.leaks = leaks
        return report

    def expected(self, leak: Leak) -> bool:
        """Whether an ignore rule or a known library leak takes ``leak`` out
        (no hit is counted: :meth:`apply` counts them at the end)."""
        texts = Texts(leak)
        return any(rule.matches(leak, texts) for rule in self.rules) or any(
            entry.matches(leak, texts) for entry in self.known
        )

    def unmatched(self) -> list[IgnoreRule]:
        """Rules that matched nothing in this run: stale, worth deleting."""
        return unmatched(self.rules, self.hits)
