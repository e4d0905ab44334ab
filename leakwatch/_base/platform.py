"""What the operating system can tell us, one function per probe, chosen once.

Linux reads /proc directly (cheap and exact).  Elsewhere psutil answers what
it can, and each function says what it cannot see through :data:`LIMITS`, so
reports on macOS and Windows degrade visibly instead of silently.

- :func:`list_fds` -> {fd: target}: "socket:[ino]", "pipe:[ino]",
  "anon_inode:[eventpoll]", or a path.
- :func:`list_fd_numbers` -> the open descriptor numbers alone (None: not here).
- :func:`count_fds` -> how many descriptors are open, one ``stat`` (None: not here).
- :func:`fd_flags` -> the open flags of one descriptor, or None.
- :func:`list_children` -> {pid: start time}, direct and indirect children.
- :func:`list_native_threads` -> native thread ids of this process.
- :func:`count_threads` -> how many threads it has, one ``stat`` (None: not here).
- :func:`path_stat`, :func:`path_exists`, :func:`list_dir`: ``os``'s, unpatched.
- :func:`thread_runnable` -> whether a native thread of this process is
  running, ready to run or in I/O that ends by itself (None: not known).
- :func:`process_umask` -> the umask as /proc shows it (None: not known).

The rest of leakwatch must not ask ``sys.platform``; this module must not
judge what it reads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from leakwatch._base import psutil_os

#: The calls leakwatch reads the system with, bound as leakwatch is
#: imported: a suite's patches of ``os`` (a checker of blocking calls that
#: walks the stack on each call inside an event loop, a fake file system)
#: must neither see nor slow leakwatch's looks, which run in loops too.
_listdir, _stat, _lstat, _fstat = os.listdir, os.stat, os.lstat, os.fstat
_readlink, _waitid = os.readlink, getattr(os, "waitid", None)
_open, _read_fd, _close = os.open, os.read, os.close


def _read(path: str) -> bytes:
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


LIMITS: dict[str, str] = {}
#: Where /proc is read; a listing that fails raises, so the probe using it is
#: skipped with a note (tests point these at a path that does not exist).
_PROC = "/proc"
_PROC_FD = "/proc/self/fd"
HAVE_PROC = os.path.isdir(_PROC_FD) and sys.platform.startswith("linux")


#: fd -> (device, inode, link target) from the last listing.  A descriptor
#: whose inode is unchanged still has the target read then, so a listing
#: costs one fstat per descriptor and a readlink only for new ones.  The
#: inode is what the target names ("socket:[ino]", "pipe:[ino]", a file's
#: path), so this is as exact as reading every link, and a file renamed or
#: deleted while open keeps its first key.  With it, that listing's answer,
#: given again (the same dict) while it holds.  One tuple, replaced whole: a
#: reader never pairs one listing's inodes with another's answer.
_fd_last: tuple[dict[int, tuple[int, int, str]], dict[int, str]] = ({}, {})


def _linux_fds() -> dict[int, str]:
    """{fd: link target} of every open descriptor.

    Where the kernel counts them, the last answer again when as many are
    open as it listed and each of its numbers still has the same device and
    inode (one ``stat`` and one ``fstat`` a descriptor; no listing): every
    number open is then one it listed, behind the same file.  A number closed
    and opened again, by any code, changes the inode; one opened beside the
    others changes the count.  Else a full listing.
    """
    known, answer = _fd_last
    if count_fds is not None and known:
        try:
            if count_fds() == len(known):
                fstat = _fstat
                for fd, (dev, ino, _target) in known.items():
                    st = fstat(fd)
                    if st.st_ino != ino or st.st_dev != dev:
                        break
                else:
                    return answer
        except OSError:  # one of them closed meanwhile: the listing says which
            pass
    return _linux_list_fds()


def _linux_list_fds() -> dict[int, str]:
    global _fd_last
    out: dict[int, str] = {}
    known = _fd_last[0]
    seen: dict[int, tuple[int, int, str]] = {}
    fstat, readlink = _fstat, _readlink
    for name in _listdir(_PROC_FD):
        fd = int(name)
        try:
            st = fstat(fd)
        except OSError:  # the listing's own descriptor, already closed
            continue
        entry = known.get(fd)
        if entry is None or entry[1] != st.st_ino or entry[0] != st.st_dev:
            try:
                target = readlink(f"{_PROC_FD}/{name}")
            except OSError:  # closed meanwhile
                continue
            if target.startswith("/proc/") and target.endswith("/fd"):
                continue  # a listing of this very directory, in another thread
            entry = (st.st_dev, st.st_ino, target)
        seen[fd] = entry
        out[fd] = entry[2]
    _fd_last = (seen, out)
    return out


def _linux_fd_numbers() -> set[int]:
    """The open descriptor numbers, without reading a link: one listdir.

    The listing's own descriptor is left out: it takes the lowest free
    number, the very number the next descriptor C code opens would get, so
    keeping it would place that descriptor in a window it was not made in.
    It is closed by the time this looks: a number the last full listing did
    not find open is checked with one ``fstat`` (usually that one alone).
    Only a full listing says which numbers are open: were this one to learn
    its own numbers, the listing's descriptor would stay "open" for good once
    a descriptor under that number closed (every later listing takes it),
    and every window mark would look again in full.
    """
    numbers = {int(name) for name in _listdir(_PROC_FD)}
    for fd in numbers.difference(_fd_last[0]):  # those the last full listing did not find
        try:
            _fstat(fd)
        except OSError:  # the listing's own descriptor, closed
            numbers.discard(fd)
    return numbers


def _linux_count_fds() -> int:
    """How many descriptors are open: ``/proc/self/fd``'s size (Linux 6.2+)."""
    return _stat(_PROC_FD).st_size


def _counts_fds() -> bool:
    """Whether ``/proc/self/fd``'s size counts the open descriptors (older
    kernels say 0).  A listing opens one of its own; a count another thread
    opening descriptors disturbs is not used (the listing still is)."""
    try:
        count = _linux_count_fds()
        listed = len(_listdir(_PROC_FD))
    except OSError:
        return False
    return count > 0 and count == listed - 1


def _linux_flags(fd: int) -> int | None:
    try:
        for line in _read(f"/proc/self/fdinfo/{fd}").splitlines():
            if line.startswith(b"flags:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        return None
    return None


#: ``__WALL`` (not in ``os``): clone children too, as the /proc children lists show them.
_WALL = 0x40000000
_ANY_CHILD = (os.WEXITED | os.WNOHANG | os.WNOWAIT | _WALL) if HAVE_PROC else 0


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


def _linux_children() -> dict[int, int]:
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
                kids = [int(p) for p in _read(f"{_PROC}/{pid}/task/{tid}/children").split()]
            except (OSError, ValueError):
                continue
            for kid in kids:
                if kid not in out:
                    out[kid] = _start_ticks(kid)
                    todo.append(kid)
    return out


def _start_ticks(pid: int) -> int:
    try:
        stat = _read(f"/proc/{pid}/stat")
        return int(stat.rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return 0


def _linux_fd_target(fd: int) -> str | None:
    try:
        return _readlink(f"{_PROC_FD}/{fd}")
    except OSError:
        return None


def _linux_parent(pid: int) -> int | None:
    try:
        stat = _read(f"/proc/{pid}/stat")
        return int(stat.rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _linux_unreaped(pid: int) -> bool:
    try:
        stat = _read(f"/proc/{pid}/stat")
        state, ppid = stat.rsplit(b")", 1)[1].split()[:2]
        return state == b"Z" and int(ppid) == os.getpid()
    except (OSError, ValueError):
        return False


def _linux_count_threads() -> int:
    """``/proc/self/task``'s link count less its own two: one ``stat``."""
    return _stat("/proc/self/task").st_nlink - 2


def _counts_threads() -> bool:
    try:  # a thread started meanwhile: not used, the listing still is
        return _linux_count_threads() == len(_listdir("/proc/self/task"))
    except OSError:
        return False


def _linux_native_threads() -> set[int]:
    try:
        return {int(t) for t in _listdir("/proc/self/task")}
    except OSError:
        return set()


def _linux_thread_runnable(native_id: int) -> bool | None:
    try:
        stat = _read(f"/proc/self/task/{native_id}/stat")
        state = stat[stat.rindex(b")") + 2 :][:1]  # after "pid (comm) "
    except (OSError, ValueError):
        return None
    return state in (b"R", b"D")  # running or ready; in I/O that ends by itself


def _linux_umask() -> str | None:
    umask = [
        ln.split()[1] for ln in _read("/proc/self/status").splitlines() if ln.startswith(b"Umask:")
    ]
    return umask[0].decode() if umask else None  # no Umask line before Linux 4.7


def path_stat(path: str, *, follow: bool = True) -> os.stat_result | None:
    """``os.stat`` (``os.lstat``: ``follow=False``) of a path; None if it fails."""
    try:
        return _stat(path) if follow else _lstat(path)
    except (OSError, ValueError):
        return None


def path_exists(path: str, *, follow: bool = False) -> bool:
    """``os.path.lexists`` (``os.path.exists``: ``follow=True``)."""
    return path_stat(path, follow=follow) is not None


def list_dir(path: str) -> list[str] | None:
    """``os.listdir``; None if it fails."""
    try:
        return _listdir(path)
    except (OSError, ValueError):
        return None


list_fds: Callable[[], dict[int, str]]
#: Descriptor numbers alone, or None where only :func:`list_fds` can answer.
list_fd_numbers: Callable[[], set[int]] | None = None
#: How many descriptors are open, or None where only a listing can say.
count_fds: Callable[[], int] | None = None
fd_flags: Callable[[int], int | None]
list_children: Callable[[], dict[int, int]]
list_native_threads: Callable[[], set[int]]
#: How many threads this process has, or None where only a listing can say.
count_threads: Callable[[], int] | None = None
#: Whether native thread ``native_id`` is running, waiting only for a CPU or
#: in uninterruptible I/O (not waiting to be woken); None where not known.
thread_runnable: Callable[[int], bool | None] = lambda native_id: None  # noqa: E731
#: The parent process id of ``pid`` (None: gone, or not readable).
parent_pid: Callable[[int], int | None]
#: Whether ``pid`` is this process's child that exited and was never waited
#: for (a zombie): it ends only when this process reaps it.
unreaped_child: Callable[[int], bool]
#: What descriptor ``fd`` is, as :data:`list_fds` names it (``"socket:[ino]"``);
#: None where that cannot be read for one descriptor.
fd_target: Callable[[int], str | None] = lambda fd: None  # noqa: E731
#: The umask (``os.umask()`` reads only by setting it, racing other threads).
process_umask: Callable[[], str | None] = lambda: None  # noqa: E731

if HAVE_PROC:
    list_fds, fd_flags = _linux_fds, _linux_flags
    list_fd_numbers = _linux_fd_numbers
    if _counts_fds():
        count_fds = _linux_count_fds
    list_children, list_native_threads = _linux_children, _linux_native_threads
    if _counts_threads():
        count_threads = _linux_count_threads
    parent_pid, unreaped_child = _linux_parent, _linux_unreaped
    fd_target = _linux_fd_target
    thread_runnable = _linux_thread_runnable
    process_umask = _linux_umask
else:
    list_children, list_native_threads = psutil_os.children, psutil_os.native_threads
    parent_pid, unreaped_child = psutil_os.parent, psutil_os.unreaped
    fd_flags = lambda fd: None  # noqa: E731 - no fdinfo outside Linux
    if sys.platform == "win32":
        list_fds = psutil_os.no_fds
        LIMITS["fd"] = (
            "descriptors are not listed on Windows (no per-handle table); fd leaks are not seen"
        )
    else:
        list_fds = psutil_os.fds
        LIMITS["fd"] = (
            f"on {sys.platform} only files and sockets are listed (psutil); "
            "pipes and other descriptors are not seen"
        )
