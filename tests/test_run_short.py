"""``leakwatch run`` judges a program of a few seconds at its default interval.

Samples come faster early in a run, and the growth rule weighs thirds of
the run's time: a 3 s program growing a cache is reported at its line; one
that fills a cache during start-up and then idles is not.
"""

from __future__ import annotations

from pathlib import Path

from support.cli import EXIT_LEAKS, leakwatch, load, marked_line, of_kind, origins, script

GROWS = """\
import time
CACHE = []
deadline = time.monotonic() + 3.0
while time.monotonic() < deadline:
    CACHE.append(bytearray(64 * 1024))  # leaks: a cache that keeps growing
    time.sleep(0.01)
"""

FILLS_AT_START = """\
import time
CACHE = []
deadline = time.monotonic() + 0.6
while time.monotonic() < deadline:
    CACHE.append(bytearray(64 * 1024))  # filled during start-up only
    time.sleep(0.002)
time.sleep(2.4)
"""


def test_three_second_program_growing_a_cache_is_judged_at_its_line(tmp_path: Path) -> None:
    path = script(tmp_path, "grows.py", GROWS)
    result = leakwatch("run", "--json", "out.json", path, cwd=tmp_path)  # default interval
    assert result.returncode == EXIT_LEAKS, result.stderr
    data = load(tmp_path / "out.json")
    assert len(data["timeseries"]["t"]) >= 12
    (heap,) = of_kind(data, "heap")
    assert (str(path), marked_line(path)) in origins(heap)


def test_three_second_program_filling_a_cache_at_start_is_not_a_leak(tmp_path: Path) -> None:
    path = script(tmp_path, "fills.py", FILLS_AT_START)
    result = leakwatch("run", "--json", "out.json", path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = load(tmp_path / "out.json")
    assert data["leaks"] == []
    assert len(data["timeseries"]["t"]) >= 12  # judged, not too short to judge


def test_growth_rule_weighs_thirds_of_time_not_of_samples() -> None:
    from leakwatch._base.growth_rule import keeps_growing

    mib = 1024 * 1024
    # Dense samples early (a ramp during start-up), sparse later (flat).
    times = [i * 0.05 for i in range(20)] + [1.0 + i * 0.25 for i in range(9)]
    startup = [20 * mib + min(t, 1.0) * 20 * mib for t in times]
    assert keeps_growing(startup, "rss") is not None  # by samples: start-up reads as growth
    assert keeps_growing(startup, "rss", times) is None  # by time: one step, then flat
    ramp = [20 * mib + t * 10 * mib for t in times]
    assert keeps_growing(ramp, "rss", times) is not None


def test_a_run_of_a_second_is_all_start_up_and_not_judged() -> None:
    from leakwatch._base.growth_rule import MIN_SPAN, keeps_growing

    times = [i * 0.05 for i in range(20)]  # one second, densely sampled
    ramp = [float(10 + i) for i in range(20)]
    assert keeps_growing(ramp, "fds", times) is None
    assert times[-1] < MIN_SPAN
    longer = [t * 3 for t in times]  # the same ramp over three seconds
    assert keeps_growing(ramp, "fds", longer) is not None


def test_growth_kept_by_imports_is_information_and_a_real_site_is_a_leak() -> None:
    from leakwatch._run.trend import judge
    from leakwatch._run.windows import GrowthSite

    mib = 1024 * 1024
    times = [i * 0.25 for i in range(13)]
    series = {"t": times, "rss": [20 * mib + t * 4 * mib for t in times]}
    importing = GrowthSite(
        "<frozen importlib._bootstrap>", 241, "_call_with_frames_removed", "", None, 400_000,
        400_000, (("<frozen importlib._bootstrap>", 241), ("/app/main.py", 3)),
    )  # fmt: skip
    leaks, info = judge(series, [importing], kinds=("heap",), leftover=())
    assert leaks == [] and [r.kind for r in info] == ["heap"]
    assert "imported" in info[0].title

    site = (("/app/main.py", 9),)
    cache = GrowthSite("/app/main.py", 9, "handle", "", None, 900_000, 900_000, site)
    leaks, _ = judge(series, [importing, cache], kinds=("heap",), leftover=())
    assert [(r.kind, r.details["lineno"]) for r in leaks] == [("heap", 9)]
