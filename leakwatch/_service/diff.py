"""What one snapshot has that another has not: ``leakwatch diff A.json B.json``.

Both files are ``leakwatch.snapshot/1`` documents (the debug pages'
``snapshot.json``) or leakwatch reports (``leakwatch.report/1``).  Two
snapshots of the same process are compared by identity (a descriptor, a
thread, a task that B has and A has not); otherwise by counts, per kind and
creating line (what B has more of).  Either way the result is grouped by
kind and creating line, with counts, as leak objects.  Pure functions of
plain data, and one loader whose every problem is one line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from leakwatch._base.model import KINDS, Leak
from leakwatch._report.errors import DiffError
from leakwatch._report.text import escape, format_leak

DIFF_SCHEMA = "leakwatch.diff/1"
SNAPSHOT_SCHEMA = "leakwatch.snapshot/1"
READABLE = (SNAPSHOT_SCHEMA, "leakwatch.report/1")


def load(path: str) -> dict[str, Any]:
    """A snapshot or report document, checked enough to diff; else one DiffError line."""
    name = escape(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DiffError(f"leakwatch diff: {name}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DiffError(
            f"leakwatch diff: {name}: cannot be read ({exc.__class__.__name__})"
        ) from None
    except ValueError as exc:
        raise DiffError(f"leakwatch diff: {name}: not JSON ({exc})") from None
    check(data, name)
    return data  # type: ignore[no-any-return]


def check(data: Any, name: str) -> None:
    if not isinstance(data, dict) or data.get("schema") not in READABLE:
        raise DiffError(
            f"leakwatch diff: {name}: not a leakwatch snapshot or report "
            f"(expected schema {' or '.join(READABLE)})"
        )
    key = "resources" if data["schema"] == SNAPSHOT_SCHEMA else "leaks"
    items = data.get(key)
    if not isinstance(items, list):
        raise DiffError(f"leakwatch diff: {name}: {key!r} is not a list")
    for i, item in enumerate(items):
        try:
            Leak.from_dict(item)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DiffError(f"leakwatch diff: {name}: {key}[{i}] is malformed ({exc!r})") from None


def _items(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    key = "resources" if data.get("schema") == SNAPSHOT_SCHEMA else "leaks"
    return [i for i in data.get(key) or () if isinstance(i, dict)]


def _place(item: Mapping[str, Any]) -> tuple[Any, ...]:
    origin = item.get("origin") or []
    where = tuple(
        (str(f.get("filename")), f.get("lineno"), str(f.get("function")))
        for f in origin
        if isinstance(f, dict)
    )
    group = (
        (item.get("details") or {}).get("group", "")
        if isinstance(item.get("details"), dict)
        else ""
    )
    return (str(item.get("kind")), str(group), where)


def diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Leak]:
    """What ``b`` has that ``a`` has not, grouped by kind and creating line."""
    a_items, b_items = _items(a), _items(b)
    same_process = (
        a.get("schema") == b.get("schema") == SNAPSHOT_SCHEMA
        and a.get("pid") is not None
        and a.get("pid") == b.get("pid")
    )
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    if same_process:
        seen = {(i.get("kind"), i.get("key")) for i in a_items}
        for item in b_items:
            if (item.get("kind"), item.get("key")) not in seen:
                groups.setdefault(_place(item), []).append(item)
        counted = {place: sum(_count(i) for i in items) for place, items in groups.items()}
    else:
        before: dict[tuple[Any, ...], int] = {}
        for item in a_items:
            before[_place(item)] = before.get(_place(item), 0) + _count(item)
        for item in b_items:
            groups.setdefault(_place(item), []).append(item)
        counted = {
            p: sum(_count(i) for i in items) - before.get(p, 0) for p, items in groups.items()
        }
    out = []
    for place, items in groups.items():
        n = counted[place]
        if n <= 0:
            continue
        first = Leak.from_dict(items[0])
        titles = [str(i.get("title", "")) for i in items[:50]]
        details = dict(first.details)
        if len(titles) > 1:
            details["items"] = titles
        title = (
            first.title if len(set(titles)) == 1 else f"{first.title} (and {len(titles) - 1} more)"
        )
        out.append(Leak(first.kind, title, n, first.size, first.origin, details))
    out.sort(key=lambda x: (KINDS.index(x.kind) if x.kind in KINDS else 99, -x.count))
    return out


def _count(item: Mapping[str, Any]) -> int:
    n = item.get("count", 1)
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1


def diff_doc(leaks: Sequence[Leak], base: str, other: str) -> dict[str, Any]:
    return {
        "schema": DIFF_SCHEMA,
        "base": base,
        "other": other,
        "new": [leak.to_dict() for leak in leaks],
    }


def format_diff(leaks: Sequence[Leak], base: str, other: str, *, verbose: bool = False) -> str:
    """The diff as a person reads it (the report's own leak lines)."""
    a, b = os.path.basename(base) or base, os.path.basename(other) or other
    total = sum(leak.count for leak in leaks)
    if not leaks:
        return escape(f"leakwatch diff: {b} has nothing {a} has not")
    per_kind: dict[str, int] = {}
    for leak in leaks:
        per_kind[leak.kind] = per_kind.get(leak.kind, 0) + leak.count
    kinds = ", ".join(f"{n} {k}" for k, n in per_kind.items())
    lines = [f"leakwatch diff: {total} in {b} and not in {a}: {kinds}"]
    for leak in leaks:
        lines.append("")
        lines.extend(format_leak(leak, verbose=verbose))
    return escape("\n".join(lines))
