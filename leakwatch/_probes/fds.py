"""Open file descriptors: files, sockets, pipes, epoll/eventfd/inotify, devices.

Keyed by (fd number, link target): the target names the inode for sockets
and pipes, so a descriptor closed and another opened under the same number
is a different key.

Like every probe, it lists and describes; it must not judge.
"""

from __future__ import annotations

import os
import socket
import stat
import weakref
from collections.abc import Hashable
from typing import Any

from leakwatch._attribution import recording as _recording
from leakwatch._attribution import records as _records
from leakwatch._attribution.stacks import thread_name, to_origin
from leakwatch._base import platform as _platform
from leakwatch._base.model import Resource
from leakwatch._base.platform import LIMITS, fd_flags, list_fds
from leakwatch._probes.fd_records import _fd_holders, record_of
from leakwatch._probes.protocol import Probe, Snapshot

_ANON = {
    "[eventpoll]": "epoll",
    "[eventfd]": "eventfd",
    "inotify": "inotify",
    "[signalfd]": "signalfd",
    "[timerfd]": "timerfd",
    "[pidfd]": "pidfd",
    "[io_uring]": "io_uring",
}


def classify(target: str, fd: int | None = None) -> str:
    """The descriptor's type, from its link target and, for paths, its stat mode.

    A path says nothing of the type (``/dev/shm/x`` is a regular file), so
    ``fd`` is asked with ``fstat``: character and block devices are
    ``device``, directories ``dir``, FIFOs ``fifo``, regular files ``file``.
    """
    if target.startswith("socket:"):
        return "socket"
    if target.startswith("pipe:"):
        return "pipe"
    if target.startswith("anon_inode:"):
        return _ANON.get(target[len("anon_inode:") :], "other")
    if target.startswith("/memfd:"):
        return "memfd"
    if target.startswith("/"):
        mode = _stat_mode(fd, target)
        if mode is None:
            return "file"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            return "device"
        if stat.S_ISDIR(mode):
            return "dir"
        if stat.S_ISFIFO(mode):
            return "fifo"
        return "file"
    return "other"


def _stat_mode(fd: int | None, target: str) -> int | None:
    try:
        return os.fstat(fd).st_mode if fd is not None else os.stat(target).st_mode
    except (OSError, ValueError):
        return None


def _mode(flags: int | None) -> str:
    if flags is None:
        return ""
    access = flags & 0o3
    mode = {os.O_RDONLY: "r", os.O_WRONLY: "w", os.O_RDWR: "rw"}.get(access, "?")
    if flags & os.O_APPEND:
        mode += "+append"
    return mode


def _addr(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in str(host) else f"{host}:{addr[1]}"
    if isinstance(addr, bytes):
        addr = addr.decode(errors="replace")
    return str(addr) if addr else ""


def _socket_info(fd: int, sock: Any) -> dict[str, Any]:
    info: dict[str, Any] = {}
    borrowed = None
    try:
        if sock is None:
            # Borrow the descriptor to ask the kernel; detach so it is never closed.
            with _recording.quiet():
                borrowed = sock = socket.socket(fileno=fd)
        info["family"] = getattr(sock.family, "name", str(sock.family))
        info["socktype"] = getattr(sock.type, "name", str(sock.type))
        for key, getter in (("laddr", sock.getsockname), ("raddr", sock.getpeername)):
            try:
                info[key] = _addr(getter())
            except OSError:
                info[key] = ""
    except OSError:
        pass
    finally:
        if borrowed is not None:
            borrowed.detach()
    return info


def _socket_title(fd: int, info: dict[str, Any]) -> str:
    laddr, raddr = info.get("laddr", ""), info.get("raddr", "")
    if laddr in ("0.0.0.0:0", "[::]:0"):
        laddr = ""  # never bound
    unix = info.get("family") == "AF_UNIX"
    kind = "unix socket" if unix else "socket"
    if info.get("socktype") == "SOCK_DGRAM" and not unix:
        kind = "udp socket"
    if laddr and raddr:
        return f"{kind} {laddr} -> {raddr} (fd {fd})"
    if raddr:
        return f"{kind} -> {raddr} (fd {fd})"
    if laddr:
        verb = "bound to" if info.get("socktype") == "SOCK_DGRAM" else "on"
        return f"{kind} {verb} {laddr} (fd {fd})"
    if unix:
        return f"{kind} (unnamed, e.g. socketpair) (fd {fd})"
    return f"{kind} {info.get('family', '?')}, not connected (fd {fd})"


def _maker(rec: _records.Record) -> str:
    """The name of the thread that made ``rec``'s descriptor, "" if unknown.

    Only asked for what another thread made (``rec.parent``); a thread that
    has ended is still found while its Thread object lives.
    """
    if not rec.parent:
        return ""
    try:
        started = list(_records.threads.keys())
    except RuntimeError:  # another thread changed the table meanwhile
        started = []
    return thread_name(rec.thread, started)


def _no_origin_note() -> str:
    if not _recording.is_recording():
        return "creation stacks were off for this watch (origins=False)"
    return (
        "no creation stack: it was opened while leakwatch watched, but not by a call "
        "leakwatch records (open, os.open, sockets, os.pipe, os.dup, select.epoll, ...): "
        "C code opened it, or a call leakwatch does not hook"
    )


#: Descriptors leakwatch's helpers opened for good, (fd, target) -> why: memray's
#: unwinder keeps a pipe open once it has run (leakwatch._native.memray_stacks).
OWN: dict[Hashable, str] = {}


#: The last full look at the descriptors, whichever probe took it: the
#: snapshot, its numbers, the creation epoch read just before it and the
#: listing it was made from.  One tuple, replaced whole: another thread's
#: look never mixes into a read.
_LAST: tuple[Snapshot, frozenset[int], int, dict[int, str]] | None = None


class FdProbe(Probe):
    kind = "fd"
    released_by_others = True  # once gc passes ran, only other code closes one

    def __init__(self) -> None:
        #: fd -> its standard-library holder, with the creation epoch and
        #: the numbers open when it was looked up: a heap walk, done again
        #: only when either changed (settling and describing share one).
        self._holders: tuple[dict[int, weakref.ref[Any]], int, frozenset[int] | None] | None = None

    def snapshot(self) -> Snapshot:
        global _LAST
        epoch = _recording._epoch  # before looking: a creation meanwhile changes it
        listed, last = list_fds(), _LAST
        if last is not None and last[3] is listed:  # the platform's answer again
            _LAST = (last[0], last[1], epoch, listed)
            return last[0]
        snap: dict[Hashable, Any] = {(fd, target): fd for fd, target in listed.items()}
        _LAST = (snap, frozenset(snap.values()), epoch, listed)
        return snap

    #: Whether :meth:`mark` may trust a count where it would list numbers:
    #: set on the probe of a watch that starts right after another's last
    #: full look with none of the user's code run in between (a test's,
    #: under a runner), and by the marks that close a test's own phases.
    light = False

    def mark(self) -> Snapshot:
        """A snapshot good enough to say which window held a descriptor, and
        the look a watch starts with.

        The last full look (any probe's) again when Python made no
        descriptor since and the same numbers are open (one listdir); else a
        full one.  Under pytest a test's first look is so the previous test's
        last.  A descriptor C code closed and reopened under the same number
        in between (another thread's, with no Python call) is then seen a
        window late, or charged to the watch that starts: never hidden, as
        the last look of a watch is a full one.

        A :attr:`light` probe asks only how many are open (one ``stat``,
        where the kernel says): C code opening one number while another
        closes, in one window, is then likewise seen a window late.
        """
        last = _LAST
        if last is None or not _recording._active:
            return self.snapshot()
        snap, open_then, epoch, _listed = last
        if epoch != _recording._epoch:
            return self.snapshot()
        count, numbers = _platform.count_fds, _platform.list_fd_numbers
        if self.light and count is not None:
            same = count() == len(open_then)
        elif numbers is not None:
            same = numbers() == open_then
        else:
            same = False
        return snap if same else self.snapshot()

    def is_new(self, key: Hashable, value: Any, before: Snapshot) -> bool:
        if key in before:
            return False
        # A standard stream open before is not new when it points elsewhere:
        # output capture (pytest's, a daemon's redirect) swaps it with dup2
        # and back, and a session judged while capture was suspended would
        # see it "opened".  Closed before, its number is anyone's.
        return value > 2 or not any(fd == value for fd in before.values())

    def settle(self, new: Snapshot, timeout: float) -> None:
        return None

    def describe(self, key: Hashable, value: Any, since: int) -> Resource:
        fd: int = value
        target: str = key[1]  # type: ignore[index]
        ftype = classify(target, fd)
        details: dict[str, Any] = {"fd": fd, "type": ftype, "target": target}
        rec = record_of(fd, target, ftype, since)
        if ftype == "socket":
            found = _records.find_socket(fd)
            sock = found[0] if found is not None else None
            details.update(_socket_info(fd, sock))
            del sock, found
            title = _socket_title(fd, details)
        elif ftype in ("file", "dir", "device", "memfd", "fifo"):
            details["path"] = target
            mode = _mode(fd_flags(fd))
            if mode:
                details["mode"] = mode
            title = f"{ftype} {target} (fd {fd}{', mode ' + mode if mode else ''})"
        elif ftype == "pipe":
            end = {"r": "read end", "w": "write end"}.get(_mode(fd_flags(fd)), "")
            details["end"] = end
            # The end goes in the fd clause, so a group of both ends is titled
            # "pipe [123] (fds 5, 6; read end and write end)".
            title = f"pipe {target[5:]} (fd {fd}{', ' + end if end else ''})"
        else:
            title = f"{ftype} (fd {fd})" if ftype != "other" else f"{target} (fd {fd})"
        origin = to_origin(rec.stack, rec.parent, _maker(rec)) if rec is not None else ()
        if rec is None:
            title += ", creation not seen"
            details["origin_note"] = _no_origin_note()
        if "fd" in LIMITS:
            details["platform_note"] = LIMITS["fd"]
        if key in OWN:
            details["benign"] = OWN[key]
        return Resource("fd", key, title, origin, details, group=ftype)

    def creation(self, key: Hashable, value: Any, since: int) -> _records.Record | None:
        """How the descriptor was opened (when, by which thread), if seen."""
        target: str = key[1]  # type: ignore[index]
        return record_of(value, target, classify(target, value), since)

    def recorded(self) -> list[_records.Record]:
        """Every record :meth:`creation` may return: by number, by socket, by path."""
        found = _records.values_of(_records.fds) + _records.values_of(_records.sockets)
        for bucket in _records.values_of(_records.paths):
            found.extend(bucket)
        return found

    def owner(self, key: Hashable, value: Any) -> Any:
        """The object that owns a leaked descriptor: its socket, when recorded,
        else a file, selector or connection object of the standard library
        whose ``fileno()`` it is (looked up once per batch of leftovers)."""
        found = _records.find_socket(value)
        if found is not None:
            return found[0]
        if _records.detached(value, key[1]) is not None:  # type: ignore[index]
            return None  # a detached socket's descriptor: nothing holds it (no heap walk)
        ref = self._holder(value, fresh=False)
        held = ref() if ref is not None else None
        if ref is not None and held is None:
            # The holder seen is gone, the descriptor is not: another may hold it now.
            ref = self._holder(value, fresh=True)
            held = ref() if ref is not None else None
        return held

    def _holder(self, fd: int, *, fresh: bool) -> weakref.ref[Any] | None:
        """The weak reference to ``fd``'s holder, from the last heap walk
        while the same numbers are open (the last look's) and Python made no
        descriptor since (a socket or file made over an existing number is a
        creation the hooks see), else a new walk."""
        epoch, last = _recording._epoch, _LAST
        numbers = last[1] if last is not None else None
        held = self._holders
        if fresh or held is None or held[1] != epoch or numbers is None or held[2] != numbers:
            held = self._holders = (_fd_holders(), epoch, numbers)
        return held[0].get(fd)
