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
