"""``leakwatch run`` finds what real programs leave behind, with the line that made it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import EXAMPLES, EXIT_LEAKS, leakwatch, load, marked_line, of_kind, origins


@pytest.fixture
def own_tmpdir() -> Iterator[Path]:
    """A TMPDIR outside pytest's base temp: files under that count as pytest's own
    (a known leak), and the programs' leaked temp files must still be removed."""
    with tempfile.TemporaryDirectory(prefix="lw-cli-") as tmp:
        yield Path(tmp)


@pytest.mark.parametrize(
    ("example", "kind"),
    [
        ("leaky_fd.py", "fd"),
        ("leaky_thread.py", "thread"),
        ("leaky_task.py", "task"),
        ("leaky_process.py", "process"),
        ("leaky_tempfile.py", "tempfile"),
    ],
)
def test_each_kind_is_reported_with_its_origin_line(
    tmp_path: Path, own_tmpdir: Path, example: str, kind: str
) -> None:
    path = EXAMPLES / example
    result = leakwatch("run", "--json", "out.json", path, cwd=tmp_path, tmpdir=own_tmpdir)
    assert result.returncode == EXIT_LEAKS, result.stderr
    data = load(tmp_path / "out.json")
    assert data["schema"] == "leakwatch.report/1"
    where = (str(path), marked_line(path))
    found = [leak for leak in of_kind(data, kind) if where in origins(leak)]
    assert found, f"no {kind} leak created at {where[0]}:{where[1]} in {data['leaks']}"
    leak = found[0]
    assert set(leak) >= {"kind", "title", "count", "size", "origin", "details"}
    assert leak["count"] >= 1
    assert leak["origin"][-1]["lineno"] > 0
    # The text report names the kind and the line too.
    assert f"{example}:{where[1]}" in result.stderr


def test_leaked_temp_file_is_named_by_its_path(tmp_path: Path, own_tmpdir: Path) -> None:
    leakwatch(
        "run", "--json", "out.json", EXAMPLES / "leaky_tempfile.py", cwd=tmp_path, tmpdir=own_tmpdir
    )
    (leak,) = of_kind(load(tmp_path / "out.json"), "tempfile")
    leaked = Path(leak["details"]["path"])
    assert leaked.parent == own_tmpdir and leaked.exists()  # the program's TMPDIR was honoured


def test_clean_program_has_no_leaks(tmp_path: Path) -> None:
    result = leakwatch("run", "--json", "out.json", EXAMPLES / "clean.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "all cleaned up" in result.stdout
    data = load(tmp_path / "out.json")
    assert data["leaks"] == []
    assert data["program"]["exit_status"] == 0
    assert "leakwatch: no leaks" in result.stderr


def test_cache_growing_over_time_is_a_heap_leak_at_its_line(tmp_path: Path) -> None:
    path = EXAMPLES / "leaky_heap.py"
    line = marked_line(path)
    result = leakwatch(
        "run",
        "--interval",
        "0.2",
        "--trace-window",
        "0.3",
        "--json",
        "out.json",
        path,
        "3",
        cwd=tmp_path,
    )
    assert result.returncode == EXIT_LEAKS, result.stderr
    data = load(tmp_path / "out.json")

    series = data["timeseries"]
    assert set(series) >= {"t", "rss", "heap", "fds", "threads", "tasks", "children"}
    assert len({len(values) for values in series.values()}) == 1  # one value per sample in each
    assert len(series["t"]) >= 6
    assert any(h is not None for h in series["heap"])  # a trace window was open at some sample

    growth = data["growth"]
    assert growth, "no growing allocation site"
    top = growth[0]
    assert (top["filename"], top["lineno"]) == (str(path), line)
    assert top["function"] == "handle"
    assert top["growth"] >= 100_000 and top["late_size"] >= top["growth"]
    assert set(top) == {
        "filename",
        "lineno",
        "function",
        "line",
        "early_size",
        "late_size",
        "growth",
    }

    heap = of_kind(data, "heap")
    assert heap and (str(path), line) in origins(heap[0])
    assert heap[0]["size"] == top["growth"]


def test_cache_filled_once_is_not_a_leak(tmp_path: Path) -> None:
    prog = tmp_path / "warm.py"
    prog.write_text(
        "import time\n"
        "CACHE = [b'x' * 100_000 for _ in range(100)]  # filled once, at start\n"
        "deadline = time.monotonic() + 2.5\n"
        "while time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n",
        encoding="utf-8",
    )
    result = leakwatch(
        "run",
        "--interval",
        "0.2",
        "--trace-window",
        "0.3",
        "--json",
        "out.json",
        prog,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    data = load(tmp_path / "out.json")
    assert data["leaks"] == []
    assert len(data["timeseries"]["t"]) >= 6  # enough samples for the rule to have judged


def test_descriptors_that_keep_growing_are_reported(tmp_path: Path) -> None:
    prog = tmp_path / "drip.py"
    prog.write_text(
        "import os, time\n"
        "KEPT = []\n"
        "for _ in range(25):\n"
        "    KEPT.append(os.open(os.devnull, os.O_RDONLY))  # one more each tick\n"
        "    time.sleep(0.1)\n"
        "for fd in KEPT:\n"
        "    os.close(fd)  # all closed at the very end: the run still grew\n",
        encoding="utf-8",
    )
    result = leakwatch("run", "--interval", "0.2", "--json", "out.json", prog, cwd=tmp_path)
    assert result.returncode == EXIT_LEAKS, result.stderr
    data = load(tmp_path / "out.json")
    (leak,) = of_kind(data, "fd")
    assert leak["title"].startswith("open descriptors kept growing over the run")
    assert leak["origin"] == [] and "creation not seen" in leak["title"]
    # The figures are the ones the summary's "over time" line shows: first and last sample.
    fds = [n for n in data["timeseries"]["fds"] if n is not None]
    assert f"over the run: {fds[0]:g} -> {fds[-1]:g} (" in leak["title"], (fds, leak["title"])
    assert f"fds {fds[0]:g} -> {fds[-1]:g}" in result.stderr + result.stdout


def test_demo_leaks_a_socket_a_thread_and_a_temp_file(tmp_path: Path, own_tmpdir: Path) -> None:
    path = EXAMPLES / "demo.py"
    result = leakwatch("run", "--json", "out.json", path, cwd=tmp_path, tmpdir=own_tmpdir)
    assert result.returncode == EXIT_LEAKS, result.stderr
    data = load(tmp_path / "out.json")
    assert sorted(leak["kind"] for leak in data["leaks"]) == ["fd", "tempfile", "thread"]
    # The innermost frame in demo.py of each origin is a line marked "# leaks".
    created = sorted([n for f, n in origins(leak) if f == str(path)][-1] for leak in data["leaks"])
    marked = [n for n, text in enumerate(path.read_text().splitlines(), 1) if "# leaks" in text]
    assert created == marked
