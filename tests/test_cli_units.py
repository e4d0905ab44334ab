"""The pieces of ``leakwatch run`` that are pure functions: the growth rule,
trace windows, the exit status table, the text summary."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from leakwatch._base.growth_rule import MIN_SAMPLES, keeps_growing
from leakwatch._base.model import KINDS
from leakwatch._cli import EXIT_LEAKS, EXIT_WRITE_FAILED, exit_status, main
from leakwatch._report.document_text import format_document
from leakwatch._run.runner import RunResult
from leakwatch._run.sampler import status_line
from leakwatch._run.trend import judge
from leakwatch._run.windows import TraceWindows

MIB = 1024 * 1024
KEPT: list[bytes] = []


@pytest.mark.parametrize(
    ("values", "growing"),
    [
        ([5, 6, 7, 8, 9, 10, 11, 12, 13], True),  # a ramp
        ([5, 5, 5, 9, 9, 9, 14, 14, 14], True),  # a staircase
        ([5, 5, 5, 5, 20, 20, 20, 20, 20], False),  # one step: a pool started, a cache filled
        ([5, 5, 5, 5, 50, 5, 5, 5, 5], False),  # one spike
        ([5, 6, 7, 8, 9], False),  # too few samples to judge
        ([5, 5, 5, 6, 6, 6, 6, 6, 6], False),  # rises, but by less than the margin
        ([9, 8, 7, 6, 5, 4, 3, 2, 1], False),
        ([5, None, 6, None, 7, 8, 9, None, 10, 11, 12], True),  # gaps are left out
    ],
)
def test_keeps_growing_rule(values: list[float | None], growing: bool) -> None:
    assert (keeps_growing(values, "fds") is not None) is growing


def test_rss_margin_is_a_mebibyte_at_least() -> None:
    small = [40 * MIB + i * 100_000 for i in range(9)]  # +0.8 MiB over the run
    assert keeps_growing(small, "rss") is None
    large = [40 * MIB + i * 1_000_000 for i in range(9)]
    trend = keeps_growing(large, "rss")
    assert trend is not None and trend.rise >= 5_000_000
    assert MIN_SAMPLES == 6


def test_count_growth_is_information_when_leftovers_say_where() -> None:
    series = {"fds": list(range(10, 22)), "threads": [1] * 12, "rss": [MIB] * 12}
    leaks, info = judge(series, [], kinds=("fd", "thread"), leftover=())
    assert [(r.kind, r.origin) for r in leaks] == [("fd", ())]
    assert "creation not seen" in leaks[0].title
    leaks, info = judge(series, [], kinds=("fd", "thread"), leftover=("fd",))
    assert leaks == [] and [r.kind for r in info] == ["fd"]
    leaks, _ = judge(series, [], kinds=("thread",), leftover=())
    assert leaks == []  # fds not checked: their count is not judged either


def allocate(n: int) -> None:
    KEPT.extend(b"x" * 50_000 + bytes([i % 256]) for i in range(n))  # <- grows


@pytest.fixture
def no_tracing() -> Iterator[None]:
    assert not tracemalloc.is_tracing()
    yield
    KEPT.clear()
    if tracemalloc.is_tracing():
        tracemalloc.stop()


def test_windows_open_only_when_memory_grew_and_report_the_line(no_tracing: None) -> None:
    windows = TraceWindows(0.5, depth=8)
    windows.begin(rss=100 * MIB, blocks=10_000)
    windows.tick(0.1, rss=100 * MIB, blocks=10_100)  # flat: nothing traced
    assert windows.traced() is None and not tracemalloc.is_tracing()

    windows.tick(0.2, rss=102 * MIB, blocks=10_100)  # grew by 2 MiB: the early window opens
    assert tracemalloc.is_tracing()
    allocate(20)
    windows.tick(0.8, rss=104 * MIB, blocks=10_100)  # its length is up: closed
    assert not tracemalloc.is_tracing()

    windows.tick(1.0, rss=110 * MIB, blocks=10_100)  # too soon after the last one
    assert not tracemalloc.is_tracing()
    windows.tick(2.0, rss=110 * MIB, blocks=10_100)
    assert tracemalloc.is_tracing()
    allocate(40)
    windows.finish(2.2, rss=112 * MIB, blocks=10_100)  # the end closes the late window
    assert not tracemalloc.is_tracing()

    assert windows.spans() == [[0.2, 0.8], [2.0, 2.2]]
    (top, *_) = windows.growth()
    assert (top.filename, top.function) == (__file__, "allocate")
    assert top.line.endswith("# <- grows")
    assert top.early_size is not None and 1_000_000 <= top.early_size < top.late_size
    assert top.growth == top.late_size >= 2_000_000


def test_trace_window_zero_never_traces(no_tracing: None) -> None:
    windows = TraceWindows(0.0, depth=8)
    windows.begin(rss=MIB, blocks=0)
    windows.tick(5.0, rss=500 * MIB, blocks=10**6)
    assert windows.mode == "off" and not tracemalloc.is_tracing()
    assert windows.growth() == []


@pytest.mark.parametrize(
    ("result", "exit_zero", "status"),
    [
        (RunResult(0), False, 0),
        (RunResult(0, leaks=2), False, EXIT_LEAKS),
        (RunResult(0, leaks=2), True, 0),
        (RunResult(1, leaks=2), False, 1),
        (RunResult(130), False, 130),
        (RunResult(0, leaks=1, write_failed=True), False, EXIT_WRITE_FAILED),
        (RunResult(3, write_failed=True), True, 3),
    ],
)
def test_exit_status_table(result: RunResult, exit_zero: bool, status: int) -> None:
    assert exit_status(result, exit_zero=exit_zero) == status


def test_report_text_from_saved_data_names_the_run_and_its_growth() -> None:
    data = {
        "schema": "leakwatch.report/1",
        "leaks": [],
        "program": {"argv": ["app.py", "--fast"], "exit_status": 0, "duration": 12.5},
        "timeseries": {"t": [0, 1, 2], "rss": [MIB, 2 * MIB, 3 * MIB], "fds": [5, 6, 9]},
        "stats": {"trace_windows": [[0.5, 1.5]], "trace_mode": "windows"},
        "growth": [
            {"filename": "/srv/app.py", "lineno": 7, "function": "remember",
             "line": "CACHE[k] = v", "early_size": None, "late_size": 2 * MIB, "growth": 2 * MIB},
        ],
    }  # fmt: skip
    text = format_document(data)
    assert text.startswith("leakwatch: no leaks")
    assert "python app.py --fast ran 12.5 s, exit status 0, 3 samples" in text
    assert "rss 1.0 MiB -> 3.0 MiB, fds 5 -> 9" in text
    assert "/srv/app.py:7 in remember  +2.0 MiB" in text


def test_status_line_shows_heap_only_while_tracing() -> None:
    counts = {"rss": 3 * MIB, "heap": None, "fds": 7, "threads": 2, "tasks": 0, "children": 1}
    line = status_line(4.25, counts)
    assert line == "leakwatch    4.2s | rss 3.0 MiB | fds 7 | threads 2 | tasks 0 | children 1"
    assert "heap 1.0 MiB (tracing)" in status_line(1.0, {**counts, "heap": MIB})


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("leakwatch ")
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "-m module" in out and "--trace-window" in out and "--exit-zero" in out
    kinds_help = " ".join(out.split("--kinds LIST", 1)[1].split("--", 1)[0].split())
    assert all(kind in kinds_help for kind in KINDS) and "'all'" in kinds_help, kinds_help
    assert main(["frobnicate"]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
