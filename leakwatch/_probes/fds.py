"""Open file descriptors: files, sockets, pipes, epoll/eventfd/inotify, devices.

Keyed by (fd number, link target): the target names the inode for sockets
and pipes, so a descriptor closed and another opened under the same number
is a different key.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Hashable
from typing import Any

from leakwatch import _origins, _platform
from leakwatch._model import Resource
from leakwatch._platform import LIMITS, fd_flags, list_fds
from leakwatch._probes import Snapshot
from leakwatch._stacks import to_origin

_ANON = {
    "[eventpoll]": "epoll",
    "[eventfd]": "eventfd",
    "inotify": "inotify",
    "[signalfd]": "signalfd",
    "[timerfd]": "timerfd",
    "[pidfd]": "pidfd",
    "[io_uring]": "io_uring",
}


def classify(target: str) -> str:
    if target.startswith("socket:"):
        return "socket"
    if target.startswith("pipe:"):
        return "pipe"
    if target.startswith("anon_inode:"):
        return _ANON.get(target[len("anon_inode:") :], "other")
    if target.startswith("/dev/"):
        return "device"
    if target.startswith("/memfd:"):
        return "memfd"
    if target.startswith("/"):
        return "dir" if os.path.isdir(target) else "file"
    return "other"


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
            with _origins.quiet():
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


#: Descriptors leakwatch's helpers opened for good, (fd, target) -> why: memray's
#: unwinder keeps a pipe open once it has run (leakwatch._native.stacks).
OWN: dict[Hashable, str] = {}


class FdProbe:
    kind = "fd"

    def __init__(self) -> None:
        self._last: Snapshot | None = None
        self._numbers: frozenset[int] = frozenset()
        self._epoch = -1

    def snapshot(self) -> Snapshot:
        epoch = _origins.fd_epoch()  # before looking: a creation meanwhile changes it
        snap: dict[Hashable, Any] = {(fd, target): fd for fd, target in list_fds().items()}
        self._last, self._epoch = snap, epoch
        self._numbers = frozenset(snap.values())
        return snap

    def mark(self) -> Snapshot:
        """A snapshot good enough to say which window held a descriptor.

        The last full snapshot again when the same numbers are open and
        Python made no descriptor since (one listdir); else a full one.  A
        descriptor C code closed and reopened under the same number in
        between is then seen a window late: only its phase can be off,
        never whether it leaked (the first and last looks are full ones).
        """
        numbers = _platform.list_fd_numbers
        last = self._last
        if numbers is None or last is None or not _origins.is_recording():
            return self.snapshot()
        if self._epoch == _origins.fd_epoch():
            now = numbers()
            # One more number than last time: the listing's own descriptor.
            if len(now) == len(self._numbers) + 1 and self._numbers <= now:
                return last
        return self.snapshot()

    def is_new(self, key: Hashable, value: Any, before: Snapshot) -> bool:
        return key not in before

    def settle(self, new: Snapshot, timeout: float) -> None:
        return None

    def describe(self, key: Hashable, value: Any, since: int) -> Resource:
        fd: int = value
        target: str = key[1]  # type: ignore[index]
        ftype = classify(target)
        details: dict[str, Any] = {"fd": fd, "type": ftype}
        rec = _origins.fds.get(fd)
        if rec is not None and rec.serial <= since:
            rec = None
        sock = None
        if ftype == "socket":
            found = _origins.find_socket(fd)
            if found is not None:
                sock = found[0]
                if rec is None and found[1].serial > since:
                    rec = found[1]
            details.update(_socket_info(fd, sock))
            del sock
            title = _socket_title(fd, details)
        elif ftype in ("file", "dir", "device", "memfd"):
            details["path"] = target
            mode = _mode(fd_flags(fd))
            if mode:
                details["mode"] = mode
            if rec is None and ftype == "dir":
                rec = _origins.latest_path_record(_origins.dir_key(target), since)
            if rec is None:
                rec = _origins.latest_path_record(target.removesuffix(" (deleted)"), since)
            title = f"{ftype} {target} (fd {fd}{', mode ' + mode if mode else ''})"
        elif ftype == "pipe":
            end = {"r": "read end", "w": "write end"}.get(_mode(fd_flags(fd)), "")
            details["end"] = end
            title = f"pipe {end} {target[5:]} (fd {fd})".replace("  ", " ")
        else:
            title = f"{ftype} (fd {fd})" if ftype != "other" else f"{target} (fd {fd})"
        origin = to_origin(rec.stack, rec.parent) if rec is not None else ()
        if rec is None:
            title += ", creation not seen"
            details["origin_note"] = (
                "no creation stack: opened outside a watched block, "
                "or by C code leakwatch cannot see"
            )
        if "fd" in LIMITS:
            details["platform_note"] = LIMITS["fd"]
        if key in OWN:
            details["benign"] = OWN[key]
        return Resource("fd", key, title, origin, details, group=ftype)

    def owner(self, key: Hashable, value: Any) -> Any:
        """The socket object that owns a leaked descriptor, when recorded."""
        found = _origins.find_socket(value)
        return found[0] if found is not None else None
