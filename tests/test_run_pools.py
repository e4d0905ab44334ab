"""A multiprocessing pool is one leftover with one verdict: its threads, its
workers and all its pipes are a leak together, or none of them is."""

from __future__ import annotations

from multiprocessing.pool import ThreadPool
from pathlib import Path

import pytest
from support.cli import EXIT_LEAKS, leakwatch, load, script

import leakwatch as lw

WITH_POOL = """\
import multiprocessing as mp

def square(x):
    return x * x

if __name__ == "__main__":
    with mp.Pool(2) as p:
        print(p.map(square, range(4)))
"""

CLOSED_POOL = """\
import multiprocessing as mp

def square(x):
    return x * x

if __name__ == "__main__":
    p = mp.Pool(2)
    print(p.map(square, range(4)))
    p.close()
    p.join()
"""

OPEN_POOL = """\
import multiprocessing as mp

def square(x):
    return x * x

if __name__ == "__main__":
    POOL = mp.Pool(2)  # never closed
    print(POOL.map(square, range(4)))
"""

CACHED_THREAD_POOL = """\
from multiprocessing.pool import ThreadPool

class Service:
    _pools = {}

    @classmethod
    def pool(cls):
        if "main" not in cls._pools:
            cls._pools["main"] = ThreadPool(2)  # cached, never closed
        return cls._pools["main"]

print(Service.pool().map(abs, [-1, -2]))
"""

CLOSED_THREAD_POOL = CACHED_THREAD_POOL.replace(
    "print(Service.pool().map(abs, [-1, -2]))",
    "print(Service.pool().map(abs, [-1, -2]))\nService.pool().close()\nService.pool().join()",
)


def _run(tmp_path: Path, source: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    script(tmp_path, "prog.py", source)
    result = leakwatch("run", "-q", "--json", "out.json", "prog.py", cwd=tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, load(tmp_path / "out.json")


def _parts(data: dict, key: str) -> list[dict]:  # type: ignore[type-arg]
    return [leak for leak in data[key] if "owned_by" in leak["details"]]


@pytest.mark.parametrize("source", [WITH_POOL, CLOSED_POOL], ids=["with", "close-join"])
def test_pool_shut_down_at_module_level_is_not_a_leak(tmp_path: Path, source: str) -> None:
    status, data = _run(tmp_path, source)
    assert status == 0, data["leaks"]
    assert data["leaks"] == [] and data["known"] == []


def test_pool_never_closed_is_one_leak_of_all_its_parts(tmp_path: Path) -> None:
    status, data = _run(tmp_path, OPEN_POOL)
    assert status == EXIT_LEAKS
    parts = _parts(data, "leaks")
    kinds = {leak["kind"] for leak in parts}
    assert {"fd", "process", "thread"} <= kinds, data["leaks"]
    # Every pipe of the pool, workers' sentinels included, in one verdict.
    assert sum(leak["count"] for leak in parts if leak["kind"] == "fd") >= 10
    assert _parts(data, "info") == [] and _parts(data, "known") == []
    assert {leak["details"]["owned_by"] for leak in parts} == {
        "multiprocessing.pool.Pool (2 workers), still running: never closed nor terminated"
    }


def test_thread_pool_kept_in_a_class_cache_is_reported_with_its_pipe(tmp_path: Path) -> None:
    status, data = _run(tmp_path, CACHED_THREAD_POOL)
    assert status == EXIT_LEAKS
    parts = _parts(data, "leaks")
    assert {leak["kind"] for leak in parts} == {"fd", "thread"}
    assert sum(leak["count"] for leak in parts if leak["kind"] == "thread") == 5
    assert [leak for leak in data["leaks"] if leak not in parts] == []
    assert data["known"] == [] and _parts(data, "info") == []


def test_thread_pool_closed_and_joined_is_not_a_leak(tmp_path: Path) -> None:
    status, data = _run(tmp_path, CLOSED_THREAD_POOL)
    assert status == 0, data["leaks"]
    assert data["leaks"] == [] and data["known"] == []


def test_main_module_globals_are_the_programs_own_once_multiprocessing_is_imported(
    tmp_path: Path,
) -> None:
    # multiprocessing names the main module __mp_main__ too: a socket a global of
    # the program holds is the program's leak, not a library's first use.
    status, data = _run(
        tmp_path, "import multiprocessing, socket\nKEEP = socket.socket()  # leaks\n"
    )
    assert status == EXIT_LEAKS
    assert [leak["kind"] for leak in data["leaks"]] == ["fd"]


def test_watch_judges_a_thread_pool_whole_and_a_closed_one_not_at_all() -> None:
    with lw.watch(on_leak="report") as w:
        pool = ThreadPool(2)
        pool.map(abs, [-1, -2])
    try:
        leaks = w.report.leaks
        assert {leak.kind for leak in leaks} == {"fd", "thread"}
        assert all(
            "ThreadPool (2 workers), still running" in leak.details["owned_by"] for leak in leaks
        )
        assert w.report.known == []
    finally:
        pool.terminate()
        pool.join()
    del pool

    with lw.watch(on_leak="report") as w:
        closed = ThreadPool(2)
        closed.map(abs, [-1, -2])
        closed.close()
        closed.join()
    assert w.report.leaks == [] and w.report.known == []
    del closed
