"""What the creation hooks recorded: one :class:`Record` per creation, in bounded tables.

Each record is a serial number (creation order), the raw stack (plain
strings and ints) and the stack that started the thread it was made in, so a
resource made inside a library's worker thread still points at the user's
line.  Tables are bounded; nothing holds the user's objects except through
weak references.  Probes look records up here (:func:`find_socket`,
:func:`latest_path_record`, :func:`task_record`, the tables).

Must not install hooks or decide whether to record: that is
:mod:`leakwatch._attribution.recording`.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leakwatch._attribution.stacks import RawStack

_serials = itertools.count(1)


MAX_PATHS = 10_000


_TMPFILE = "#O_TMPFILE"  # key suffix for unnamed files opened in a directory


MAX_SPAWNS = 1_000


@dataclass(frozen=True)
class Record:
    serial: int
    stack: RawStack
    parent: RawStack = ()
    extra: str = ""
    #: ``threading.get_ident()`` of the thread that made it: what a thread
    #: makes belongs to whoever started that thread.
    thread: int = 0
    #: For a descriptor filed by number, what made it: the opened path (an
    #: absolute path, see :func:`dir_key`), ``"socket"`` (a detached socket;
    #: ``extra`` is then what the number was, ``"socket:[ino]"``, when known),
    #: or the wrapped call's name (``"pipe"``, ``"dup"``, ...).  A record
    #: left by a descriptor closed since can so be told from the one that
    #: reused its number.
    made_by: str = ""
    #: Made by code running a coroutine another thread handed over
    #: (``run_coroutine_threadsafe``), or a task that one made: the serial of
    #: that hand-over (``thread`` is then the handing thread).  0: none.
    owner: int = 0
    #: The sampled request it was made for (``tags.request_tag``), or
    #: inherited from the thread it was made in: 0 when none was.
    tag: int = 0


#: ``Record.made_by`` of a socket that wrapped a descriptor made before it
#: (``socket.socket(fileno=fd)``): where the socket was made, not the descriptor.
WRAP = "wrap"

# Tables: fd number -> record; path -> records; spawns; weak tables.
fds: dict[int, Record] = {}


paths: dict[str, deque[Record]] = {}


created_paths: dict[str, Record] = {}


spawns: deque[tuple[tuple[str, ...], Record]] = deque(maxlen=MAX_SPAWNS)


forks: deque[Record] = deque(maxlen=MAX_SPAWNS)


sockets: weakref.WeakKeyDictionary[Any, Record] = weakref.WeakKeyDictionary()


threads: weakref.WeakKeyDictionary[threading.Thread, Record] = weakref.WeakKeyDictionary()
#: When each recorded thread was started (``time.monotonic()``, just before):
#: it cannot have been waiting for longer than since then.
thread_starts: weakref.WeakKeyDictionary[threading.Thread, float] = weakref.WeakKeyDictionary()


#: Where each ``Thread`` (or ``Timer``, or subclass) was constructed.
thread_inits: weakref.WeakKeyDictionary[threading.Thread, Record] = weakref.WeakKeyDictionary()


#: Where each asyncio task was created (see :func:`task_record`).
tasks: weakref.WeakKeyDictionary[Any, Record] = weakref.WeakKeyDictionary()


#: Where each asyncio timer handle (``call_later``/``call_at``) was scheduled;
#: ``extra`` is its callback's name.  Only timers that serve no future: a
#: ``sleep``'s or a timeout's timer is its task's business.
timers: weakref.WeakKeyDictionary[Any, Record] = weakref.WeakKeyDictionary()


#: The loop of each recorded timer (uvloop's handles do not say).
timer_loops: weakref.WeakKeyDictionary[Any, weakref.ref[Any]] = weakref.WeakKeyDictionary()

#: The serial at which each event loop made while a watch was on was made: a
#: loop not here is older than every watch.
loop_births: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


native_threads: dict[int, Record] = {}


#: Native thread id -> the object whose method it runs (``_thread.start_new_thread``).
native_owners: dict[int, weakref.ref[Any]] = {}


#: Coroutines handed to a loop in another thread (``run_coroutine_threadsafe``):
#: the task made from one there belongs to the block that handed it over.
handovers: weakref.WeakKeyDictionary[Any, Record] = weakref.WeakKeyDictionary()


#: Socket lookup by descriptor number, filled lazily (see :func:`find_socket`):
#: fd -> weak socket, and the sockets recorded since the last filling.
_sock_by_fd: dict[int, weakref.ref[Any]] = {}


_unindexed: list[weakref.ref[Any]] = []


_INDEX_EVERY = 1024


_index_at = _INDEX_EVERY  # _unindexed's length that triggers filing


#: Guards ``created_paths`` between the hooks and :func:`forget_created`.  Reentrant:
#: a signal handler creating a temp file may interrupt a prune in the same thread.
_created_lock = threading.RLock()


#: The serial the next record will be above; marks the start of a block.  The
#: counter's own method, not a function around it: every sampled request asks.
current_serial: Callable[[], int] = _serials.__next__


def _remember_path(path: str, rec: Record) -> None:
    bucket = paths.get(path)
    if bucket is None:
        if len(paths) >= MAX_PATHS:
            paths.pop(next(iter(paths)))
        bucket = paths[path] = deque(maxlen=8)
    bucket.append(rec)


def _remember_created(path: str, rec: Record) -> None:
    with _created_lock:
        if len(created_paths) >= MAX_PATHS:
            created_paths.pop(next(iter(created_paths)))
        created_paths[path] = rec


def forget_created(gone: list[tuple[str, Record]]) -> None:
    """Drop records of temp paths that were made and are gone again.

    Records live as long as any watch is on, and under pytest a session
    fixture's watch is on for the whole run, so without this every temp path
    the suite ever made and removed is looked up again by every snapshot.
    A record is dropped only if it is still the one given (the path was not
    made again meanwhile).
    """
    with _created_lock:
        for path, rec in gone:
            if created_paths.get(path) is rec:
                del created_paths[path]


def dir_key(path: str) -> str:
    """Directory opens are filed apart, so a file opened *in* it never
    takes the directory descriptor's origin."""
    return path.rstrip(os.sep) + os.sep


def task_record(task: Any) -> Record | None:
    """Where ``task`` was created (by whatever path reached ``loop.create_task``)."""
    try:
        return tasks.get(task)
    except TypeError:
        return None


def _sock_fd(sock: Any) -> int:
    try:
        return int(sock.fileno())
    except Exception:
        return -1


def _index_sockets() -> None:
    """File the sockets recorded since last time by their descriptor number."""
    global _index_at
    batch = _unindexed[:]
    del _unindexed[: len(batch)]
    keep = []
    for ref in batch:
        sock = ref()
        if sock is None:
            continue
        fd = _sock_fd(sock)
        if fd >= 0:
            _sock_by_fd[fd] = ref
        else:  # still being made in another thread (or closed): look again later
            keep.append(ref)
        del sock
    _unindexed.extend(keep)
    # Sockets kept (closed, yet alive) are looked at again only once as many
    # new ones came: filing stays O(1) per socket.
    _index_at = len(keep) + _INDEX_EVERY


def detached(fd: int, target: str | None) -> Record | None:
    """The record a detached socket filed under ``fd``, if the descriptor under
    that number is still that socket (``target``, as the fd listing names it)."""
    rec = fds.get(fd)
    if rec is not None and rec.made_by == "socket" and rec.extra and rec.extra == target:
        return rec
    return None


def wrapped(fd: int, rec: Record, target: str | None) -> Record:
    """The creation record of descriptor ``fd`` (now ``target``), held by a
    socket recorded as ``rec``.

    A socket that wrapped a descriptor a detached socket left (``fileno=``)
    did not make it: the detached socket's record, filed under the number
    before the wrap, says where the descriptor was made -- if it is still
    that descriptor.
    """
    if rec.made_by != WRAP:
        return rec
    older = detached(fd, target)
    return older if older is not None and older.serial < rec.serial else rec


def find_socket(fd: int) -> tuple[Any, Record] | None:
    """The live socket object recorded for an fd number (and its record).

    O(1) on average: each recorded socket is filed by number once; a miss
    files those recorded since the last look.
    """
    for attempt in range(2):
        ref = _sock_by_fd.get(fd)
        sock = ref() if ref is not None else None
        if sock is not None and _sock_fd(sock) == fd:
            try:
                rec = sockets.get(sock)
            except TypeError:
                rec = None
            return (sock, rec) if rec is not None else None
        if attempt == 0:
            if not _unindexed:
                return None
            _index_sockets()
    return None


def latest_path_record(path: str, after: int) -> Record | None:
    """The latest open of ``path`` since ``after``; the kernel shows resolved
    paths, so opens through a symlink are matched by their real path."""
    bucket = paths.get(path)
    if not bucket and path.startswith("/") and os.path.basename(path).startswith("#"):
        # An O_TMPFILE file (tempfile.TemporaryFile): opened by its directory.
        bucket = paths.get(os.path.join(os.path.dirname(path), _TMPFILE))
    if not bucket:
        for opened, records in list(paths.items()):
            if records[-1].serial > after and os.path.realpath(opened) == path:
                bucket = records
                break
        else:
            return None
    candidates = [r for r in bucket if r.serial > after]
    return candidates[-1] if candidates else None


def keys_of(table: Any, tries: int = 2) -> list[Any]:
    """The keys of a record table (a weak dictionary), listed again when
    another thread changed it meanwhile, at most ``tries`` times; the last
    try's ``RuntimeError`` is the caller's."""
    return _listed(table.keys, tries)


def values_of(table: Any, tries: int = 2) -> list[Any]:
    """The values of a record table, as :func:`keys_of` lists its keys."""
    return _listed(table.values, tries)


def _listed(view: Any, tries: int) -> list[Any]:
    for _ in range(tries - 1):
        try:
            return list(view())
        except RuntimeError:  # changed by another thread meanwhile: once more
            continue
    return list(view())


def forget_all() -> None:
    """Drop every record: they serve only the watches that were on, and a
    long program must not accumulate stacks."""
    for table in (
        fds, paths, created_paths, spawns, forks, native_threads, native_owners, sockets,
        threads, handovers, thread_inits, tasks, timers, timer_loops, loop_births, _sock_by_fd,
        _unindexed,
    ):  # fmt: skip
        if table:  # most are empty: a weak dictionary's clear() pops item by item
            table.clear()


def handed_over() -> tuple[int, int] | None:
    """(handing thread, hand-over serial) when this code runs an asyncio task
    another thread handed over (``run_coroutine_threadsafe``), or a task that
    such a task made: what a handed-over coroutine makes in a server's loop
    is the handing block's.  None otherwise (the usual case)."""
    events = sys.modules.get("asyncio.events")
    loop = events._get_running_loop() if events is not None else None
    if loop is None:
        return None
    try:
        task = sys.modules["asyncio.tasks"].current_task(loop)
        if task is None:
            return None
        rec = handovers.get(task.get_coro())
        if rec is not None:
            return rec.thread, rec.serial
        rec = tasks.get(task)
    except Exception:  # ownership is a refinement: the making thread stands
        return None
    return (rec.thread, rec.owner) if rec is not None and rec.owner else None
