"""Attribution of descriptors that C code opens, and of unnamed and directory files.

``sqlite3.connect`` opens its database from C (CPython raises an audit
event for it), an unclosed ``os.scandir`` iterator holds a directory
descriptor, and ``tempfile.TemporaryFile`` is an unnamed ``O_TMPFILE`` file
opened through its directory; each must still point at its own line, and
the three, made side by side, must not take each other's lines.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from support import created_at, marker_line, of_kind

import leakwatch

HERE = __file__


def here(marker: str) -> tuple[str, int]:
    return HERE, marker_line(HERE, f"# <- creates: {marker}")


def test_sqlite_scandir_and_unnamed_temp_file_point_at_their_lines(tmp_path: Path) -> None:
    db = scan = unnamed = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            db = sqlite3.connect(tmp_path / "app.db")  # <- creates: sqlite
            scan = os.scandir(tempfile.gettempdir())  # <- creates: scandir
            unnamed = tempfile.TemporaryFile()  # noqa: SIM115 # <- creates: unnamed
        assert len(of_kind(w.report, "fd")) == 3, str(w.report)
        titles = {leak.title: leak for leak in of_kind(w.report, "fd")}
        db_leak = next(leak for t, leak in titles.items() if "app.db" in t)
        dir_leak = next(leak for leak in titles.values() if leak.details["type"] == "dir")
        tmp_leak = next(leak for t, leak in titles.items() if "(deleted)" in t)
        assert created_at(db_leak) == here("sqlite")
        assert created_at(dir_leak) == here("scandir")
        assert created_at(tmp_leak) == here("unnamed")
    finally:
        for thing in (db, scan, unnamed):
            if thing is not None:
                thing.close()


def test_reading_a_database_and_closing_it_is_silent(tmp_path: Path) -> None:
    with leakwatch.watch(on_leak="report") as w:
        db = sqlite3.connect(tmp_path / "app.db")
        db.execute("create table t (x)")
        db.close()
        with os.scandir(tmp_path) as entries:
            list(entries)
    assert w.report is not None and w.report.clean, str(w.report)


def test_a_pipe_c_code_makes_on_a_reused_number_does_not_take_the_old_pipes_line() -> None:
    # os.pipe() filed its line under two numbers; os.close() (no hook) frees
    # them and C code (libc's pipe, as libuv or a driver would) takes them
    # again.  The new pipe is "creation not seen", never the old line;
    # beside it, a Python pipe kept open keeps its own line.
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    kept: list[int] = []
    try:
        with leakwatch.watch(on_leak="report") as w:
            r, wr = os.pipe()  # <- creates: closed pipe
            os.close(r)
            os.close(wr)
            pair = (ctypes.c_int * 2)()
            assert libc.pipe(pair) == 0
            kept.extend(pair)
            kept.extend(os.pipe())  # <- creates: kept pipe
        assert set(kept[:2]) == {r, wr}, "C code took the freed numbers"
        leaks = of_kind(w.report, "fd")
        c_made = [leak for leak in leaks if not leak.origin]
        assert c_made and all("creation not seen" in leak.title for leak in c_made)
        assert sum(leak.count for leak in c_made) == 2, str(w.report)
        python_made = [leak for leak in leaks if leak.origin]
        assert [created_at(leak) for leak in python_made] == [here("kept pipe")], str(w.report)
    finally:
        for fd in kept:
            os.close(fd)
