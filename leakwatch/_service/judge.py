"""The judge: what each sampled request left alive, found off the request's path.

A sampled request gets a tag (``tags.request_tag``, a context variable
that follows into tasks and ``asyncio.to_thread``; a thread the request
starts passes it on to what it makes).  While any sampled request is in
flight or waiting to be judged, creation recording is on for sampled
requests' creations only (``tag_only``: another request's creation costs a
context variable's read); when none is, recording goes back off (unless a
watch or the debug pages keep it on) and costs nothing.

When a request's response is done, :meth:`Monitor.end` queues it; a
background thread (``leakwatch-service-judge``) waits :data:`SETTLE`
seconds, then, for every request whose settle is over -- one batch, one
look at each probe -- finds the live resources whose creation record
carries the request's tag.  Those are the request's leftovers.  A gc pass
runs only when there are some, and they are looked at again after it.  What
was made without any of the user's code on the stack (a server's worker
thread started by the first request that needed it) is the server's
machinery, not the request's, and is not charged.

The probes are used generically: any kind ``all_probes()`` has whose probe
can say where a resource was made (``creation``) is judged.  A probe that
fails is left out of that batch; the host never sees the error.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections import deque
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

from leakwatch._attribution import origins as _origins
from leakwatch._attribution import recording as _recording
from leakwatch._attribution import records as _records
from leakwatch._attribution.tags import forget_ended_threads
from leakwatch._base.model import Resource, group_resources
from leakwatch._engine.collect import collect
from leakwatch._engine.snapshot import OWN_IO
from leakwatch._probes import all_probes
from leakwatch._probes.protocol import Probe
from leakwatch._probes.threads import INTERNAL_PREFIX
from leakwatch._service.charges import entry_of, made_by_user, shared_pool
from leakwatch._service.ledger import Ledger
from leakwatch._service.pages import _snapshot
from leakwatch._service.routes import route_of

#: Seconds after a response before its request is judged: a thread or task
#: that finishes a moment later is not a leak.
SETTLE = 0.5

#: Requests waiting to be judged, at most; past it a sampled request is served
#: unwatched (the judge is behind: the cost stays bounded).
MAX_PENDING = 10_000

#: Seconds between two batches, at least: the judge's cost stays bounded
#: (one look at each probe per batch) however many requests are sampled.
BATCH_EVERY = 1.0

#: The judge's thread ends after this many idle seconds (and starts again on need).
IDLE_EXIT = 5.0

#: Seconds between two looks for work of an idle judge, at least (it looks
#: every :data:`SETTLE` seconds: nothing wakes it).
IDLE_POLL = 0.05

JUDGE_THREAD = INTERNAL_PREFIX + "service-judge"


class Pending(NamedTuple):
    """A request whose response is done, waiting to be judged (a tuple: cheap to make)."""

    tag: int
    since: int  # the creation serial when the request began
    method: str
    route: str
    ended: float  # time.monotonic() when its response was done
    #: The stack below the middleware (the server's): see ``charges.made_by_user``.
    entry: tuple[Any, ...] = ()
    #: What the route is named from when ``route`` is empty (an ASGI request's:
    #: ``routes.asgi_route_parts``), named in the judge's thread.
    parts: Any = None


class Ticket:
    """One sampled request in flight: what the middleware hands back at its end.
    Queued itself once its response is done (``ended`` set): it has every
    field of a :class:`Pending`, and the request's path makes no other."""

    __slots__ = ("ended", "entry", "method", "parts", "route", "since", "tag")

    def __init__(self, tag: int, since: int, method: str, route: str, entry: Any = ()) -> None:
        self.tag, self.since, self.method, self.route = tag, since, method, route
        self.entry: tuple[Any, ...] = entry
        self.parts: Any = None
        self.ended = 0.0


class Monitor:
    """The process-wide state of leaks per request: the queue, the judge, the ledger."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.settle = SETTLE
        self.batch_every = BATCH_EVERY
        # Reentrant: a WSGI body finalised by a gc pass inside begin() or end()
        # ends its request from the same thread.
        self._rlock = threading.RLock()
        # The judge waits on the Condition; a request's begin and end take its
        # lock itself (entered in C, not through the Condition's Python methods).
        self._lock = threading.Condition(self._rlock)
        self._pending: deque[Ticket] = deque()
        self._watching = 0  # sampled requests in flight or queued
        self._tags = itertools.count(1)
        self._thread: threading.Thread | None = None
        self.notes: deque[str] = deque(maxlen=20)
        # The probes' modules are imported now, as the middleware is made
        # (the server's start), not by the first batch: each module file the
        # judge reads while the server is busy hands the GIL over and waits
        # a switch interval for it back (the first batch took 3 s).
        all_probes()

    # -- the middleware's side ---------------------------------------------------

    def begin(self, method: str, route: str, caller: Any = None) -> Ticket | None:
        """A sampled request starts: its tag, or None when the judge is too far behind.
        ``caller``: the frame that called the middleware (the server's)."""
        with self._rlock:
            if self._watching >= MAX_PENDING:
                return None
            if self._watching == 0:
                _origins.activate(full=False)
                _recording.tagging += 1
            self._watching += 1
            tag = next(self._tags)
        return Ticket(tag, _records.current_serial(), method, route, entry_of(caller))

    def end(self, ticket: Ticket, *, judge: bool = True) -> None:
        """Its response is done: judged after the settle, in the judge's thread
        (``judge=False``: a request to the debug pages, not judged)."""
        if sys.is_finalizing():
            # At interpreter exit (a WSGI body finalised then) no judge could
            # run, and nothing here may take a lock: the judge's daemon thread
            # is frozen where it stood, maybe holding this one.
            return
        if not judge:
            self._release(1)
            return
        ticket.ended = time.monotonic()
        with self._rlock:
            self._pending.append(ticket)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=JUDGE_THREAD, daemon=True)
                self._thread.start()
            # The judge is never woken from here: it looks for work on its
            # own (see _run).  A woken judge takes the GIL from the server's
            # busy thread, and on uvloop that cost the loop thread a quarter
            # of its speed for the next few hundred milliseconds.

    def _release(self, n: int) -> None:
        with self._rlock:
            self._watching -= n
            if self._watching == 0:
                _recording.tagging -= 1
                _recording.deactivate(full=False)

    # -- the judge's thread ---------------------------------------------------------

    def _run(self) -> None:
        idle_since = last = time.monotonic() - BATCH_EVERY
        while True:
            with self._lock:
                now = time.monotonic()
                if not self._pending:
                    if now - idle_since > IDLE_EXIT:
                        self._thread = None
                        return
                    # Idle: look again in a settle's time (a request that
                    # ends meanwhile is not due before then anyway).
                    self._lock.wait(max(self.settle, IDLE_POLL))
                    continue
                start = max(self._pending[0].ended + self.settle, last + self.batch_every)
                wait = start - now
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                ready = []
                pending, settle = self._pending, self.settle
                while pending and pending[0].ended + settle <= now:
                    ready.append(pending.popleft())
            last = time.monotonic()
            try:
                self.judge(ready)
            except Exception as exc:  # the host never sees leakwatch's errors
                self.notes.append(f"judging {len(ready)} request(s) failed: {exc!r}")
            finally:
                self._release(len(ready))
            idle_since = time.monotonic()

    def judge(self, ready: Sequence[Pending | Ticket]) -> None:
        """Find and record what each request in ``ready`` left alive."""
        tags = {p.tag: p for p in ready}
        since = min([p.since for p in ready])
        probes = _probes()
        found = _leftovers(probes, tags, since, self.notes)
        if found:
            with _recording.quiet():
                collect()  # objects in cycles close here, not as leaks
            found = _leftovers(probes, tags, since, self.notes)
        per_tag: dict[int, list[Resource]] = {}
        with OWN_IO, _recording.quiet():
            for (kind, key), (value, rec) in found.items():
                try:
                    res = probes[kind].describe(key, value, since)
                except Exception as exc:
                    self.notes.append(f"{kind}: describing a leftover failed: {exc!r}")
                    continue
                entry = tags[rec.tag].entry
                if "benign" in res.details or not made_by_user(rec, entry) or shared_pool(value):
                    continue  # the server's or a library's machinery, or a shared pool's
                per_tag.setdefault(rec.tag, []).append(res)
        now = time.time()
        clean: dict[tuple[str, str], int] = {}
        names: dict[Any, tuple[Any, str]] = {}
        for p in ready:
            route = p.route or _named(p.parts, names)
            got = per_tag.get(p.tag) if per_tag else None
            if got:
                self.ledger.add(p.method, route, group_resources(got), now)
            else:
                key = (p.method, route)
                clean[key] = clean.get(key, 0) + 1
        self.ledger.add_clean(clean)
        # A thread a sampled request started keeps its tag only while it runs.
        forget_ended_threads()


def _named(parts: Any, names: dict[Any, tuple[Any, str]]) -> str:
    """:func:`_route_name`, once per route and path in a batch (``names``): most
    of a batch's requests are a few routes' and paths'.  Filed by root path
    and path, with the route object it was named from (a route object need
    not be hashable: Starlette's are not; and ``id()`` raises an audit event)."""
    try:
        route, root, path = parts
        found = names.get((root, path))
    except (TypeError, ValueError):  # no parts, or parts that cannot be a key
        return _route_name(parts)
    if found is None or found[0] is not route:
        found = names[(root, path)] = (route, _route_name(parts))
    return found[1]


def _route_name(parts: Any) -> str:
    """An ASGI request's route, named from what its response's end read."""
    if parts is None:
        return ""
    try:
        return route_of(parts)
    except Exception:  # a route object's attribute that raises: the path
        return str(parts[2] or "")


def _probes() -> dict[str, Probe]:
    probes = all_probes()
    for probe in probes.values():
        if hasattr(probe, "foreign"):
            probe.foreign = True  # tasks of every loop, whatever thread runs it
    return probes


def _leftovers(
    probes: dict[str, Probe], tags: dict[int, Pending | Ticket], since: int, notes: deque[str]
) -> dict[tuple[str, Hashable], tuple[Any, Any]]:
    """``(kind, key) -> (value, record)`` of live resources made by the tagged requests."""
    out: dict[tuple[str, Hashable], tuple[Any, Any]] = {}
    with OWN_IO, _recording.quiet():
        for kind, probe in probes.items():
            if not _may_have(probe, tags):
                continue
            try:
                for key, value in _snapshot(kind, probe).items():
                    rec = probe.creation(key, value, since)
                    if rec is not None and getattr(rec, "tag", 0) in tags:
                        out[(kind, key)] = (value, rec)
            except Exception as exc:
                notes.append(f"{kind}: the probe failed while judging requests: {exc!r}")
    return out


def _may_have(probe: Probe, tags: dict[int, Pending | Ticket]) -> bool:
    """Whether a record the probe reads was made for one of ``tags``: else
    its look is skipped.  A look at descriptors ``fstat``s them one at a
    time, and each call hands the GIL to the server's busy loop thread and
    waits up to a switch interval (5 ms) to get it back: a look at a few
    dozen took hundreds of milliseconds, and slowed the loop thread all
    that while."""
    try:
        found = probe.recorded()
        return found is None or any(getattr(rec, "tag", 0) in tags for rec in found)
    except Exception:  # changed by another thread meanwhile: look
        return True


_monitor: Monitor | None = None
_monitor_lock = threading.Lock()


def monitor() -> Monitor:
    """The process's one monitor (made on first use)."""
    global _monitor
    if _monitor is None:
        with _monitor_lock:
            if _monitor is None:
                _monitor = Monitor()
    return _monitor
