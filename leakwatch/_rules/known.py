"""Known library leaks: the shipped ``known_leaks.toml``, read and applied.

Each entry is an ignore rule with a ``link`` to the upstream explanation,
optionally bounded to a ``package`` and its ``versions``, or to ``python``
versions (``version_in`` reads the specifiers, no ``packaging`` needed).
:func:`apply_known` marks matches with ``details["known_because"]``; they
are reported apart and never fail.  Must not decide what fails: the policy
does.
"""

from __future__ import annotations

import functools
import importlib.metadata
import operator
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leakwatch._base.files import display
from leakwatch._base.model import Leak
from leakwatch._report.errors import ConfigError
from leakwatch._rules.ignore import IgnoreRule, Texts, _annotated
from leakwatch._rules.reading import read_toml

KNOWN_SCHEMA = "leakwatch.known/1"


KNOWN_LEAKS_FILE = Path(__file__).with_name("known_leaks.toml")


@dataclass(frozen=True)
class KnownLeak:
    """A known library leak: a rule, a link to why, and where it applies."""

    id: str
    rule: IgnoreRule
    link: str
    package: str | None = None
    versions: str | None = None  # e.g. ">=1.0,<2.3"; None means any installed version
    python: str | None = None  # bounds on the running Python, e.g. ">=3.10,<3.13"

    @property
    def reason(self) -> str:
        return self.rule.reason

    def applies(self) -> bool:
        """True when the package is installed within bounds and Python is too."""
        if self.python is not None:
            running = ".".join(str(n) for n in sys.version_info[:3])
            if not version_in(running, self.python):
                return False
        if self.package is None:
            return True
        installed = _installed_version(self.package)
        if installed is None:
            return False
        return self.versions is None or version_in(installed, self.versions)

    def matches(self, leak: Leak, texts: Texts | None = None) -> bool:
        return self.rule.matches(leak, texts)


def load_known_leaks(
    path: str | os.PathLike[str] | None = None, *, applicable_only: bool = True
) -> list[KnownLeak]:
    """The known library leaks (the shipped list unless ``path`` is given).

    Only the entries that apply to this interpreter and its installed packages,
    unless ``applicable_only`` is false.
    """
    path = KNOWN_LEAKS_FILE if path is None else Path(path)
    data = read_toml(path)
    where = display(path)
    entries = data.get("known", [])
    if data.get("schema", KNOWN_SCHEMA) != KNOWN_SCHEMA:
        raise ConfigError(f"leakwatch: {where}: expected schema {KNOWN_SCHEMA!r}")
    if not isinstance(entries, list):
        raise ConfigError(f"leakwatch: {where}: 'known' must be an array of tables")
    known = [_known_from_mapping(e, f"{where} known #{i}") for i, e in enumerate(entries, 1)]
    seen: set[str] = set()
    for entry in known:
        if entry.id in seen:
            raise ConfigError(f"leakwatch: {where}: duplicate id {entry.id!r}")
        seen.add(entry.id)
    return [k for k in known if k.applies()] if applicable_only else known


def apply_known(leaks: Sequence[Leak], known: Sequence[KnownLeak]) -> tuple[list[Leak], list[Leak]]:
    """Split ``leaks`` into (kept, known), known ones marked with ``details["known_because"]``."""
    kept: list[Leak] = []
    matched: list[Leak] = []
    for leak in leaks:
        # A part of an owner (a pool's pipe) has its owner's verdict, not a library's.
        owned = bool(leak.details.get("owned_by"))
        texts = Texts(leak)
        entry = None if owned else next((k for k in known if k.matches(leak, texts)), None)
        if entry is None:
            kept.append(leak)
        else:
            note = f"{entry.reason} ({entry.link})"
            matched.append(_annotated(leak, "known_because", note, known_leak=entry.id))
    return kept, matched


_SPEC = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)\s*(\d+(?:\.\d+)*)(\.\*)?\s*$")


_VERSION = re.compile(r"^\s*v?(\d+(?:\.\d+)*)(.*)$", re.IGNORECASE)


def version_in(version: str, spec: str) -> bool:
    """Whether ``version`` meets every clause of ``spec`` (``">=1.0,<2.3"``).

    Release numbers only, as PEP 440 orders them for the common cases: trailing
    zeros do not count (``2.3 == 2.3.0``), a pre-release or dev release sorts
    before its release and a post release after; ``==1.2.*`` and ``~=1.4`` work.
    An unreadable ``spec`` is a ValueError; an unreadable ``version`` meets nothing.
    """
    found = _VERSION.match(version)
    clauses = [_parse_clause(c) for c in spec.split(",")]
    if found is None:
        return False
    release = tuple(int(n) for n in found.group(1).split("."))
    suffix = found.group(2).lower().lstrip(".-_")
    if not suffix or suffix.startswith("+"):
        phase = 1  # a final release, maybe with a local label
    elif suffix.startswith("post") or suffix[0].isdigit():  # 1.0.post1, 1.0-1
        phase = 2
    else:  # a1, b2, rc1, dev0: before the release
        phase = 0
    return all(_meets(release, phase, *clause) for clause in clauses)


def _parse_clause(clause: str) -> tuple[str, tuple[int, ...], bool]:
    found = _SPEC.match(clause)
    if found is None:
        raise ValueError(f"not a version bound: {clause.strip()!r}")
    op, numbers, star = found.groups()
    if star and op not in ("==", "!="):
        raise ValueError(f"'.*' only goes with == or !=: {clause.strip()!r}")
    return op, tuple(int(n) for n in numbers.split(".")), bool(star)


def _meets(
    release: tuple[int, ...], phase: int, op: str, bound: tuple[int, ...], star: bool
) -> bool:
    width = max(len(release), len(bound))
    mine = release + (0,) * (width - len(release))
    if star:
        same = mine[: len(bound)] == bound
        return same if op == "==" else not same
    if op == "~=":  # ~=1.4.2 is >=1.4.2, ==1.4.*
        return _meets(release, phase, ">=", bound, False) and mine[: len(bound) - 1] == bound[:-1]
    return _OPS[op]((mine, phase), (bound + (0,) * (width - len(bound)), 1))


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "===": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _known_from_mapping(entry: Any, source: str) -> KnownLeak:
    if not isinstance(entry, dict):
        raise ConfigError(f"leakwatch: {source}: must be a table")
    rule_keys = dict(entry)
    extra = {
        k: rule_keys.pop(k) for k in ("id", "link", "package", "versions", "python") if k in entry
    }
    if isinstance(extra.get("id"), str) and extra["id"]:
        source = f"{source} ({extra['id']})"
    for key in ("id", "link", *extra):
        if not isinstance(extra.get(key), str) or not extra[key]:
            raise ConfigError(f"leakwatch: {source}: needs a non-empty {key!r}")
    if not extra["link"].startswith("https://"):
        raise ConfigError(f"leakwatch: {source}: 'link' must be an https:// URL")
    for key in ("versions", "python"):
        try:
            version_in("0", extra.get(key, ">=0"))
        except ValueError as exc:
            raise ConfigError(f"leakwatch: {source}: {key!r}: {exc}") from None
    if "versions" in extra and "package" not in extra:
        raise ConfigError(f"leakwatch: {source}: 'versions' needs a 'package'")
    return KnownLeak(rule=IgnoreRule.from_mapping(rule_keys, source), **extra)


@functools.cache
def _installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
