"""Which creation record belongs to a descriptor number, and what holds a descriptor.

A number's record outlives the descriptor (closed without a hook seeing
it), so a record is taken only when it could have made what the number is
now.  The holder of a descriptor is looked up in the heap among standard
library types only, so no user code runs.  Must not describe or judge: the
fd probe does.
"""

from __future__ import annotations

import gc
import io
import os
import selectors
import socket
import sys
import weakref
from typing import Any

from leakwatch._attribution import records as _records


def _fd_holders() -> dict[int, weakref.ref[Any]]:
    """fd -> the standard-library object whose ``fileno()`` it is (one heap walk).

    Only types whose ``fileno()`` is the standard library's own (no user code
    runs): raw files, sockets, selectors (an epoll's owner), multiprocessing
    connections.  Weak references: the caller keeps nothing alive.
    """
    types_: tuple[type, ...] = (io.FileIO, socket.socket, selectors.BaseSelector)
    connection = sys.modules.get("multiprocessing.connection")
    base = getattr(connection, "_ConnectionBase", None)
    if isinstance(base, type):
        types_ += (base,)
    out: dict[int, weakref.ref[Any]] = {}
    # One issubclass per type, not per object: BaseSelector is an ABC, and
    # its subclass check is Python code (a heap holds a million objects).
    wanted: dict[type, bool] = {}
    objects = gc.get_objects()
    try:
        for obj in objects:
            cls = type(obj)
            hit = wanted.get(cls)
            if hit is None:
                hit = wanted[cls] = issubclass(cls, types_)
            if not hit:
                continue
            try:
                fd = obj.fileno()
                if isinstance(fd, int) and fd >= 0 and fd not in out:
                    out[fd] = weakref.ref(obj)
            except Exception:  # closed, or not weak-referenceable
                continue
    finally:
        del objects
    return out


def record_of(fd: int, target: str, ftype: str, since: int) -> _records.Record | None:
    """The creation record of a descriptor opened after serial ``since``, if seen."""
    rec = _records.fds.get(fd)
    if rec is not None and (rec.serial <= since or not _fits(rec, ftype, target)):
        rec = None  # older than the block, or left by a descriptor closed since
    if ftype == "socket":
        # The socket object holding the descriptor now is never stale; a
        # number's record is (a socket detached, then closed).
        found = _records.find_socket(fd)
        if found is not None and found[1].serial > since:
            made = _records.wrapped(fd, found[1], target)
            return made if made.serial > since else None
        return rec
    if rec is not None:
        return rec
    if ftype == "dir":
        rec = _records.latest_path_record(_records.dir_key(target), since)
        if rec is not None:
            return rec
    if ftype in ("file", "dir", "device", "memfd", "fifo"):
        return _records.latest_path_record(target.removesuffix(" (deleted)"), since)
    return None


def _fits(rec: _records.Record, ftype: str, target: str) -> bool:
    """Could the descriptor filed under this number have made ``target``?

    A number's record outlives a descriptor closed without a hook seeing it
    (``file.close()``, ``socket.close()`` after a detach); a descriptor C
    code opened since under the same number must not take that line.
    """
    made = rec.made_by
    if not made:
        return True
    if made == "socket":  # a detached socket's: the same one, when it is known
        return ftype == "socket" and (not rec.extra or rec.extra == target)
    if made in ("pipe", "pipe2"):
        return ftype == "pipe" and (not rec.extra or rec.extra == target)
    if not made.startswith(os.sep) and rec.extra:
        # A wrapped call's (dup, eventfd, openpty, ...): the very descriptor
        # it made, told by what it was (``anon_inode:[eventfd]``, ``pipe:[ino]``).
        return rec.extra == target
    if made.startswith(os.sep):  # an open of this path
        if ftype in ("socket", "pipe"):
            return False
        if not target.startswith(os.sep) or made.endswith("#O_TMPFILE"):
            return True
        path = target.removesuffix(" (deleted)")
        opened = made.rstrip(os.sep) or os.sep
        return opened == path or os.path.realpath(opened) == path
    return True
