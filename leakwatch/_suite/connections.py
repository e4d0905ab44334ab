"""This process's own TCP connections: which end belongs with which.

A wider fixture's server accepts the test's connection in its own thread and
closes its end only when it sees the client go, maybe after the test is
over; a session-scoped keep-alive client holds its end across tests.  The two
ends of one connection share an owner, and the client's end (or the
listener the server end was accepted from) says whose.  Must not judge:
``fixture_spans`` decides.
"""

from __future__ import annotations

from typing import Any


class Connections:
    """This process's TCP connections and listeners, read once (psutil):
    the other end of a connection made here, and the listener a connection
    was accepted from."""

    def __init__(self) -> None:
        try:
            import psutil

            conns = psutil.Process().net_connections(kind="inet")
        except Exception:
            conns = []
        self.by_fd = {c.fd: c for c in conns if c.fd >= 0}
        self._by_ends = {(c.laddr, c.raddr): c.fd for c in conns if c.raddr and c.fd >= 0}
        self._listeners = {
            (c.laddr.ip, c.laddr.port): c.fd for c in conns if c.status == "LISTEN" and c.fd >= 0
        }

    def peer(self, fd: int) -> int | None:
        """The descriptor of the other end, when this process holds it."""
        c = self.by_fd.get(fd)
        return self._by_ends.get((c.raddr, c.laddr)) if c is not None and c.raddr else None

    def listener(self, fd: int) -> int | None:
        """The listening descriptor a connection was accepted from, if it is ours."""
        c = self.by_fd.get(fd)
        return self._listening_at(c.laddr) if c is not None and c.raddr else None

    def server(self, fd: int) -> int | None:
        """The listening descriptor of ours a connection was made to (its
        other end may be closed already)."""
        c = self.by_fd.get(fd)
        return self._listening_at(c.raddr) if c is not None and c.raddr else None

    def _listening_at(self, addr: Any) -> int | None:
        for any_ip in (addr.ip, "0.0.0.0", "::"):
            found = self._listeners.get((any_ip, addr.port))
            if found is not None:
                return found
        return None
