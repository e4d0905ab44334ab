"""leakwatch.service under real servers: uvicorn running Starlette, wsgiref running WSGI.

Each test starts the server in a subprocess (tests/support/service_*.py),
sends real HTTP requests, and reads the debug pages the same way.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from support.service import (
    by_route,
    creating_lines,
    get,
    get_json,
    judged,
    marker_line,
    running,
    script_json,
)

ASGI = "service_asgi.py"
WSGI = "service_wsgi.py"
PAGES = "/debug/leakwatch"


def _send(base: str, paths: list[str], workers: int = 1) -> list[int]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [status for status, _, _ in pool.map(lambda p: get(base + p), paths)]


def test_asgi_leaky_routes_are_named_with_their_lines_and_counts() -> None:
    paths = ["/leak-socket"] * 3 + ["/leak-thread"] * 2 + ["/leak-task"] * 4 + ["/clean"] * 3
    with running(ASGI) as base:
        assert _send(base, paths) == [200] * len(paths)
        doc = judged(base, len(paths))
    assert doc["schema"] == "leakwatch.requests/1"
    routes = by_route(doc)
    assert set(routes) == {"/leak-socket", "/leak-thread", "/leak-task"}
    assert {r["method"] for r in doc["routes"]} == {"GET"}
    assert routes["/leak-socket"]["requests"] == 3
    assert creating_lines(routes["/leak-socket"]) == {("fd", marker_line(ASGI, "LEAK-SOCKET")): 3}
    assert creating_lines(routes["/leak-thread"]) == {
        ("thread", marker_line(ASGI, "LEAK-THREAD")): 2
    }
    assert creating_lines(routes["/leak-task"]) == {("task", marker_line(ASGI, "LEAK-TASK")): 4}
    leak = routes["/leak-socket"]["leaks"][0]
    assert set(leak) >= {"kind", "title", "count", "size", "origin", "details"}
    assert leak["origin"][-1]["line"] == "KEEP.append(socket.socket())  # LEAK-SOCKET"
    assert leak["details"]["first_seen"] <= leak["details"]["last_seen"]
    assert [c["route"] for c in doc["clean"]] == ["/clean"]


def test_asgi_concurrent_mixed_load_charges_only_the_leaky_routes() -> None:
    leaky = ["/leak-all"] * 4 + ["/leak-in-thread"] * 3 + ["/leak-to-thread"] * 3
    clean = ["/clean", "/clean-sync", "/clean-background", "/clean-slow", "/items/7"] * 4
    mixed = leaky + clean  # 30 requests; 7 is prime to 30: every one, interleaved
    paths = [mixed[(i * 7) % len(mixed)] for i in range(len(mixed))]
    with running(ASGI) as base:
        statuses = _send(base, paths, workers=20)
        assert statuses == [200] * len(paths)
        doc = judged(base, len(paths))
    routes = by_route(doc)
    assert set(routes) == {"/leak-all", "/leak-in-thread", "/leak-to-thread"}, routes.keys()
    assert creating_lines(routes["/leak-all"]) == {
        ("fd", marker_line(ASGI, "ALL-SOCKET")): 4,
        ("thread", marker_line(ASGI, "ALL-THREAD")): 4,
        ("task", marker_line(ASGI, "ALL-TASK")): 4,
    }
    # Made in a thread the request started, and in asyncio.to_thread's worker.
    assert creating_lines(routes["/leak-in-thread"]) == {
        ("fd", marker_line(ASGI, "THREAD-SOCKET")): 3
    }
    assert creating_lines(routes["/leak-to-thread"]) == {
        ("fd", marker_line(ASGI, "TO-THREAD-PIPE")): 6  # a pipe: two descriptors
    }
    assert {c["route"]: c["requests"] for c in doc["clean"]} == {
        "/clean": 4,
        "/clean-sync": 4,
        "/clean-background": 4,
        "/clean-slow": 4,
        "/items/{n:int}": 4,
    }
    assert doc["judged"] == len(paths)


def test_asgi_server_run_from_the_users_main_is_not_charged_to_requests() -> None:
    # uvicorn.run() in the user's own script: its frames are under every stack,
    # and still the server's worker threads are not the requests' leaks.
    paths = ["/clean-sync", "/leak-to-thread", "/clean", "/leak-socket"] * 3
    with running(ASGI, MAIN_THREAD="1") as base:
        assert _send(base, paths, workers=6) == [200] * len(paths)
        doc = judged(base, len(paths))
    routes = by_route(doc)
    assert set(routes) == {"/leak-to-thread", "/leak-socket"}
    assert creating_lines(routes["/leak-socket"]) == {("fd", marker_line(ASGI, "LEAK-SOCKET")): 3}
    assert creating_lines(routes["/leak-to-thread"]) == {
        ("fd", marker_line(ASGI, "TO-THREAD-PIPE")): 6
    }


def test_asgi_responses_and_errors_are_the_apps_own() -> None:
    with running(ASGI) as base:
        status, body, headers = get(base + "/leak-socket")
        assert (status, body, headers["content-type"]) == (
            200,
            "socket",
            "text/plain; charset=utf-8",
        )
        assert get(base + "/boom")[0] == 500
        assert get(base + "/nowhere")[0] == 404
        doc = judged(base, 3)
    assert "/boom" in {c["route"] for c in doc["clean"]}


def test_asgi_metrics_in_prometheus_text_format() -> None:
    with running(ASGI) as base:
        _send(base, ["/leak-socket"] * 2 + ["/leak-all", "/clean"])
        judged(base, 4)
        status, text, headers = get(base + PAGES + "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = text.splitlines()
    assert "# TYPE leakwatch_leaked_total counter" in lines
    assert 'leakwatch_leaked_total{kind="fd",route="/leak-socket"} 2' in lines
    assert 'leakwatch_leaked_total{kind="thread",route="/leak-all"} 1' in lines
    assert 'leakwatch_leaked_total{kind="task",route="/leak-all"} 1' in lines
    assert not any('route="/clean"' in line for line in lines if "leaked_total{" in line)
    assert "# TYPE leakwatch_resources gauge" in lines
    gauges = {
        line.split()[0]: float(line.split()[1])
        for line in lines
        if line.startswith("leakwatch_resources{")
    }
    assert gauges['leakwatch_resources{kind="thread"}'] >= 2
    assert gauges['leakwatch_resources{kind="fd"}'] >= 3


def test_asgi_sample_zero_judges_nothing() -> None:
    with running(ASGI, SAMPLE="0") as base:
        _send(base, ["/leak-socket"] * 3)
        doc = get_json(base + PAGES + "/requests.json")
    assert doc["routes"] == [] and doc["judged"] == 0


def test_asgi_debug_pages_list_every_kind_as_json() -> None:
    with running(ASGI) as base:
        _send(base, ["/leak-all"] * 2)
        judged(base, 2)
        threads = get_json(base + PAGES + "/threads.json")
        tasks = get_json(base + PAGES + "/tasks.json")
        fds = get_json(base + PAGES + "/fds.json")
        procs = get_json(base + PAGES + "/processes.json")
        timers = get_json(base + PAGES + "/timers.json")
        snap = get_json(base + PAGES + "/snapshot.json")
    lines = {marker_line(ASGI, "ALL-THREAD")}
    made_here = [
        t for t in threads["resources"] if t["origin"] and t["origin"][-1]["lineno"] in lines
    ]
    assert len(made_here) == 2
    assert all(t["details"]["stack"] for t in made_here)  # where each is now
    leaked_tasks = [
        t
        for t in tasks["resources"]
        if t["origin"] and t["origin"][-1]["lineno"] == marker_line(ASGI, "ALL-TASK")
    ]
    assert len(leaked_tasks) == 2 and all(t["details"]["suspended_at"] for t in leaked_tasks)
    sockets = [
        f
        for f in fds["resources"]
        if f["origin"] and f["origin"][-1]["lineno"] == marker_line(ASGI, "ALL-SOCKET")
    ]
    assert len(sockets) == 2
    assert procs["kind"] == "process" and procs["resources"] == []
    assert timers["kind"] == "timer"  # uvicorn's keep-alive timers, none of the app's
    assert snap["schema"] == "leakwatch.snapshot/1"
    assert {r["kind"] for r in snap["resources"]} >= {"fd", "thread", "task"}
    assert (
        snap["counts"]["thread"] == threads["count"]
        or abs(snap["counts"]["thread"] - threads["count"]) <= 2
    )


def test_wsgi_leaky_routes_are_named_with_their_lines_and_counts() -> None:
    paths = ["/leak-socket"] * 3 + ["/leak-thread"] * 2 + ["/leak-generator"] * 2
    paths += ["/clean", "/clean-generator"] * 5
    with running(WSGI) as base:
        statuses = _send(base, paths, workers=10)
        assert statuses == [200] * len(paths)
        doc = judged(base, len(paths))
        status, body, _headers = get(base + "/clean-generator")
    routes = by_route(doc)
    assert set(routes) == {"/leak-socket", "/leak-thread", "/leak-generator"}
    assert creating_lines(routes["/leak-socket"]) == {("fd", marker_line(WSGI, "LEAK-SOCKET")): 3}
    assert creating_lines(routes["/leak-thread"]) == {
        ("thread", marker_line(WSGI, "LEAK-THREAD")): 2
    }
    assert creating_lines(routes["/leak-generator"]) == {("fd", marker_line(WSGI, "GEN-SOCKET")): 2}
    assert {c["route"]: c["requests"] for c in doc["clean"]} == {"/clean": 5, "/clean-generator": 5}
    assert (status, body[5:]) == (200, " generated")  # a generator's body, as it made it


def test_wsgi_debug_pages_mounted_under_a_path() -> None:
    with running(WSGI) as base:
        _send(base, ["/leak-socket"])
        judged(base, 1)
        status, page, headers = get(base + PAGES + "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "Live resources" in page and 'href="threads"' in page
        assert get(base + PAGES + "/threads")[0] == 200
        assert get(base + PAGES + "/requests")[0] == 200
        assert "/leak-socket" in get(base + PAGES + "/requests")[1]
        assert json.loads(get(base + PAGES + "/fds.json")[1])["kind"] == "fd"


def test_tag_only_recording_never_charges_a_reused_path_or_number() -> None:
    doc = script_json("service_tag_only.py")
    (route,) = doc["routes"]
    assert creating_lines(route) == {("fd", marker_line("service_tag_only.py", "LEAK")): 1}


def test_asgi_jobs_in_a_thread_pool_are_the_requests_that_submitted_them() -> None:
    # run_in_executor hands the job to a pool's worker without the request's
    # context; the one worker was started by the first request.  Each job's
    # socket is its own request's route, at its line: the worker stays the
    # pool's, not the first request's.
    paths = ["/exec-a", "/exec-b", "/exec-b", "/clean", "/exec-b"]
    with running(ASGI) as base:
        assert _send(base, paths) == [200] * len(paths)
        doc = judged(base, len(paths))
    routes = by_route(doc)
    assert creating_lines(routes["/exec-a"]).get(("fd", marker_line(ASGI, "EXEC-A"))) == 1, routes
    assert creating_lines(routes["/exec-b"]) == {("fd", marker_line(ASGI, "EXEC-B")): 3}, routes


def test_a_thread_under_a_reused_ident_inherits_no_requests_tag() -> None:
    # A sampled request's thread ended; a thread no request started gets its
    # ident.  What that thread makes is no request's (no stack is taken), and
    # the ended thread's tag is forgotten (while one is kept, every task and
    # timer of the service takes the slower check).
    doc = script_json("service_thread_tags.py")
    assert doc["kept_before"], doc
    if not doc["reused"]:
        pytest.skip("no thread got the ended thread's ident here")
    assert doc == {"reused": True, "stack": False, "kept_before": True, "kept_after": False}


def test_judge_looks_only_at_kinds_its_requests_recorded() -> None:
    # A batch whose requests made only a task does not list descriptors (a
    # look hands the GIL to the server's loop thread once per descriptor); a
    # database file opened in C code is still found at its request's line.
    doc = script_json("service_judge_looks.py")
    assert doc["first"] == ["task"], doc["first"]
    assert "fd" in doc["second"], doc["second"]
    (route,) = doc["requests"]["routes"]
    assert route["route"] == "/db"
    assert creating_lines(route) == {("fd", marker_line("service_judge_looks.py", "LEAK")): 1}
    assert [c["route"] for c in doc["requests"]["clean"]] == ["/task"]


def test_a_requests_creation_with_no_user_code_inside_it_is_not_recorded() -> None:
    # A server schedules its keep-alive timer inside every request, with
    # none of the user's code inside the request: the judge never charges
    # it, so no stack is taken for it.  The user's own timer keeps its
    # stack and its request's tag, and so does a timer the standard library
    # schedules in a thread the request started (the thread serves it).
    doc = script_json("service_machinery.py")
    assert doc["timers"] == [
        {"callback": "builtins.len", "stack": True, "tagged": True},
        {"callback": "builtins.print", "stack": True, "tagged": True},
    ]


def test_a_request_ended_at_interpreter_exit_does_not_hang_the_exit() -> None:
    # A WSGI body never closed ends its request as the interpreter exits,
    # when the judge's daemon thread may be frozen holding the monitor's
    # lock: ending the request must take no lock then (it hung CI once).
    assert script_json("service_exit.py") == {"ended": True}
