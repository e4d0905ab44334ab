"""Where things were created: hooks installed once, recording only while a watch is on.

CPython raises audit events for some creations (``open``, ``socket.__new__``,
``subprocess.Popen``, ``os.fork``, ``tempfile.mkstemp``/``mkdtemp``,
``os.mkdir``); an audit hook can't be removed, so it is installed once and
gated by a counter.  Calls with no event (``os.pipe``, ``os.dup``,
``os.openpty``, ``os.eventfd``, ``select.epoll``, ``_thread.start_new_thread``)
and ``threading.Thread.start`` are wrapped once, the same way.  So are the
calls whose descriptor number is known only once they return (``os.open``,
``open``/``io.open``): the open's record is then filed by number, and the
path table stays for opens no wrapper sees (C code, ``io.FileIO``).  A
socket's record lives with the socket object; ``socket.detach()`` moves it
to the descriptor number, which outlives the object.  ``Thread.__init__``
records where a thread was made, beside where it was started; asyncio's
``BaseEventLoop.create_task`` (which ``create_task``, ``ensure_future``,
``gather``, ``as_completed`` and task groups all reach) records where a task
was made, wrapped once asyncio is imported; coroutine origin tracking
(``cr_origin``) remains for the rest.

The counter that gates it all is changed under a lock (watches start and
end in many threads at once); the hooks read it without one.

Each record is a :class:`Record`: a serial number (creation order), the raw
stack (plain strings and ints) and the stack that started the thread it was
created in, so a resource made inside a library's worker thread still points
at the user's line.  Tables are bounded; nothing holds the user's objects
except through weak references.
"""

from __future__ import annotations

import _thread
import functools
import io
import itertools
import os
import select
import socket
import sys
import tempfile
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from leakwatch._attribution.stacks import DEFAULT_DEPTH, RawStack, capture

_serials = itertools.count(1)
_active = 0  # how many watches are on; hooks record only while > 0
#: Bumped by every creation the hooks see (and when they come on): while it
#: stands still, no descriptor was made in Python.  See :func:`fd_epoch`.
_epoch = 0
_installed = False
_install_lock = threading.Lock()
#: Guards changes of ``_active`` (never its reads: the hooks' gate is one
#: global read).  Reentrant: a watch may start or end in a signal handler
#: that interrupted another in the same thread.
_active_lock = threading.RLock()
_local = threading.local()  # .quiet: leakwatch's own calls, not recorded
depth = DEFAULT_DEPTH

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
    #: absolute path, see :func:`dir_key`), ``"socket"`` (a detached socket),
    #: or the wrapped call's name (``"pipe"``, ``"dup"``, ...).  A record
    #: left by a descriptor closed since can so be told from the one that
    #: reused its number.
    made_by: str = ""
    #: Made by code running a coroutine another thread handed over
    #: (``run_coroutine_threadsafe``), or a task that one made: the serial of
    #: that hand-over (``thread`` is then the handing thread).  0: none.
    owner: int = 0


# Tables: fd number -> record; path -> records; spawns; weak tables.
fds: dict[int, Record] = {}
paths: dict[str, deque[Record]] = {}
created_paths: dict[str, Record] = {}
spawns: deque[tuple[tuple[str, ...], Record]] = deque(maxlen=MAX_SPAWNS)
forks: deque[Record] = deque(maxlen=MAX_SPAWNS)
sockets: weakref.WeakKeyDictionary[Any, Record] = weakref.WeakKeyDictionary()
threads: weakref.WeakKeyDictionary[threading.Thread, Record] = weakref.WeakKeyDictionary()
#: Where each ``Thread`` (or ``Timer``, or subclass) was constructed.
thread_inits: weakref.WeakKeyDictionary[threading.Thread, Record] = weakref.WeakKeyDictionary()
#: Where each asyncio task was created (see :func:`task_record`).
tasks: weakref.WeakKeyDictionary[Any, Record] = weakref.WeakKeyDictionary()
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


def current_serial() -> int:
    """The serial the next record will be above; marks the start of a block."""
    return next(_serials)


def _record(extra: str = "", made_by: str = "") -> Record:
    stack = capture(sys._getframe(1), depth)
    parent_rec = threads.get(threading.current_thread())
    parent = parent_rec.stack if parent_rec is not None else ()
    handed = _handed_over()
    if handed is None:
        return Record(next(_serials), stack, parent, extra, threading.get_ident(), made_by)
    return Record(next(_serials), stack, parent, extra, handed[0], made_by, handed[1])


def _handed_over() -> tuple[int, int] | None:
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


def _recording() -> bool:
    return _active > 0 and not getattr(_local, "quiet", False)


class quiet:
    """leakwatch's own opens and sockets are not recorded: ``with quiet(): ...``.

    A class rather than a generator-based context manager: every snapshot
    enters it (four times per test under pytest), at a third of the cost.
    """

    __slots__ = ("_old",)

    def __enter__(self) -> None:
        self._old = getattr(_local, "quiet", False)
        _local.quiet = True

    def __exit__(self, *exc: object) -> None:
        _local.quiet = self._old


# -- audit hook ---------------------------------------------------------------


_tempdir = ""


def _tempdir_child(path: str) -> bool:
    # Never tempfile.gettempdir() here: it holds a lock while it opens files,
    # and this hook runs inside those opens.  Reading the attribute is safe.
    return os.path.dirname(path) == (tempfile.tempdir or _tempdir)


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
    if getattr(_local, "opened", None) is _CLAIMING:
        # A wrapper around this call (os.open, open) learns the descriptor
        # number when the call returns and files the record under it.
        _local.opened = rec
    else:  # an open no wrapper sees (C code, io.FileIO): filed by path
        _remember_path(key, rec)
    if key is not path:
        return
    creating = bool(flags & os.O_CREAT) if isinstance(flags, int) and flags else False
    if isinstance(mode, str) and any(c in mode for c in "wax"):
        creating = True
    if creating and _tempdir_child(path) and not os.path.exists(path):
        _remember_created(path, rec)


def _on_path(args: tuple[Any, ...], suffix: str = "") -> None:
    """A C library opening a path itself (sqlite3), or a directory iterator."""
    path = args[0] if args else None
    if isinstance(path, (str, bytes, os.PathLike)) and path not in (":memory:", b":memory:", ""):
        _remember_path(os.path.abspath(os.fsdecode(path)) + suffix, _record())


def dir_key(path: str) -> str:
    """Directory opens are filed apart, so a file opened *in* it never
    takes the directory descriptor's origin."""
    return path.rstrip(os.sep) + os.sep


def _on_socket(args: tuple[Any, ...]) -> None:
    sock = args[0]
    try:
        sockets[sock] = _record()
    except TypeError:  # not weak-referenceable
        return
    # The socket is being made: its descriptor is not known yet.  Those
    # recorded before it are complete; file them by number now and then, so
    # the list stays bounded (find_socket files the rest).
    if len(_unindexed) >= _index_at:
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
    if _tempdir_child(path) and not os.path.exists(path):
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
    _epoch += 1
    if getattr(_local, "quiet", False):
        return
    try:
        handler(args)
    except Exception:  # recording must never break the watched program
        pass


# -- wrappers for creations without an audit event ------------------------------


def _fd_wrapper(orig: Callable[..., Any], fds_of: Callable[[Any], tuple[int, ...]]) -> Any:
    made_by = getattr(orig, "__name__", "")

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _epoch
        __tracebackhide__ = True  # pytest shows the caller's traceback as without leakwatch
        result = orig(*args, **kwargs)
        if _active:
            try:
                new_fds = fds_of(result)
                if new_fds:
                    _epoch += 1
                    if not getattr(_local, "quiet", False):
                        rec = _record(made_by=made_by)
                        for fd in new_fds:
                            fds[fd] = rec
            except Exception:  # recording must never break the watched program
                pass
        return result

    wrapper.__name__ = getattr(orig, "__name__", "wrapper")
    wrapper.__qualname__ = getattr(orig, "__qualname__", "wrapper")
    wrapper.__doc__ = getattr(orig, "__doc__", None)
    wrapper.__wrapped__ = orig  # type: ignore[attr-defined]
    return wrapper


_CLAIMING = object()  # in _local.opened: a wrapper waits for the open's record


class _OpenWrapper:
    """Stands in for ``os.open`` or ``open``: files the open's record by number.

    An object rather than a function: like the builtin it replaces, it never
    binds as a method (``class C: opener = open`` keeps working).  The audit
    hook records the open (the number is not known yet) and leaves the
    record in ``_local.opened``; this files it under the number returned, so
    two descriptors on one path never swap their lines.  Only opens no
    wrapper sees go to the path table.
    """

    def __init__(self, orig: Callable[..., Any], fd_of: Callable[[Any], int], module: str) -> None:
        self.__wrapped__ = orig
        self._fd_of = fd_of
        for name in ("__name__", "__qualname__", "__doc__"):
            setattr(self, name, getattr(orig, name, None))
        self.__module__ = module  # where it is installed: pickle finds it there

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # pytest shows the caller's traceback as without leakwatch
        if not _active:
            return self.__wrapped__(*args, **kwargs)
        _local.opened = _CLAIMING
        try:
            result = self.__wrapped__(*args, **kwargs)
        except BaseException:
            _local.opened = None
            raise
        rec = _local.opened
        _local.opened = None
        if rec is not _CLAIMING and rec is not None:
            try:
                fds[self._fd_of(result)] = rec
            except Exception:  # recording must never break the watched program
                pass
        return result

    def __repr__(self) -> str:
        return repr(self.__wrapped__)

    def __reduce__(self) -> str:
        return str(getattr(self.__wrapped__, "__qualname__", ""))  # by name, like the builtin


def _fileno(obj: Any) -> int:
    return int(obj.fileno())


def _one(r: Any) -> tuple[int, ...]:
    return (r,)


def _not_stdio(r: Any) -> tuple[int, ...]:
    # dup2 onto 0-2 redirects stdio (pytest's capture does it around every
    # test): not a new descriptor, and not worth a stack.
    return (r,) if r > 2 else ()


def _pair(r: Any) -> tuple[int, ...]:
    return (r[0], r[1])


class _EpollMeta(type):
    """``isinstance(x, select.epoll)`` keeps working for real epoll objects."""

    real: type

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls.real)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls.real)


def _wrap_epoll() -> None:
    found = getattr(select, "epoll", None)
    if found is None or isinstance(found, _EpollMeta):
        return
    real: Any = found

    class epoll(metaclass=_EpollMeta):
        __doc__ = real.__doc__

        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            global _epoch
            obj = real(*args, **kwargs)
            _epoch += 1
            if _recording():
                fds[obj.fileno()] = _record()
            return obj

        fromfd = staticmethod(real.fromfd)

    epoll.real = real
    select.epoll = epoll  # type: ignore[misc]
    # selectors (and so asyncio) captured the class at import time.
    selectors = sys.modules.get("selectors")
    poller = getattr(selectors, "EpollSelector", None)
    if poller is not None and getattr(poller, "_selector_cls", None) is real:
        poller._selector_cls = epoll


def _wrap_thread_start() -> None:
    orig_start = threading.Thread.start
    if getattr(orig_start, "__leakwatch__", False):
        return

    def start(self: threading.Thread) -> None:
        if _recording():
            try:
                target = getattr(self, "_target", None)
                name = getattr(target, "__qualname__", "") if target is not None else ""
                threads[self] = _record(name)
            except Exception:
                pass
        orig_start(self)

    start.__leakwatch__ = True  # type: ignore[attr-defined]
    start.__doc__ = orig_start.__doc__
    threading.Thread.start = start  # type: ignore[method-assign]

    orig_init = threading.Thread.__init__

    @functools.wraps(orig_init)
    def __init__(self: threading.Thread, *args: Any, **kwargs: Any) -> None:
        orig_init(self, *args, **kwargs)
        if _active and not getattr(_local, "quiet", False):
            try:
                thread_inits[self] = _record()
            except Exception:
                pass

    __init__.__leakwatch__ = True  # type: ignore[attr-defined]
    threading.Thread.__init__ = __init__  # type: ignore[method-assign]

    orig_new = _thread.start_new_thread

    def start_new_thread(function: Any, args: Any, kwargs: Any = None) -> int:
        if not _recording():
            return orig_new(function, args, kwargs or {})
        rec = _record(getattr(function, "__qualname__", ""))
        owner = getattr(function, "__self__", None)

        def run(*a: Any, **kw: Any) -> Any:
            tid = threading.get_native_id()
            native_threads[tid] = rec
            if owner is not None and not isinstance(owner, type):
                try:
                    native_owners[tid] = weakref.ref(owner)
                except TypeError:  # not weak-referenceable
                    pass
            return function(*a, **kw)

        return orig_new(run, args, kwargs or {})

    _thread.start_new_thread = start_new_thread


def _wrap_handover() -> None:
    """Record ``asyncio.run_coroutine_threadsafe`` hand-overs (once asyncio is imported)."""
    global _handover_wrapped
    tasks_mod = sys.modules.get("asyncio.tasks")
    if _handover_wrapped or tasks_mod is None:
        return
    _handover_wrapped = True
    orig = getattr(tasks_mod, "run_coroutine_threadsafe", None)
    if orig is None or getattr(orig, "__leakwatch__", False):
        return

    def run_coroutine_threadsafe(coro: Any, loop: Any) -> Any:
        if _recording():
            try:
                handovers[coro] = _record()
            except TypeError:  # not weak-referenceable
                pass
        return orig(coro, loop)

    run_coroutine_threadsafe.__leakwatch__ = True  # type: ignore[attr-defined]
    run_coroutine_threadsafe.__doc__ = orig.__doc__
    run_coroutine_threadsafe.__wrapped__ = orig  # type: ignore[attr-defined]
    for module in (tasks_mod, sys.modules.get("asyncio")):
        if getattr(module, "run_coroutine_threadsafe", None) is orig:
            setattr(module, "run_coroutine_threadsafe", run_coroutine_threadsafe)  # noqa: B010 - mypy: a module of unknown type


_handover_wrapped = False


def _wrap_detach() -> None:
    orig = socket.socket.detach
    if getattr(orig, "__leakwatch__", False):
        return

    @functools.wraps(orig)
    def detach(self: socket.socket) -> int:
        fd = orig(self)
        if _active:
            try:
                # The object may die now while the descriptor lives on: file
                # its record under the number.
                rec = sockets.get(self)
                if rec is not None and fd >= 0:
                    fds[fd] = replace(rec, made_by="socket")
            except Exception:
                pass
        return fd

    detach.__leakwatch__ = True  # type: ignore[attr-defined]
    socket.socket.detach = detach  # type: ignore[method-assign,assignment]


_asyncio_wrapped = False


def _wrap_asyncio() -> None:
    """Wrap ``BaseEventLoop.create_task`` once asyncio is imported (never import it)."""
    global _asyncio_wrapped
    base_events = sys.modules.get("asyncio.base_events")
    loop_cls = getattr(base_events, "BaseEventLoop", None)
    if loop_cls is None:
        return
    with _install_lock:
        _asyncio_wrapped = True
        orig = loop_cls.create_task
        if getattr(orig, "__leakwatch__", False):
            return

        @functools.wraps(orig)
        def create_task(self: Any, coro: Any, *args: Any, **kwargs: Any) -> Any:
            task = orig(self, coro, *args, **kwargs)
            if _active and not getattr(_local, "quiet", False):
                try:
                    tasks[task] = _record()
                except Exception:
                    pass
            return task

        create_task.__leakwatch__ = True  # type: ignore[attr-defined]
        loop_cls.create_task = create_task


def task_record(task: Any) -> Record | None:
    """Where ``task`` was created (by whatever path reached ``loop.create_task``)."""
    try:
        return tasks.get(task)
    except TypeError:
        return None


def install() -> None:
    """Install the hooks (once per process)."""
    global _installed, _tempdir
    with _install_lock:
        if _installed:
            return
        _tempdir = tempfile.gettempdir()
        sys.addaudithook(_audit)
        if not isinstance(os.open, _OpenWrapper):
            os.open = _OpenWrapper(os.open, int, "os")
        import builtins

        if not isinstance(builtins.open, _OpenWrapper):
            opener = _OpenWrapper(builtins.open, _fileno, "io")
            builtins.open = opener
            io.open = opener
        for name, fds_of in (
            ("pipe", _pair),
            ("pipe2", _pair),
            ("openpty", _pair),
            ("dup", _one),
            ("dup2", _not_stdio),
            ("eventfd", _one),
            ("memfd_create", _one),
        ):
            orig = getattr(os, name, None)
            if orig is not None and not hasattr(orig, "__wrapped__"):
                setattr(os, name, _fd_wrapper(orig, fds_of))
        _wrap_epoll()
        _wrap_thread_start()
        _wrap_detach()
        _installed = True


def activate() -> None:
    global _active, _epoch
    install()
    if not _handover_wrapped:
        _wrap_handover()
    if not _asyncio_wrapped:
        _wrap_asyncio()
    with _active_lock:
        if _active == 0:
            _epoch += 1  # what happened while the hooks were off was not counted
        _active += 1


def fd_epoch() -> int:
    """A number that changes whenever Python may have made a descriptor.

    The audit events and wrappers above bump it, and so does the hooks
    coming on.  C code opening a descriptor on its own does not: a caller
    relying on it must still look at the descriptor numbers.
    """
    return _epoch


def deactivate() -> None:
    global _active
    with _active_lock:
        if _active == 0:
            return
        _active -= 1
        if _active:
            return
        # Records only serve the watches that were on; drop them so a long
        # program doesn't accumulate stacks.
        fds.clear()
        paths.clear()
        created_paths.clear()
        spawns.clear()
        forks.clear()
        native_threads.clear()
        native_owners.clear()
        sockets.clear()
        threads.clear()
        handovers.clear()
        thread_inits.clear()
        tasks.clear()
        _sock_by_fd.clear()
        _unindexed.clear()


def is_recording() -> bool:
    return _active > 0


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
