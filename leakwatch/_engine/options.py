"""What one watch looks at and how patiently: :class:`Options`, and what settling found.

Plain frozen data the shells fill from the rules (``leakwatch._rules.precedence``).
Must not import a probe.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from leakwatch._base.model import RESOURCE_KINDS

if TYPE_CHECKING:
    from leakwatch._base.model import Leak
    from leakwatch._engine.collect import Collected
    from leakwatch._report.report import Report


class Judging(Protocol):
    """What judges a watch's leaks once the engine found them: ignore rules,
    known library leaks, a baseline (``leakwatch._rules.policy.Policy``, and
    a test's marker over it)."""

    def apply(self, report: Report, scope: str | None = None) -> Report:
        """Move what the rules take out of ``report.leaks`` (in place)."""

    def expected(self, leak: Leak) -> bool:
        """Whether the rules would take this leftover out: settling need not
        wait for it."""


@dataclass(frozen=True)
class Options:
    """What one watch looks at and how patiently.  See ``leakwatch._rules.config``."""

    kinds: tuple[str, ...] = RESOURCE_KINDS
    settle_budget: float = 0.5
    settle_attempts: int = 20
    tracemalloc_depth: int = 16
    strict_state: bool = False
    why_alive: bool = True
    why_alive_budget: float = 0.3
    origins: bool = True  # record creation stacks (off: cheaper, leaks show no origin)
    # gc.freeze() older objects while the block runs, so gc passes cost what the
    # block allocated.  Off by default: a block that itself calls gc.collect()
    # expecting older garbage to go would see a different program.
    freeze_gc: bool = False
    # Information-only findings of one watch: heap retained after the block (a
    # full gc pass, then a walk of the traces) and state changes not judged.
    # Off: not computed (the pytest plugin keeps only what is judged, so it
    # would pay for a gc pass per test and drop the result).  Heap tracing
    # still runs, for the origins it gives.
    info: bool = True
    label: str | None = None
    # A leftover a module global holds through attributes alone (a library's
    # singleton made on first use, see ``_singletons``): "info" reports it as
    # information (one call cannot tell it from a leak); "judge" leaves it to
    # the policy (the pytest plugin fails the second one a suite makes).
    singletons: str = "info"
    policy: Judging | None = None  # ignore rules, known leaks, baseline

    def with_(self, **changes: Any) -> Options:
        return replace(self, **changes)


@dataclass
class SettleResult:
    """What settling left (``new``, per kind) and found on the way."""

    new: dict[str, dict[Hashable, Any]] = field(default_factory=dict)
    attempts: int = 0
    seconds: float = 0.0
    #: ``(kind, key)`` of leftovers the verdict will not depend on (set aside
    #: while settling): describing skips their searches.
    expected: set[tuple[str, Hashable]] = field(default_factory=set)
    #: What settling's gc passes finalised (``collect.Collected``).
    collected: list[Collected] = field(default_factory=list)
