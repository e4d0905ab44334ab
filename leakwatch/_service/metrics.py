"""Prometheus' text exposition format (0.0.4), written here: three families.

``leakwatch_leaked_total{kind,route}`` (counter): resources sampled requests
left alive after their response; ``leakwatch_requests_judged_total{route}``
(counter); ``leakwatch_resources{kind}`` (gauge): live resources of each kind
now.  No client library is needed for so little.
"""

from __future__ import annotations

from collections.abc import Mapping

from leakwatch._service.ledger import Ledger

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(ledger: Ledger, counts: Mapping[str, int]) -> str:
    lines = [
        "# HELP leakwatch_leaked_total Resources sampled requests left alive after their "
        "response, by kind and route.",
        "# TYPE leakwatch_leaked_total counter",
    ]
    for (kind, route), n in sorted(ledger.leaked_total.items()):
        lines.append(f'leakwatch_leaked_total{{kind="{_label(kind)}",route="{_label(route)}"}} {n}')
    lines += [
        "# HELP leakwatch_requests_judged_total Sampled requests judged, by route.",
        "# TYPE leakwatch_requests_judged_total counter",
    ]
    per_route: dict[str, int] = {}
    doc = ledger.requests_json()
    for entry in doc["routes"] + doc["clean"]:
        per_route[entry["route"]] = per_route.get(entry["route"], 0) + entry["requests"]
    for route, n in sorted(per_route.items()):
        lines.append(f'leakwatch_requests_judged_total{{route="{_label(route)}"}} {n}')
    lines += [
        "# HELP leakwatch_resources Live resources of each kind now.",
        "# TYPE leakwatch_resources gauge",
    ]
    for kind, n in sorted(counts.items()):
        lines.append(f'leakwatch_resources{{kind="{_label(kind)}"}} {n}')
    return "\n".join(lines) + "\n"
