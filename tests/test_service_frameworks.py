"""leakwatch.service in FastAPI (under uvicorn) and Flask (under a threading WSGI server).

Skipped where the framework is not installed (both are in the ``test`` extra).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from support.service import by_route, creating_lines, get, judged, marker_line, running

APP = "service_frameworks.py"


def _send(base: str, paths: list[str]) -> list[int]:
    with ThreadPoolExecutor(max_workers=20) as pool:
        return [status for status, _, _ in pool.map(lambda p: get(base + p), paths)]


def test_fastapi_route_templates_lines_and_counts_under_concurrent_load() -> None:
    pytest.importorskip("fastapi")
    paths = [f"/leak/{i}" for i in range(5)] + [f"/clean/{i}" for i in range(10)]
    paths += ["/clean-sync"] * 5
    paths = [paths[(i * 7) % len(paths)] for i in range(len(paths))]
    with running(APP, "fastapi") as base:
        assert _send(base, paths) == [200] * len(paths)
        doc = judged(base, len(paths))
    routes = by_route(doc)
    assert set(routes) == {"/leak/{n}"}
    assert routes["/leak/{n}"]["requests"] == 5
    assert creating_lines(routes["/leak/{n}"]) == {
        ("fd", marker_line(APP, "F-API-SOCKET")): 5,
        ("thread", marker_line(APP, "F-API-THREAD")): 5,
        ("task", marker_line(APP, "F-API-TASK")): 5,
    }
    assert {c["route"]: c["requests"] for c in doc["clean"]} == {"/clean/{n}": 10, "/clean-sync": 5}


def test_flask_route_rules_lines_and_counts_under_concurrent_load() -> None:
    pytest.importorskip("flask")
    paths = [f"/leak/{i}" for i in range(4)] + [f"/clean/{i}" for i in range(12)]
    paths = [paths[(i * 5) % len(paths)] for i in range(len(paths))]
    with running(APP, "flask") as base:
        assert _send(base, paths) == [200] * len(paths)
        doc = judged(base, len(paths))
    routes = by_route(doc)
    assert set(routes) == {"/leak/<int:n>"}
    assert creating_lines(routes["/leak/<int:n>"]) == {
        ("fd", marker_line(APP, "F-FLASK-SOCKET")): 4,
        ("thread", marker_line(APP, "F-FLASK-THREAD")): 4,
    }
    assert {c["route"]: c["requests"] for c in doc["clean"]} == {"/clean/<int:n>": 12}
