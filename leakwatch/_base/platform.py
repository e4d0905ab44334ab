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
- :func:`parent_pid`, :func:`unreaped_child` -> a process's parent; whether
  it is a child of this one that exited and was never waited for.

Linux's readers of processes and threads are :mod:`leakwatch._base.linux_proc`'s.

The rest of leakwatch must not ask ``sys.platform``; this module must not
judge what it reads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from leakwatch._base import linux_proc, psutil_os
from leakwatch._base.linux_proc import read as _read

#: The calls leakwatch reads the system with, bound as leakwatch is
#: imported: a suite's patches of ``os`` (a checker of blocking calls that
#: walks the stack on each call inside an event loop, a fake file system)
#: must neither see nor slow leakwatch's looks, which run in loops too.
_listdir, _stat, _lstat, _fstat = os.listdir, os.stat, os.lstat, os.fstat
_readlink = os.readlink


LIMITS: dict[str, str] = {}
#: Where descriptors are listed (children: ``linux_proc._PROC``); a listing
#: that fails raises, so the probe using it is skipped with a note (tests
#: point these at a path that does not exist).
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


def _linux_fd_target(fd: int) -> str | None:
    try:
        return _readlink(f"{_PROC_FD}/{fd}")
    except OSError:
        return None


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
    list_children, list_native_threads = linux_proc.children, linux_proc.native_threads
    if linux_proc.counts_threads():
        count_threads = linux_proc.count_threads
    parent_pid, unreaped_child = linux_proc.parent, linux_proc.unreaped
    fd_target = _linux_fd_target
    thread_runnable = linux_proc.thread_runnable
    process_umask = linux_proc.umask
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
