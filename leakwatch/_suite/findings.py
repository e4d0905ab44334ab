"""What one test phase or one fixture left behind: as text for people, plain data for JSON.

A :class:`Finding` is plain data: under pytest it travels on a ``TestReport``
as ``report.leakwatch`` (a list of dicts), so it crosses pytest-xdist like
any report field; under unittest it is the text of a test's failure.

Must not judge: it words and splits what a span's report already decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leakwatch._base.model import Leak
from leakwatch._report.report import Report
from leakwatch._report.text import created_at, format_leak

#: Report fields a finding lists, besides its leaks.  ``collected``: objects
#: leakwatch's own gc passes finalised (their warnings kept out of the test).
SECTIONS = ("baselined", "known", "ignored", "collected", "first_use")
#: The sections taken from a report's ``info`` (marked by this detail).
_FROM_INFO = {"collected": "collected_by_gc", "first_use": "first_use"}
#: The report's lists the sections come from: a report with all of them empty says nothing.
_LISTS = ("leaks", "info", *(name for name in SECTIONS if name not in _FROM_INFO))

_WHERE = {
    ("setup", "teardown"): "created in setup (by a fixture) and still alive after teardown",
    ("call", "teardown"): "created in call and still alive after teardown",
    ("teardown", "teardown"): "created in teardown and still alive after it",
    ("call", "return"): "created in call and still pending when the test returned",
    ("call", "repeat"): "growing with every repeated call",
    ("call", "fixture"): "found by the test's own leakwatch fixture, which failed the test",
    ("setup", "escaped"): (
        "handed to the test in setup and still alive after teardown, "
        "like values of earlier tests: growth across tests"
    ),
}


@dataclass
class Finding:
    """Leaks of one test phase (or one fixture), and what the policy set aside."""

    nodeid: str
    phase: str
    leaks: list[Leak] = field(default_factory=list)
    baselined: list[Leak] = field(default_factory=list)
    known: list[Leak] = field(default_factory=list)
    ignored: list[Leak] = field(default_factory=list)
    collected: list[Leak] = field(default_factory=list)
    #: What might be a library's one-time initialisation (see ``firstuse``).
    first_use: list[Leak] = field(default_factory=list)
    #: For a wider-scoped fixture: its name and scope.
    fixture: str | None = None
    scope: str | None = None
    #: When it was judged: "teardown" (the end of the test), "return" (tasks,
    #: as the test returned), "repeat" (growth over repeated calls),
    #: "escaped" (objects that outlived their test, growing across tests),
    #: "fixture" (the test's own ``leakwatch`` fixture raised LeakError).
    judged: str = "teardown"

    @property
    def count(self) -> int:
        return sum(leak.count for leak in self.leaks)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"nodeid": self.nodeid, "phase": self.phase, "judged": self.judged}
        data["leaks"] = [leak.to_dict() for leak in self.leaks]
        for name in SECTIONS:
            data[name] = [leak.to_dict() for leak in getattr(self, name)]
        if self.fixture is not None:
            data["fixture"] = self.fixture
            data["scope"] = self.scope
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        def leaks(key: str) -> list[Leak]:
            return [Leak.from_dict(d) for d in data.get(key) or ()]

        return cls(
            nodeid=str(data["nodeid"]),
            phase=str(data.get("phase", "")),
            leaks=leaks("leaks"),
            baselined=leaks("baselined"),
            known=leaks("known"),
            ignored=leaks("ignored"),
            collected=leaks("collected"),
            first_use=leaks("first_use"),
            fixture=data.get("fixture"),
            scope=data.get("scope"),
            judged=str(data.get("judged", "teardown")),
        )

    def headline(self) -> str:
        """One line, most telling first: pytest's short summary shows what fits."""
        n = self.count
        kinds = list(dict.fromkeys(leak.kind for leak in self.leaks))
        what = f"{n} {kinds[0]} leak" if len(kinds) == 1 else f"{n} leaks ({', '.join(kinds)})"
        what += "s" if n != 1 and len(kinds) == 1 else ""
        if self.fixture is not None:
            head = f"leakwatch: {what} from {self.scope} fixture {self.fixture!r}"
        else:
            head = f"leakwatch: {what} in {self.phase}"
        if self.leaks:
            first = self.leaks[0]
            head += f": {first.title}"
            head += created_at(first)
            if len(self.leaks) > 1:
                head += f" (+{len(self.leaks) - 1} more)"
        return head

    def explanation(self) -> str:
        if self.fixture is not None:
            return f"  (made by the fixture, still alive after it was finalised; {self.nodeid})"
        where = _WHERE.get((self.phase, self.judged), "in " + self.phase)
        ended = [leak for leak in self.leaks if leak.details.get("ended")]
        if ended and self.judged == "teardown":
            how = str(ended[0].details["ended"]).replace("cancelled when", "pending when")
            if len(ended) == len(self.leaks):
                where = f"created in {self.phase} and still {how}"
            else:
                where += f"; {len(ended)} of them still {how}"
        return f"  ({where})"

    def text(self, *, verbose: bool = False) -> str:
        lines = [self.headline(), self.explanation()]
        for leak in self.leaks:
            lines.append("")
            lines.extend(format_leak(leak, verbose=verbose))
        for name, title in (
            ("baselined", "in the baseline (not failing)"),
            ("known", "known library leaks (not failing)"),
            ("ignored", "ignored (not failing)"),
            ("collected", "closed only by the garbage collector in leakwatch's gc pass"),
            ("first_use", "first use in this session, like one-time initialisation (not failing)"),
        ):
            items: list[Leak] = getattr(self, name)
            if items:
                lines += ["", f"  {title}:"]
                for leak in items[: None if verbose else 3]:
                    lines.extend(format_leak(leak, verbose=verbose))
        return "\n".join(lines)


def split(report: Report, nodeid: str, default: str, **extra: Any) -> list[Finding]:
    """One finding per phase (``details["phase"]``), for phases with anything to say."""
    for name in _LISTS:
        if getattr(report, name):
            break
    else:
        return []  # most tests: nothing at all
    by_phase: dict[str, Finding] = {}
    for name in ("leaks", *SECTIONS):
        if name in _FROM_INFO:
            found = [leak for leak in report.info if leak.details.get(_FROM_INFO[name])]
        else:
            found = getattr(report, name)
        for leak in found:
            phase = str(leak.details.get("phase") or default)
            finding = by_phase.get(phase)
            if finding is None:
                finding = by_phase[phase] = Finding(nodeid, phase, **extra)
            getattr(finding, name).append(leak)
    return list(by_phase.values())
