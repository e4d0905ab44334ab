"""The verdict of one watch: a :class:`Report` of leaks and what else was seen.

Plain frozen data with its JSON form (``to_dict``/``from_dict``).  Its text
form (``format()``, ``str()``) is rendered by :mod:`leakwatch._report.text`,
imported when a text form is first asked for.  Must not import a renderer
as it is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leakwatch._base.frames import jsonable
from leakwatch._base.model import Leak

SCHEMA = "leakwatch.report/1"
SESSION_SCHEMA = "leakwatch.session/1"


@dataclass
class Report:
    """What one watch, check or run concluded.

    ``leaks`` holds only what the policy judges a leak: what would fail a
    test.  Everything that is information only lives beside it: ``info``
    (heap retained after a single call, global state changed once),
    ``ignored`` (matched an ignore rule), ``known`` (known library leaks) and
    ``baselined`` (listed in a baseline file).
    """

    leaks: list[Leak] = field(default_factory=list)
    info: list[Leak] = field(default_factory=list)
    ignored: list[Leak] = field(default_factory=list)
    known: list[Leak] = field(default_factory=list)
    baselined: list[Leak] = field(default_factory=list)
    label: str | None = None
    block_failed: bool = False
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """True when nothing was judged a leak."""
        return not self.leaks

    def by_kind(self, kind: str) -> list[Leak]:
        return [leak for leak in self.leaks if leak.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "label": self.label,
            "leaks": [leak.to_dict() for leak in self.leaks],
            "info": [leak.to_dict() for leak in self.info],
            "ignored": [leak.to_dict() for leak in self.ignored],
            "known": [leak.to_dict() for leak in self.known],
            "baselined": [leak.to_dict() for leak in self.baselined],
            "block_failed": self.block_failed,
            "notes": list(self.notes),
            "stats": jsonable(self.stats),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        def leaks(key: str) -> list[Leak]:
            return [Leak.from_dict(d) for d in data.get(key) or ()]

        return cls(
            leaks=leaks("leaks"),
            info=leaks("info"),
            ignored=leaks("ignored"),
            known=leaks("known"),
            baselined=leaks("baselined"),
            label=data.get("label"),
            block_failed=bool(data.get("block_failed", False)),
            notes=list(data.get("notes") or ()),
            stats=dict(data.get("stats") or {}),
        )

    def format(self, *, verbose: bool = False, color: bool = False) -> str:
        """The text report a person reads (see ``leakwatch._report.text``)."""
        from leakwatch._report.text import format_report  # the renderer, imported once asked

        return format_report(self, verbose=verbose, color=color)

    def __str__(self) -> str:
        return self.format()
