"""The tempfile probe: temp files and directories left in the temp dir are
leaks; the self-cleaning forms, and a file removed in the block, are not."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings

from support import of_kind, titles

import leakwatch


def _remove(path: str | None) -> None:
    if path is None:
        return
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


# -- leaks -------------------------------------------------------------------------


def test_mkstemp_file_left_behind_is_a_leak() -> None:
    path = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            fd, path = tempfile.mkstemp(prefix="lw-left-", suffix=".txt")
            os.write(fd, b"abc")
            os.close(fd)
        (leak,) = of_kind(w.report, "tempfile")
        assert leak.title == f"temp file {path}"
        assert leak.details["path"] == path
        assert leak.details["is_dir"] is False
        assert leak.details["bytes"] == 3
        assert leak.origin
        assert of_kind(w.report, "fd") == [], "the descriptor was closed"
    finally:
        _remove(path)


def test_mkdtemp_dir_left_behind_is_a_leak() -> None:
    path = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            path = tempfile.mkdtemp(prefix="lw-left-")
            open(os.path.join(path, "inner"), "w").close()
        (leak,) = of_kind(w.report, "tempfile")
        assert leak.title == f"temp dir {path}"
        assert leak.details["is_dir"] is True
        assert leak.details["entries"] == 1
        assert leak.origin
    finally:
        _remove(path)


def test_named_temporary_file_with_delete_false_is_a_leak() -> None:
    path = None
    try:
        with (
            leakwatch.watch(on_leak="report") as w,
            tempfile.NamedTemporaryFile(prefix="lw-keep-", delete=False) as f,
        ):
            path = f.name
            f.write(b"kept")
        leaks = of_kind(w.report, "tempfile")
        assert [t for t in titles(leaks) if path in t], str(w.report)
        assert leaks[0].origin
    finally:
        _remove(path)


def test_several_temp_files_from_one_line_are_one_leak_counted() -> None:
    paths: list[str] = []
    try:
        with leakwatch.watch(on_leak="report") as w:
            for _ in range(3):
                paths.append(tempfile.mkdtemp(prefix="lw-many-"))
        (leak,) = of_kind(w.report, "tempfile")
        assert leak.count == 3
        assert sorted(f"temp dir {p}" for p in paths) == sorted(titles([leak]))
    finally:
        for p in paths:
            _remove(p)


# -- look-alikes that must stay silent ---------------------------------------------


def test_temporary_directory_context_is_silent() -> None:
    with (
        leakwatch.watch(on_leak="report") as w,
        tempfile.TemporaryDirectory(prefix="lw-ctx-") as d,
        open(os.path.join(d, "f"), "w") as f,
    ):
        f.write("x")
    assert w.report is not None and w.report.clean, str(w.report)


def test_named_temporary_file_closed_is_silent() -> None:
    with leakwatch.watch(on_leak="report") as w:
        with tempfile.NamedTemporaryFile(prefix="lw-ntf-") as f:
            f.write(b"x")
        tmp = tempfile.NamedTemporaryFile(prefix="lw-ntf-")  # noqa: SIM115
        tmp.close()
    assert w.report is not None and w.report.clean, str(w.report)


def test_self_cleaning_temp_objects_dropped_without_close_are_silent() -> None:
    """Dropped at once, they clean up through refcounting (with a ResourceWarning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with leakwatch.watch(on_leak="report") as w:
            d = tempfile.TemporaryDirectory(prefix="lw-dropped-")
            name = d.name
            del d
            tempfile.NamedTemporaryFile(prefix="lw-dropped-").write(b"x")  # noqa: SIM115
    assert not os.path.exists(name)
    assert w.report is not None and w.report.clean, str(w.report)


def test_mkstemp_then_unlink_is_silent() -> None:
    with leakwatch.watch(on_leak="report") as w:
        fd, path = tempfile.mkstemp(prefix="lw-unlinked-")
        os.close(fd)
        os.unlink(path)
        d = tempfile.mkdtemp(prefix="lw-unlinked-")
        os.rmdir(d)
    assert w.report is not None and w.report.clean, str(w.report)


def test_temp_file_made_before_the_block_is_silent() -> None:
    fd, path = tempfile.mkstemp(prefix="lw-before-")
    os.close(fd)
    try:
        with leakwatch.watch(on_leak="report") as w, open(path, "a") as f:
            f.write("more")
        assert w.report is not None and w.report.clean, str(w.report)
    finally:
        _remove(path)
