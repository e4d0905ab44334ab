"""Temp files and directories this process created in the temp dir and left behind.

Only this process's own creations count (recorded from ``tempfile.mkstemp``,
``tempfile.mkdtemp``, and opens/mkdirs that create an entry directly in the
temp dir), so parallel test workers sharing /tmp never see each other's
files.  Deeper trees (pytest's ``tmp_path`` lives under its own base) are
not tracked entry by entry.
"""

from __future__ import annotations

import stat
from collections.abc import Hashable
from typing import Any

from leakwatch._attribution import records as _records
from leakwatch._attribution.stacks import to_origin
from leakwatch._base.model import Resource
from leakwatch._base.platform import list_dir, path_exists, path_stat
from leakwatch._probes.protocol import Probe, Snapshot

#: Serial drawn as the last snapshot began (any probe instance, any thread).
_last_look = 0


class TempfileProbe(Probe):
    kind = "tempfile"
    released_by_others = True  # only other code removes one

    def snapshot(self) -> Snapshot:
        global _last_look
        # Records of paths already gone are dropped, or each snapshot would
        # stat every temp path made since the first watch began (a session
        # fixture's watch lasts the whole pytest run).  Only records made
        # before the previous snapshot began: the audit hook records a path
        # just before the call that creates it, and a path between the two
        # must stay.  A path made again later gets a new record.
        mark, _last_look = _last_look, _records.current_serial()
        snap: dict[Hashable, Any] = {}
        gone = []
        for path, rec in list(_records.created_paths.items()):
            if path_exists(path):
                snap[path] = rec.serial
            elif rec.serial < mark:
                gone.append((path, rec))
        if gone:
            _records.forget_created(gone)
        return snap

    def is_new(self, key: Hashable, value: Any, before: Snapshot) -> bool:
        return bool(before.get(key) != value)

    def settle(self, new: Snapshot, timeout: float) -> None:
        return None

    def creation(self, key: Hashable, value: Any, since: int) -> _records.Record | None:
        """How the path was made (when, by which thread), if seen."""
        rec = _records.created_paths.get(str(key))
        return rec if rec is not None and rec.serial > since else None

    def recorded(self) -> list[_records.Record]:
        """Every record :meth:`creation` may return."""
        return _records.values_of(_records.created_paths)

    def describe(self, key: Hashable, value: Any, since: int) -> Resource:
        path = str(key)
        st = path_stat(path)
        is_dir = st is not None and stat.S_ISDIR(st.st_mode)
        rec = _records.created_paths.get(path)
        details: dict[str, Any] = {"path": path, "is_dir": is_dir}
        what = "temp dir" if is_dir else "temp file"
        if is_dir:
            entries = list_dir(path)
            if entries is not None:
                details["entries"] = len(entries)
        elif st is not None:
            details["bytes"] = st.st_size
        origin = to_origin(rec.stack, rec.parent) if rec is not None else ()
        return Resource("tempfile", key, f"{what} {path}", origin, details, group=what)
