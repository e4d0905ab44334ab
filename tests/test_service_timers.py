"""The timers page lists every timer still scheduled on every live loop, recorded or not.

A real uvicorn server in a subprocess (tests/support/service_timers.py)
schedules timers at startup, before any request and with nothing sampled;
the page is read over real HTTP.
"""

from __future__ import annotations

from typing import Any

from support.service import get, get_json, marker_line, running

SCRIPT = "service_timers.py"
TIMERS = "/debug/leakwatch/timers.json"


def _by_callback(doc: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for res in doc["resources"]:
        out.setdefault(res["details"].get("callback", ""), []).append(res)
    return out


def _timers_after(path: str, sample: str) -> tuple[Any, dict[str, list[Any]]]:
    """``timers.json`` of a server sampling ``sample`` of its requests, read
    once ``path`` answered 200, and its timers by callback."""
    with running(SCRIPT, SAMPLE=sample) as base:
        assert get(base + path)[0] == 200
        doc = get_json(base + TIMERS)
    return doc, _by_callback(doc)


def test_a_timer_scheduled_before_any_sampling_is_listed_with_its_callback_and_loop() -> None:
    doc, found = _timers_after("/ready", "0")
    [startup] = found["__main__.startup_tick"]
    assert startup["details"]["thread"] == "uvicorn-server"
    assert startup["details"]["loop"] == "running"
    assert 3500 < startup["details"]["due_in_seconds"] <= 3600
    assert startup["origin"] == [] and "not known" in startup["title"]
    assert "startup_tick()" in startup["title"] and "'uvicorn-server'" in startup["title"]
    # A loop in another thread, found running on that thread's stack.
    [side] = found["__main__.side_tick"]
    assert side["details"]["thread"] == "side-loop"
    assert side["details"]["loop_id"] != startup["details"]["loop_id"]
    assert "serves_future" not in startup["details"]
    assert doc["count"] == len(doc["resources"])


def test_cancelled_and_already_run_timers_are_not_listed_and_sleeps_are_marked() -> None:
    doc, found = _timers_after("/ready", "0")  # ran_tick has run
    assert "__main__.startup_tick" in found  # the page does list this server's timers
    assert "__main__.cancelled_tick" not in found
    assert "__main__.ran_tick" not in found
    # The startup task's hour-long asyncio.sleep: listed, marked, after the others.
    sleeps = [r for r in doc["resources"] if r["details"].get("serves_future")]
    assert len(sleeps) >= 1 and all("waking a future" in r["title"] for r in sleeps)
    kinds = [bool(r["details"].get("serves_future")) for r in doc["resources"]]
    assert kinds == sorted(kinds)


def test_a_sampled_requests_timer_also_shows_its_creating_line() -> None:
    _, found = _timers_after("/leak-timer", "1")
    [made] = found["__main__.request_tick"]
    assert made["origin"][-1]["lineno"] == marker_line(SCRIPT, "LEAK-TIMER")
    assert made["details"]["thread"] == "uvicorn-server"
    assert "never cancelled" in made["title"]
    [startup] = found["__main__.startup_tick"]  # still listed, still without a line
    assert startup["origin"] == []


def test_the_timers_page_says_what_uvloop_hides() -> None:
    with running(SCRIPT, SAMPLE="0", LOOP="uvloop") as base:
        assert get(base + "/ready")[0] == 200
        doc = get_json(base + TIMERS)
        status, page, _ = get(base + "/debug/leakwatch/timers")
    found = _by_callback(doc)
    # The server's uvloop loop hides its timers; the asyncio loop beside it does not.
    assert "__main__.startup_tick" not in found and "__main__.side_tick" in found
    assert any("uvloop keeps its timers in C" in note for note in doc["notes"])
    assert status == 200 and "uvloop keeps its timers in C" in page
