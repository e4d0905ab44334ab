"""Native memory under the pytest plugin's ``repeat`` marker, and in ``leakwatch run``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.cli import EXIT_LEAKS, leakwatch, load, marked_line, of_kind, script
from support.native import build_extension, memray_installed, needs_glibc
from support.plugin_runs import line_of, outcomes, prepare, read_json, run, write

pytestmark = needs_glibc


@pytest.fixture(scope="module")
def extension(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_extension(tmp_path_factory.mktemp("ext"))


@pytest.fixture
def lw(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, extension: Path
) -> pytest.Pytester:
    shutil.copy(extension, pytester.path / extension.name)  # importable as leakext
    return prepare(pytester, monkeypatch)


# -- the repeat marker -------------------------------------------------------------------


def test_repeat_marker_fails_a_test_whose_native_memory_grows(lw: pytest.Pytester) -> None:
    path = write(
        lw,
        "test_native_marker.py",
        """
        import ctypes
        import pytest
        import leakext

        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.malloc.argtypes = [ctypes.c_size_t]
        libc.free.argtypes = [ctypes.c_void_p]
        KEPT = []
        BUFFER = []

        @pytest.mark.leakwatch(repeat=3)
        def test_ctypes_leak():
            KEPT.append(libc.malloc(64 * 1024))  # <- ctypes leak

        @pytest.mark.leakwatch(repeat=3)
        def test_extension_leak():
            leakext.leak(64 * 1024)  # <- extension leak

        @pytest.mark.leakwatch(repeat=3)
        def test_freed():
            libc.free(libc.malloc(64 * 1024))
            leakext.scratch(64 * 1024)

        @pytest.mark.leakwatch(repeat=3)
        def test_filled_once_and_reused():
            if not BUFFER:
                BUFFER.append(ctypes.create_string_buffer(256 * 1024))
            ctypes.memset(BUFFER[0], 1, 256 * 1024)
            leakext.reuse(256 * 1024)
        """,
    )
    result = run(lw, "--leakwatch", "--leakwatch-json=out.json")
    assert outcomes(result) == {
        "test_ctypes_leak": {"FAILED"},
        "test_extension_leak": {"FAILED"},
        "test_freed": {"PASSED"},
        "test_filled_once_and_reused": {"PASSED"},
    }, result.stdout.str()
    result.stdout.fnmatch_lines(["*native leak in call: native memory grows 64.0 KiB per call*"])
    tests = {t["nodeid"].rsplit("::", 1)[-1]: t for t in read_json(lw.path / "out.json")["tests"]}
    for name, marker in (
        ("test_ctypes_leak", "ctypes leak"),
        ("test_extension_leak", "extension leak"),
    ):
        leaks = [leak for leak in tests[name]["leaks"] if leak["kind"] == "native"]
        assert len(leaks) == 1, tests[name]
        last = leaks[0]["origin"][-1]
        assert (Path(last["filename"]).name, last["lineno"]) == (path.name, line_of(path, marker))
    if memray_installed():
        native = [
            leak for leak in tests["test_extension_leak"]["leaks"] if leak["kind"] == "native"
        ]
        functions = [f["function"] for f in native[0]["details"]["native_frames"][:2]]
        assert functions == ["grab", "leak"]


# -- leakwatch run -------------------------------------------------------------------------

PROGRAM = """\
import ctypes, time
import leakext

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
KEPT = []

def handle(i):
    {body}

for i in range(100):
    handle(i)
    time.sleep(0.02)
"""


def _run(tmp_path: Path, extension: Path, body: str) -> tuple[int, dict, Path]:
    shutil.copy(extension, tmp_path / extension.name)
    path = script(tmp_path, "server.py", PROGRAM.format(body=body))
    result = leakwatch(
        "run",
        "--interval",
        "0.1",
        "--trace-window",
        "0.3",
        "--json",
        "out.json",
        path,
        cwd=tmp_path,
    )
    return result.returncode, load(tmp_path / "out.json"), path


@pytest.mark.skipif(not memray_installed(), reason="needs the pyleakwatch[native] extra")
def test_run_finds_an_extension_leak_with_its_line_and_native_frames(
    tmp_path: Path, extension: Path
) -> None:
    body = "leakext.leak(256 * 1024)  # leaks: one buffer per request\n    leakext.scratch(4096)"
    status, data, path = _run(tmp_path, extension, body)
    assert status == EXIT_LEAKS, data
    found = of_kind(data, "native")
    assert len(found) == 1, data["leaks"]
    leak = found[0]
    assert leak["origin"][-1]["lineno"] == marked_line(path)
    assert leak["details"]["native_frames"][0]["function"] == "grab"
    assert not of_kind(data, "heap"), data["leaks"]
    assert "native" in data["timeseries"], list(data["timeseries"])


def test_run_finds_a_ctypes_leak_as_native_growth(tmp_path: Path, extension: Path) -> None:
    body = "p = libc.malloc(256 * 1024); ctypes.memset(p, 1, 256 * 1024); KEPT.append(p)"
    status, data, _ = _run(tmp_path, extension, body)
    assert status == EXIT_LEAKS, data
    found = of_kind(data, "native")
    assert len(found) == 1, data["leaks"]
    assert "keeps growing" in found[0]["title"]
    assert not of_kind(data, "heap"), data["leaks"]


def test_run_is_silent_on_native_buffers_freed_or_reused(tmp_path: Path, extension: Path) -> None:
    body = (
        "leakext.scratch(256 * 1024); leakext.reuse(1024 * 1024)\n"
        "    libc.free(libc.malloc(256 * 1024))"
    )
    status, data, _ = _run(tmp_path, extension, body)
    assert status == 0, data["leaks"]
    assert data["leaks"] == []
