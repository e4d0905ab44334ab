"""What sampled requests left alive, per route and creating line, in bounded tables.

The judge adds what it found for each request; the pages, ``requests.json``
and the metrics read it.  Plain data only (frames, strings, numbers), never a
user's object.  Routes and groups are capped: a service with endless distinct
paths folds the rest into one ``(other routes)`` entry, and a route with endless
distinct creating lines into ``(other lines)``.  A new creating line is logged
once, on the ``leakwatch.service`` logger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leakwatch._base.frames import Frame
from leakwatch._base.model import KINDS, Leak

REQUESTS_SCHEMA = "leakwatch.requests/1"

#: Distinct (method, route) pairs kept; the rest are counted under OTHER_ROUTE.
MAX_ROUTES = 200

#: Distinct creating lines kept per route; the rest are counted under one group.
MAX_GROUPS = 50

OTHER_ROUTE = "(other routes)"

log = logging.getLogger("leakwatch.service")


@dataclass
class Group:
    """Leftovers of one kind made at one place, on one route."""

    leak: Leak
    count: int
    first_seen: float
    last_seen: float
    requests: int = 1  # how many requests left one or more

    def to_dict(self) -> dict[str, Any]:
        out = self.leak.to_dict()
        out["count"] = self.count
        out["details"] = {
            **out["details"],
            "requests": self.requests,
            "first_seen": round(self.first_seen, 3),
            "last_seen": round(self.last_seen, 3),
        }
        return out


@dataclass
class Route:
    method: str
    route: str
    requests: int = 0
    leaky_requests: int = 0
    groups: dict[tuple[Any, ...], Group] = field(default_factory=dict)


def _where(leak: Leak) -> tuple[Any, ...]:
    frames = tuple((f.filename, f.lineno, f.function) for f in leak.origin)
    return (leak.kind, str(leak.details.get("group", "")), frames)


def creating_line(origin: Sequence[Frame]) -> str:
    if not origin:
        return "an unseen place"
    f = origin[-1]
    return f"{f.filename}:{f.lineno} in {f.function}"


class Ledger:
    """Per-route counts of judged requests and what they left alive."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], Route] = {}
        #: (kind, route) -> resources left alive, for ``leakwatch_leaked_total``.
        self.leaked_total: dict[tuple[str, str], int] = {}
        self._logged: set[tuple[Any, ...]] = set()
        self.judged = 0
        self.started = time.time()

    def _route(self, method: str, route: str) -> Route:
        key = (method, route)
        found = self._routes.get(key)
        if found is None:
            if len(self._routes) >= MAX_ROUTES:
                key = ("*", OTHER_ROUTE)
                found = self._routes.get(key)
            if found is None:
                found = self._routes[key] = Route(*key)
        return found

    def _count(self, method: str, route: str, n: int) -> Route:
        """``n`` more judged requests of a route (under the lock); its entry."""
        self.judged += n
        entry = self._route(method, route)
        entry.requests += n
        return entry

    def add_clean(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Judged requests that left nothing alive: ``(method, route) -> how many``
        (one call per batch: most requests are clean)."""
        with self._lock:
            for (method, route), n in counts.items():
                self._count(method, route, n)

    def add(self, method: str, route: str, leaks: Sequence[Leak], when: float) -> None:
        """One judged request and the leaks (grouped by creating line) it left."""
        new_lines: list[tuple[Route, Leak]] = []
        with self._lock:
            entry = self._count(method, route, 1)
            if leaks:
                entry.leaky_requests += 1
            for leak in leaks:
                where = _where(leak)
                group = entry.groups.get(where)
                if group is None and len(entry.groups) >= MAX_GROUPS:
                    where = (leak.kind, "(other lines)", ())
                    group = entry.groups.get(where)
                    if group is None:
                        title = f"{leak.kind}: more creating lines than this page keeps"
                        leak = Leak(kind=leak.kind, title=title)
                if group is None:
                    entry.groups[where] = Group(leak, leak.count, when, when)
                    if (entry.method, entry.route, where) not in self._logged:
                        self._logged.add((entry.method, entry.route, where))
                        new_lines.append((entry, leak))
                else:
                    group.count += leak.count
                    group.requests += 1
                    group.last_seen = when
                    group.leak = leak if group.leak.origin == leak.origin else group.leak
                total_key = (leak.kind, entry.route)
                self.leaked_total[total_key] = self.leaked_total.get(total_key, 0) + leak.count
        for entry, leak in new_lines:
            log.warning(
                "leakwatch: %s %s left %s alive after its response, created at %s",
                entry.method,
                entry.route,
                leak.title,
                creating_line(leak.origin),
            )

    def requests_json(self) -> dict[str, Any]:
        """The ``leakwatch.requests/1`` document: routes that leaked, with their leaks;
        routes judged clean under ``clean``."""
        with self._lock:
            routes = list(self._routes.values())
            leaky = [r for r in routes if r.groups]
            clean = [r for r in routes if not r.groups]
            out: dict[str, Any] = {
                "schema": REQUESTS_SCHEMA,
                "routes": [
                    {
                        "route": r.route,
                        "method": r.method,
                        "requests": r.requests,
                        "leaky_requests": r.leaky_requests,
                        "leaks": [g.to_dict() for g in _ordered(r.groups.values())],
                    }
                    for r in sorted(leaky, key=lambda r: (r.route, r.method))
                ],
                "clean": [
                    {"route": r.route, "method": r.method, "requests": r.requests}
                    for r in sorted(clean, key=lambda r: (r.route, r.method))
                ],
                "judged": self.judged,
            }
        return out


def _ordered(groups: Any) -> list[Group]:
    return sorted(
        groups,
        key=lambda g: (KINDS.index(g.leak.kind) if g.leak.kind in KINDS else 99, -g.count),
    )
