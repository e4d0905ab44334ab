"""What Linux's ``/proc`` says of this process's children and threads.

:mod:`leakwatch._base.platform` picks these where ``/proc`` is there (as it
picks :mod:`leakwatch._base.psutil_os`'s elsewhere); nothing else imports
them.  Each reads a file or two, with the calls bound as leakwatch is
imported (see ``platform``), and never judges what it reads.
"""

from __future__ import annotations

import os
import sys

#: Bound at import: a suite's patches of ``os`` must neither see nor slow these.
_listdir, _stat, _waitid = os.listdir, os.stat, getattr(os, "waitid", None)
_open, _read_fd, _close = os.open, os.read, os.close
_PROC = "/proc"


def read(path: str) -> bytes:
    """A small file's bytes (``/proc``'s), with no file object: the builtin
    ``open`` is recorded while a watch is on, and costs ten times more."""
    fd = _open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks = [_read_fd(fd, 65536)]
        while chunks[-1]:
            chunks.append(_read_fd(fd, 65536))
        return b"".join(chunks)
    finally:
        _close(fd)


#: ``__WALL`` (not in ``os``): clone children too, as the /proc children lists show them.
_WALL = 0x40000000
_ANY_CHILD = (
    (os.WEXITED | os.WNOHANG | os.WNOWAIT | _WALL) if sys.platform.startswith("linux") else 0
)


def _has_children() -> bool:
    """Whether any thread of this process has a child, exited or not: one syscall.

    ``WNOWAIT`` leaves an exited child unreaped; ``WNOHANG`` never blocks.
    """
    try:
        _waitid(os.P_ALL, 0, _ANY_CHILD)  # type: ignore[misc]
    except ChildProcessError:
        return False
    except OSError:  # EINVAL: waitid without __WALL (Linux < 4.7): look the long way
        return True
    return True


def children() -> dict[int, int]:
    """Children of every thread of this process, recursively, with start ticks."""
    out: dict[int, int] = {}
    if not _has_children():
        # Most snapshots (every phase of every test) are of a process with no
        # children: skip reading a children file per thread.
        return out
    me = os.getpid()
    todo = [me]
    while todo:
        pid = todo.pop()
        try:
            tids = _listdir(f"{_PROC}/{pid}/task")
        except OSError:
            if pid == me:
                raise  # /proc unreadable: say so, rather than see no children
            continue
        for tid in tids:
            try:
                kids = [int(p) for p in read(f"{_PROC}/{pid}/task/{tid}/children").split()]
            except (OSError, ValueError):
                continue
            for kid in kids:
                if kid not in out:
                    out[kid] = _start_ticks(kid)
                    todo.append(kid)
    return out


def _stat_field(pid: int, index: int) -> bytes:
    """Field ``index`` of ``/proc/<pid>/stat`` after the command's name (0:
    the state, 1: the parent, 19: the start ticks); b"" if unreadable."""
    try:
        return read(f"/proc/{pid}/stat").rsplit(b")", 1)[1].split()[index]
    except (OSError, IndexError):
        return b""


def _start_ticks(pid: int) -> int:
    return int(_stat_field(pid, 19) or 0)


def parent(pid: int) -> int | None:
    ppid = _stat_field(pid, 1)
    return int(ppid) if ppid else None


def unreaped(pid: int) -> bool:
    return _stat_field(pid, 0) == b"Z" and parent(pid) == os.getpid()


def count_threads() -> int:
    """``/proc/self/task``'s link count less its own two: one ``stat``."""
    return _stat("/proc/self/task").st_nlink - 2


def counts_threads() -> bool:
    try:  # a thread started meanwhile: not used, the listing still is
        return count_threads() == len(_listdir("/proc/self/task"))
    except OSError:
        return False


def native_threads() -> set[int]:
    try:
        return {int(t) for t in _listdir("/proc/self/task")}
    except OSError:
        return set()


def thread_runnable(native_id: int) -> bool | None:
    try:
        stat = read(f"/proc/self/task/{native_id}/stat")
        state = stat[stat.rindex(b")") + 2 :][:1]  # after "pid (comm) "
    except (OSError, ValueError):
        return None
    return state in (b"R", b"D")  # running or ready; in I/O that ends by itself


def umask() -> str | None:
    umask = [
        ln.split()[1] for ln in read("/proc/self/status").splitlines() if ln.startswith(b"Umask:")
    ]
    return umask[0].decode() if umask else None  # no Umask line before Linux 4.7
