"""The gate and the audit hook: whether creations are recorded now, and recording one.

A counter says how many watches are on; it is changed under a lock (watches
start and end in many threads at once) and the hooks read it without one.
While it is zero the audit hook costs one global read.  :func:`_record`
captures the creating stack, and the owner when the code runs a coroutine
another thread handed over (``run_coroutine_threadsafe``).

Must not install anything (that is :mod:`leakwatch._attribution.origins`)
nor hold a user's object.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable
from typing import Any

from leakwatch._attribution import records
from leakwatch._attribution.records import (
    _TMPFILE,
    WRAP,
    Record,
    _index_sockets,
    _remember_created,
    _remember_path,
    _serials,
    _unindexed,
    dir_key,
    forks,
    handed_over,
    sockets,
    spawns,
    threads,
)
from leakwatch._attribution.stacks import DEFAULT_DEPTH, capture, user_code_inside
from leakwatch._attribution.tags import job_tags, request_tag, starting, thread_tag, thread_tags
from leakwatch._base.platform import path_exists
from leakwatch._base.pyversion import running_thread

_active = 0  # how many watches are on; hooks record only while > 0


#: Bumped by every creation the hooks see (the audit events and wrappers)
#: and when they come on: while it stands still, Python made no descriptor
#: and started no thread.  C code opening a descriptor or starting a thread
#: on its own does not bump it: a reader relying on it must still count
#: them.  Read directly (``recording._epoch``): the looks read it every test.
_epoch = 0


_install_lock = threading.Lock()


#: Guards changes of ``_active`` (never its reads: the hooks' gate is one
#: global read).  Reentrant: a watch may start or end in a signal handler
#: that interrupted another in the same thread.
_active_lock = threading.RLock()


class _Local(threading.local):
    """Per thread: ``quiet`` (leakwatch's own calls) and ``opened`` (``_CLAIMING``).
    Defaults on the class: one never set costs no caught AttributeError (0.3 us)."""

    quiet = False
    opened: Any = None


_local = _Local()


depth = DEFAULT_DEPTH


#: How many sampled requests are being watched: while 0 (no request sampled)
#: the tag costs nothing, not even the context variable's read.
tagging = 0


#: Only sampled requests asked for recording (no watch, no debug pages): a
#: creation is recorded only if it is a sampled request's (see ``_untagged``).
tag_only = False


_full = 0  # how many of the ``_active`` asked for every creation


def _untagged() -> bool:
    """In tag-only mode, whether this creation is no sampled request's: not recorded."""
    if not tag_only or request_tag.get():
        return False
    ident = threading.get_ident()
    job = job_tags.get(ident)
    return not (thread_tag(ident) if job is None else job)


def wanted(frame: Any) -> bool:
    """Whether a task or timer made at ``frame`` (the wrapper's caller) is recorded
    (:func:`_recording`), and in tag-only mode charged: a sampled request's,
    and not the server's machinery inside it (:func:`_machinery`).  A task or
    timer wrapper asks this first: what it declines costs no record at all.
    One call, the gates written out: a sampled request's every task and timer
    asks it, and each further call into Python cost as much as its question."""
    if not _active or _local.quiet:
        return False
    if not tag_only:
        return True
    if not request_tag.get():
        ident = threading.get_ident()
        job = job_tags.get(ident)
        if not (thread_tag(ident) if job is None else job):
            return False  # no sampled request's (``_untagged``)
    # ``_machinery``, written out.  A thread a sampled request started is in
    # ``thread_tags`` (or ``starting``): with none, no thread's record has a tag.
    parent_rec = _parent_record() if thread_tags or starting else None
    return (parent_rec is not None and bool(parent_rec.tag)) or user_code_inside(frame)


def _parent_record() -> Record | None:
    """The creation record of the running thread, if leakwatch saw it start."""
    here = running_thread()  # never threading.current_thread(): see running_thread
    return threads.get(here) if here is not None else None


def _machinery(frame: Any, parent_rec: Record | None) -> bool:
    """A sampled request's creation with none of the user's code on its
    stack inside the request (above the middleware's frame), in a thread no
    sampled request started: the server's or a library's machinery
    (uvicorn's keep-alive timer, scheduled inside every request), which the
    judge never charges (``leakwatch._service.charges.made_by_user``)."""
    return not (parent_rec is not None and parent_rec.tag) and not user_code_inside(frame)


def _record(extra: str = "", made_by: str = "", *, charged: bool = False) -> Record:
    """The record of a creation made by the caller's caller.  ``charged``:
    :func:`wanted` was asked already and said yes."""
    if tag_only and not charged and _untagged():
        # No stack, but it supersedes older records of the same descriptor
        # number or path: a sampled request's closed file is not this one.
        return Record(next(_serials), (), (), extra, threading.get_ident(), made_by)
    frame = sys._getframe(1)
    parent_rec = _parent_record()
    if tag_only and not charged and _machinery(frame, parent_rec):
        # Recorded as no request's, at no stack's cost.
        return Record(next(_serials), (), (), extra, threading.get_ident(), made_by)
    stack = capture(frame, depth)
    parent = parent_rec.stack if parent_rec is not None else ()
    tag = 0
    if tagging:
        # A thread a request started serves that request (a pool's worker:
        # the request whose job it runs, ``thread_tags``): what it makes is
        # the request's, though the thread does not carry the context.
        started = parent_rec.tag if parent_rec is not None else 0
        tag = request_tag.get() or job_tags.get(threading.get_ident(), started)
    handed = handed_over()
    if handed is None:
        return Record(next(_serials), stack, parent, extra, threading.get_ident(), made_by, 0, tag)
    return Record(next(_serials), stack, parent, extra, handed[0], made_by, handed[1], tag)


def _recording() -> bool:
    if not _active or (tag_only and _untagged()):
        return False
    return not _local.quiet


class quiet:
    """leakwatch's own opens and sockets are not recorded: ``with quiet(): ...``.

    A class rather than a generator-based context manager: every snapshot
    enters it (four times per test under pytest), at a third of the cost.
    """

    __slots__ = ("_old",)

    def __enter__(self) -> None:
        self._old = _local.quiet
        _local.quiet = True

    def __exit__(self, *exc: object) -> None:
        _local.quiet = self._old


# -- audit hook ---------------------------------------------------------------


_tempdir = ""


def _tempdir_child(path: str) -> bool:
    # Never tempfile.gettempdir() here: it holds a lock while it opens files,
    # and this hook runs inside those opens.  Reading the attribute is safe.
    return os.path.dirname(path) == (tempfile.tempdir or _tempdir)


def _on_open(args: tuple[Any, ...]) -> None:
    path, mode, flags = args
    if isinstance(path, int) or path is None:
        return
    try:
        path = os.path.abspath(os.fsdecode(path))
    except (TypeError, ValueError):
        return
    tmpfile = getattr(os, "O_TMPFILE", 0)
    if tmpfile and isinstance(flags, int) and flags & tmpfile == tmpfile:
        # An unnamed file in that directory, not the directory itself.
        key = os.path.join(path, _TMPFILE)
    elif isinstance(flags, int) and flags & getattr(os, "O_DIRECTORY", 0):
        key = dir_key(path)
    else:
        key = path
    rec = _record(made_by=key)
    if _local.opened is _CLAIMING:
        # A wrapper around this call (os.open, open) learns the descriptor
        # number when the call returns and files the record under it.
        _local.opened = rec
    else:  # an open no wrapper sees (C code, io.FileIO): filed by path
        _remember_path(key, rec)
    if key is not path:
        return
    creating = bool(flags & os.O_CREAT) if isinstance(flags, int) and flags else False
    if isinstance(mode, str) and ("w" in mode or "a" in mode or "x" in mode):
        creating = True  # (no generator: this runs on every open)
    if creating and _tempdir_child(path) and not path_exists(path, follow=True):
        _remember_created(path, rec)


def _on_path(args: tuple[Any, ...], suffix: str = "") -> None:
    """A C library opening a path itself (sqlite3), or a directory iterator."""
    path = args[0] if args else None
    if isinstance(path, (str, bytes, os.PathLike)) and path not in (":memory:", b":memory:", ""):
        _remember_path(os.path.abspath(os.fsdecode(path)) + suffix, _record())


def _on_socket(args: tuple[Any, ...]) -> None:
    sock = args[0]
    # Family -1: ``socket.socket(fileno=fd)`` wrapping a descriptor that exists
    # already (its family is read from it).  Its record says "wrap", so the
    # descriptor's own creation, if seen, keeps precedence (see ``wrapped``).
    made_by = WRAP if len(args) > 1 and args[1] == -1 else ""
    try:
        sockets[sock] = _record(made_by=made_by)
    except TypeError:  # not weak-referenceable
        return
    # The socket is being made: its descriptor is not known yet.  Those
    # recorded before it are complete; file them by number now and then, so
    # the list stays bounded (find_socket files the rest).
    if len(_unindexed) >= records._index_at:
        _index_sockets()
    _unindexed.append(weakref.ref(sock))


def _on_spawn(argv: Any) -> None:
    if isinstance(argv, (str, bytes, os.PathLike)):
        argv = [argv]
    try:
        key = tuple(os.fsdecode(a) for a in argv)
    except TypeError:
        key = ()
    spawns.append((key, _record()))


def _on_tempfile(args: tuple[Any, ...]) -> None:
    _remember_created(os.path.abspath(os.fsdecode(args[0])), _record())


def _on_mkdir(args: tuple[Any, ...]) -> None:
    if isinstance(args[0], int):
        return
    path = os.path.abspath(os.fsdecode(args[0]))
    if _tempdir_child(path) and not path_exists(path, follow=True):
        _remember_created(path, _record())


_EVENTS: dict[str, Callable[[tuple[Any, ...]], None]] = {
    "open": _on_open,
    "socket.__new__": _on_socket,
    "subprocess.Popen": lambda a: _on_spawn(a[1]),
    "os.posix_spawn": lambda a: _on_spawn(a[1]),
    "os.fork": lambda a: forks.append(_record()),
    "os.forkpty": lambda a: forks.append(_record()),
    "tempfile.mkstemp": _on_tempfile,
    "tempfile.mkdtemp": _on_tempfile,
    "os.mkdir": _on_mkdir,
    "os.scandir": lambda a: _on_path(a, os.sep),
    "sqlite3.connect": _on_path,
}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    global _epoch
    if not _active:  # the cheap gate: one global read when no watch is on
        return
    handler = _EVENTS.get(event)
    if handler is None:
        return
    if _local.quiet:
        return  # leakwatch's own, closed before it looks again: not counted
    _epoch += 1
    try:
        handler(args)
    except Exception:  # recording must never break the watched program
        pass


_CLAIMING = object()  # in _local.opened: a wrapper waits for the open's record


def count_on(full: bool = True) -> None:
    """One more watch is on (the hooks are installed by ``origins.activate``).
    ``full=False``: only sampled requests' creations are wanted."""
    global _active, _epoch, _full, tag_only
    with _active_lock:
        if _active == 0:
            _epoch += 1  # what happened while the hooks were off was not counted
        _active += 1
        _full += full
        tag_only = _full == 0


def deactivate(full: bool = True) -> None:
    global _active, _full, tag_only
    with _active_lock:
        if _active == 0:
            return
        _active -= 1
        _full -= full
        tag_only = _full == 0
        if _active:
            return
        # Records only serve the watches that were on; drop them so a long
        # program doesn't accumulate stacks.
        thread_tags.clear()
        records.forget_all()


def is_recording() -> bool:
    return _active > 0
