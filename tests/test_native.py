"""Native memory in ``check()``: real allocations below Python, beside their look-alikes.

Each leak must be found with the Python line that called into native code;
each look-alike (freed, filled once and reused, Python's own objects,
pymalloc arenas grown once) must stay silent.
"""

from __future__ import annotations

import asyncio
import ctypes
import io
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from support import marker_line, of_kind
from support.native import build_extension, libc, load_extension, memray_installed, needs_glibc

import leakwatch
from leakwatch._native import memray_stacks
from leakwatch._report.html import render_html

pytestmark = needs_glibc
HERE = __file__
SIZE = 64 * 1024


def here(marker: str) -> tuple[str, int]:
    return HERE, marker_line(HERE, f"# <- {marker}")


def native_leaks(report: leakwatch.Report) -> list[leakwatch.Leak]:
    return of_kind(report, "native")


def called_at(leak: leakwatch.Leak) -> tuple[str, int]:
    """The user's line that called into native code: the origin's last frame."""
    assert leak.origin, leak
    return leak.origin[-1].filename, leak.origin[-1].lineno


@pytest.fixture(scope="module")
def leakext(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load_extension(build_extension(tmp_path_factory.mktemp("ext")))


@pytest.fixture
def kept() -> Iterator[list[int]]:
    """Pointers a leaky function keeps; freed after the test."""
    pointers: list[int] = []
    yield pointers
    for p in pointers:
        libc.free(p)


# -- ctypes: libc malloc per call --------------------------------------------------


def test_malloc_kept_per_call_is_a_native_leak_at_the_calling_line(kept: list[int]) -> None:
    def handle() -> None:
        p = libc.malloc(SIZE)  # <- ctypes malloc
        ctypes.memset(p, 1, SIZE)
        kept.append(p)

    report = leakwatch.check(handle, repeat=4, on_leak="report")
    found = native_leaks(report)
    assert len(found) == 1, str(report)
    leak = found[0]
    assert called_at(leak) == here("ctypes malloc")
    assert SIZE <= leak.details["growth_per_call"] < SIZE + 4096
    assert "64.0 KiB per call" in leak.title
    assert leak.size is not None and leak.size >= 4 * SIZE
    assert "native" in str(report) and "p = libc.malloc(SIZE)" in str(report)


def test_malloc_freed_in_the_same_call_is_silent() -> None:
    def handle() -> None:
        p = libc.malloc(SIZE)
        ctypes.memset(p, 1, SIZE)
        libc.free(p)

    report = leakwatch.check(handle, repeat=4, on_leak="report")
    assert native_leaks(report) == [], str(report)
    assert report.clean, str(report)


def test_growth_that_stops_after_the_judged_calls_is_not_a_native_leak(kept: list[int]) -> None:
    # A cache filled over the first few calls, then full: it grows on the
    # warm-up and both judged calls, and never again.  The confirming calls
    # tell it from a leak (the allocator's own caches behave the same way).
    def fills_a_cache() -> None:
        if len(kept) < 3:
            p = libc.malloc(SIZE)
            ctypes.memset(p, 1, SIZE)
            kept.append(p)

    report = leakwatch.check(fills_a_cache, repeat=2, warmup=0, on_leak="report")
    assert native_leaks(report) == [], str(report)
    assert any("not judged a leak" in note for note in report.notes), report.notes


def test_malloc_leak_raises_by_default(kept: list[int]) -> None:
    def handle() -> None:
        kept.append(libc.malloc(SIZE))

    with pytest.raises(leakwatch.LeakError) as info:
        leakwatch.check(handle, repeat=3, kinds=("native",))
    assert [leak.kind for leak in info.value.report.leaks] == ["native"]


def test_native_buffer_filled_once_and_reused_is_silent() -> None:
    buffers: list[ctypes.Array[ctypes.c_char]] = []

    def render() -> None:
        if not buffers:  # the first (warm-up) call makes it; later calls reuse it
            buffers.append(ctypes.create_string_buffer(512 * 1024))
        ctypes.memset(buffers[0], 7, 512 * 1024)

    report = leakwatch.check(render, repeat=5, on_leak="report")
    assert report.clean, str(report)


def test_ring_of_native_buffers_replaced_each_call_is_silent() -> None:
    ring: list[int] = []

    def rotate() -> None:
        ring.append(libc.malloc(SIZE))
        if len(ring) > 2:
            libc.free(ring.pop(0))

    try:
        report = leakwatch.check(rotate, repeat=5, on_leak="report")
    finally:
        for p in ring:
            libc.free(p)
    assert native_leaks(report) == [], str(report)


def test_check_async_finds_a_native_leak_in_a_coroutine(kept: list[int]) -> None:
    async def handle() -> None:
        await asyncio.sleep(0)
        kept.append(libc.malloc(SIZE))  # <- async malloc

    async def main() -> leakwatch.Report:
        return await leakwatch.check_async(handle, repeat=3, on_leak="report")

    report = asyncio.run(main())
    found = native_leaks(report)
    assert len(found) == 1, str(report)
    assert called_at(found[0]) == here("async malloc")


# -- Python's own memory is not native ------------------------------------------------


def test_python_objects_growing_are_heap_not_native() -> None:
    kept_objects: list[object] = []

    def grow() -> None:
        kept_objects.append(bytes(100_000))  # malloc'd by Python: tracemalloc explains it
        kept_objects.extend("x" * 600 + str(i) for i in range(200))
        kept_objects.append({i: str(i) for i in range(2000)})

    report = leakwatch.check(grow, repeat=4, on_leak="report")
    assert of_kind(report, "heap"), str(report)
    assert native_leaks(report) == [], str(report)


def test_pymalloc_arenas_grown_once_and_kept_are_silent() -> None:
    survivors: list[tuple[int, int]] = []

    def churn() -> None:
        # Arenas grow on the first call: ~4 MB of tuples, four 1 MiB arenas.  (Each
        # traced allocation costs ~100 us in a pytest process's deep stack: 200_000
        # of them a call made this one test a tenth of the suite.)
        objects = [(i, i + 1) for i in range(50_000)]
        if not survivors:
            survivors.extend(objects[::512])  # and stay, pinned by a few survivors
        del objects

    report = leakwatch.check(churn, repeat=5, on_leak="report")
    assert report.clean, str(report)


# -- a C extension that leaks ----------------------------------------------------------


def test_c_extension_leak_is_found_with_the_calling_line(leakext: ModuleType) -> None:
    def parse() -> None:
        leakext.leak(32 * 1024)  # <- extension call

    report = leakwatch.check(parse, repeat=4, on_leak="report")
    found = native_leaks(report)
    assert len(found) == 1, str(report)
    leak = found[0]
    assert called_at(leak) == here("extension call")
    assert 32 * 1024 <= leak.details["growth_per_call"] < 36 * 1024
    if memray_installed():
        frames = leak.details["native_frames"]
        assert [f.function for f in frames[:2]] == ["grab", "leak"]
        assert frames[0].filename.endswith("leakext.c")
        assert leak.details["attribution"] == "memray"
        assert "allocated in leak -> grab" in leak.title


def test_c_extension_scratch_buffer_and_reused_buffer_are_silent(leakext: ModuleType) -> None:
    def work() -> None:
        leakext.scratch(256 * 1024)  # malloc and free
        leakext.reuse(256 * 1024)  # one static buffer, made on the first call

    report = leakwatch.check(work, repeat=5, on_leak="report")
    assert report.clean, str(report)


@pytest.mark.skipif(not memray_installed(), reason="needs the pyleakwatch[native] extra")
def test_native_frames_are_folded_in_text_and_all_shown_with_verbose(
    leakext: ModuleType,
) -> None:
    def parse() -> None:
        leakext.leak(16 * 1024)

    report = leakwatch.check(parse, repeat=3, kinds=("native",), on_leak="report")
    short, verbose = report.format(), report.format(verbose=True)
    assert "native frames (innermost first):" in short
    assert "grab at leakext.c:" in short and "leak at leakext.c:" in short
    assert "interpreter frames folded; -v shows them" in short
    assert "_PyEval_EvalFrameDefault" not in short
    assert "_PyEval_EvalFrameDefault" in verbose
    data = report.to_dict()["leaks"][0]
    assert data["kind"] == "native"
    assert data["details"]["native_frames"][0]["function"] == "grab"
    assert data["origin"][-1]["function"] == "parse"
    out = io.StringIO()
    render_html({"schema": "leakwatch.report/1", **report.to_dict()}, out)
    page = out.getvalue()
    assert "Native frames" in page and ">grab<" in page
    assert 'class="kind k-native"' in page


def test_without_memray_the_report_says_how_to_turn_it_on(
    leakext: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memray_stacks, "available", lambda: False)

    def parse() -> None:
        leakext.leak(32 * 1024)  # <- extension call without memray

    report = leakwatch.check(parse, repeat=3, on_leak="report")
    found = native_leaks(report)
    assert len(found) == 1, str(report)
    assert called_at(found[0]) == here("extension call without memray")
    assert "pip install 'pyleakwatch[native]'" in str(report)
    assert "native_frames" not in found[0].details


def test_the_repeat_rule_is_the_heaps_a_cache_filled_once_is_silent(kept: list[int]) -> None:
    cache: dict[int, int] = {}

    def lookup(key: int = 0) -> None:
        if len(cache) < 2:  # fills on the warm-up call and the first judged one
            cache[len(cache)] = libc.malloc(SIZE)

    try:
        report = leakwatch.check(lookup, repeat=4, on_leak="report")
    finally:
        kept.extend(cache.values())
    assert native_leaks(report) == [], str(report)


def test_native_is_a_documented_kind() -> None:
    from leakwatch._base.model import KINDS

    assert "native" in KINDS
    readme = (Path(HERE).parent.parent / "README.md").read_text(encoding="utf-8")
    assert "`native`" in readme
