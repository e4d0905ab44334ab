"""Spans of wider fixtures: each module, class or session fixture watched from its
setup to its finalisation, so what it made is its own, never the test's that
happened to set it up.

Also what a live wider fixture's value holds (a get-or-create cache in a
session fixture): that fixture's, adopted by its span.  Must not judge a
test: its findings wait in ``pending`` for the test that saw the fixture go.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Generator, Hashable
from dataclasses import dataclass
from typing import Any

import pytest
from _pytest.fixtures import FixtureDef

from leakwatch._attribution import records as _records
from leakwatch._engine.options import Options
from leakwatch._report.errors import internal_error
from leakwatch._report.report import Report
from leakwatch._suite.connections import Connections
from leakwatch._suite.findings import Finding, split
from leakwatch._suite.ownership import (
    World,
    frames_of,
    generator_locals,
    generators_in,
    local_values,
)
from leakwatch._suite.settings import FIXTURE_KINDS as FIXTURE_KINDS
from leakwatch._suite.spans import SpanWatcher, Stack


@dataclass
class FixtureSpan:
    span: SpanWatcher
    label: str
    name: str
    scope: str


def _stop(span: SpanWatcher, label: str) -> Report:
    """Judge a span; leakwatch failing must never fail the test suite."""
    try:
        return span.stop()
    except Exception as exc:
        span.abort()
        internal_error(f"judging {label}", exc)
        return Report(label=label)


#: Seconds one world's search for a batch of leftovers may take.
_WORLD_BUDGET = 0.1

#: pytest's own objects a fixture's finalizers reach: its definitions (each
#: dependent fixture's teardown is one of them, bound), requests and nodes.
#: A fixture's generator is never found through them.
_MACHINERY: tuple[type, ...] = (FixtureDef, pytest.FixtureRequest, pytest.Item, pytest.Collector)


def _object_of(probe: Any, key: Hashable, value: Any) -> Any:
    """The object a leftover is (a thread, a task) or that owns it (a
    descriptor's socket, a child's Popen); None for a path."""
    if isinstance(value, weakref.ref):
        return value()
    try:
        return probe.owner(key, value)
    except Exception:
        return None


def _world(fixturedef: Any, span: SpanWatcher | None) -> World:
    """A wider fixture's world now: its value, its suspended generator's
    locals, and the frames of the threads it started while being set up;
    the threads those started since are candidates for its machinery."""
    roots: list[Any] = []
    cached = getattr(fixturedef, "cached_result", None)
    if cached is not None and cached[0] is not None:
        roots.append(cached[0])
    for gen in generators_in(getattr(fixturedef, "_finalizers", ()), machinery=_MACHINERY):
        roots.extend(generator_locals(gen))
    helpers: list[threading.Thread] = []
    if span is None:  # a function-scoped fixture: no span, no threads of its own
        return World(roots, helpers)
    alive = threading.enumerate()
    threads = {t.ident: t for t in alive}  # read once, not once a thread
    for thread in alive:
        rec = _records.threads.get(thread)
        if rec is None or rec.serial <= span.since:
            continue
        if span.window_of(rec.serial) == span.own:
            roots.append(thread)
            roots.extend(local_values(frames_of(thread.ident)))
        elif thread.ident is not None and span.thread_window(thread.ident, threads) == span.own:
            helpers.append(thread)
    return World(roots, helpers)


def _not_the_tests(span: SpanWatcher, before: set[int], fd: int | None) -> bool:
    """Whether a descriptor is older than the test's own windows: open before
    the test began, or made while a wider fixture was being set up inside it
    (a class-scoped server set up by the class's first test)."""
    if fd is None:
        return False
    if fd in before:
        return True
    found = _records.find_socket(fd)
    rec = found[1] if found is not None else _records.fds.get(fd)
    return (
        rec is not None
        and rec.serial > span.since
        and span.keep is not None
        and span.window_of(rec.serial) not in span.keep
    )


def _made_by_a_fixture(spans: list[SpanWatcher], ident: int) -> bool:
    """Whether a live wider fixture started the thread ``ident`` (or the
    thread that started it): its server, proxy or portal."""
    return any(other.thread_window(ident) == other.own for other in spans)


class FixtureSpans:
    """Spans of wider fixtures: from setup to finalisation, and what their
    values hold.  The plugin holds one; its fixture hooks call
    :meth:`setup` and :meth:`finalized`."""

    def __init__(self, stack: Stack, options: Options) -> None:
        self.stack = stack
        self.fixture_options = options
        #: The live wider fixtures' spans, by fixture definition.
        self.fixtures: dict[object, FixtureSpan] = {}
        #: What finalised fixtures left, for the next test's report.
        self.pending: list[Finding] = []

    def start_span(self, span: SpanWatcher, what: str) -> bool:
        """Push and start ``span``; False (with a warning) if leakwatch failed:
        leakwatch failing must not fail the test or fixture it watches."""
        span.claims = self.claims
        self.stack.push(span)
        try:
            span.start()
        except Exception as exc:
            self.stack.discard(span)
            span.abort()
            internal_error(f"starting the watch of {what}", exc)
            return False
        return True

    def _worlds(self, span: SpanWatcher | None) -> list[tuple[FixtureSpan, World]]:
        """The worlds of the live wider fixtures other than ``span``'s."""
        out = []
        for fixturedef, entry in self.fixtures.items():
            if entry.span is span:
                continue
            try:
                world = _world(fixturedef, entry.span)
            except Exception:  # ownership is a refinement: the window decides
                continue
            if world.roots:
                out.append((entry, world))
        return out

    def _holders(self, span: SpanWatcher | None, objs: list[Any]) -> dict[int, FixtureSpan]:
        """``id(obj) -> the live wider fixture`` whose world holds or works for
        it (the first that does), for fixtures other than ``span``'s."""
        out: dict[int, FixtureSpan] = {}
        if not objs:
            return out
        worlds = self._worlds(span)
        try:
            for entry, world in worlds:
                rest = [obj for obj in objs if id(obj) not in out]
                if not rest:
                    break
                for ident in world.holds(rest, budget=_WORLD_BUDGET):
                    out.setdefault(ident, entry)
        finally:
            for _, world in worlds:
                world.close()
        return out

    def wider(
        self, span: SpanWatcher, asks: list[tuple[str, Hashable, Any, Any]]
    ) -> set[tuple[str, Hashable]]:
        """Of the leftovers other threads made in ``span``'s windows, those a
        live wider fixture's world holds or works for (see ``ownership``):
        adopted by that fixture's span.  The others are the test's: every
        wider span leaves them out."""
        # The connection rules first: one read of the process's connections,
        # where a world's search walks a server's whole runtime.
        held = self._connected_elsewhere(span, asks)
        probes = span.probes
        objs: list[tuple[str, Hashable, Any]] = []
        for kind, key, value, _ in asks:
            if (kind, key) in held:
                continue
            obj = _object_of(probes.get(kind), key, value)
            if obj is not None:
                objs.append((kind, key, obj))
        holders = self._holders(span, [obj for _, _, obj in objs])
        for kind, key, obj in objs:
            entry = holders.get(id(obj))
            if entry is not None:
                held.add((kind, key))
                if kind in entry.span.probes:
                    entry.span.adopted.setdefault(kind, set()).add(key)
        del objs, holders
        for entry in self.fixtures.values():
            for kind, key, _, _ in asks:
                if (kind, key) not in held and kind in entry.span.probes:
                    entry.span.disowned.setdefault(kind, set()).add(key)
        return held

    def _connected_elsewhere(
        self, span: SpanWatcher, asks: list[tuple[str, Hashable, Any, Any]]
    ) -> set[tuple[str, Hashable]]:
        """Connections a server older than the test accepted (a wider
        fixture's: it closes them when it sees the client go, maybe after the
        test), and connections whose other end is not the test's (accepted by
        such a server, open before the test began, or held by a wider
        fixture's world, a session-scoped keep-alive client).  The two ends
        of one connection share an owner.  Asked only of what a wider
        fixture's threads made: the test's own client socket, or one a pool
        thread of the test made, is the test's."""
        spans = [entry.span for entry in self.fixtures.values() if entry.span is not span]
        fds = {
            value: key
            for kind, key, value, rec in asks
            if kind == "fd" and _made_by_a_fixture(spans, rec.thread)
        }
        if not fds:
            return set()
        conns = Connections()
        before = {key[0] for key in span.before("fd")}  # type: ignore[index]
        out: set[tuple[str, Hashable]] = set()
        fresh: dict[int, Any] = {}
        for fd, key in fds.items():
            listener, peer, upstream = conns.listener(fd), conns.peer(fd), conns.server(fd)
            # Accepted by a server older than the test; or this process's own
            # connection to such a server, made by another thread (a proxy a
            # fixture runs, calling the upstream server another one runs).
            if any(_not_the_tests(span, before, end) for end in (listener, upstream, peer)):
                out.add(("fd", key))
            elif peer is not None:
                found = _records.find_socket(peer)
                if found is not None:
                    fresh[fd] = found[0]
        holders = self._holders(span, list(fresh.values()))
        for fd, obj in fresh.items():
            entry = holders.get(id(obj))
            if entry is not None:
                out.add(("fd", fds[fd]))
                entry.span.adopted.setdefault("fd", set()).add(fds[fd])
        return out

    def held_by_fixtures(self, item: pytest.Item, objs: list[Any]) -> set[int]:
        """The ids of ``objs`` that a fixture the test uses holds, whatever its
        scope (a function-scoped server's in-flight request tasks, which its
        teardown finishes)."""
        held: set[int] = set()
        info = getattr(item, "_fixtureinfo", None)
        for defs in getattr(info, "name2fixturedefs", {}).values():
            if not defs or len(held) == len(objs):
                continue
            fixturedef = defs[-1]
            entry = self.fixtures.get(fixturedef)
            try:
                world = _world(fixturedef, entry.span if entry is not None else None)
            except Exception:
                continue
            try:
                if world.roots:
                    rest = [o for o in objs if id(o) not in held]
                    held |= world.holds(rest, budget=_WORLD_BUDGET)
            finally:
                world.close()
        return held

    def claims(self, leftovers: list[tuple[str, Hashable, Any]]) -> dict[int, str]:
        """Leftovers a live wider fixture's world holds (a get-or-create cache in
        a session fixture's value): that fixture's, adopted by its span, judged
        when it is finalised.  ``id(obj) -> "the session fixture 'name'"``."""
        out: dict[int, str] = {}
        holders = self._holders(None, [obj for _, _, obj in leftovers])
        for kind, key, obj in leftovers:
            entry = holders.get(id(obj))
            if entry is None:
                continue
            if kind in entry.span.probes:
                entry.span.adopted.setdefault(kind, set()).add(key)
                entry.span.disowned.get(kind, set()).discard(key)
            out[id(obj)] = f"the {entry.scope} fixture {entry.name!r}"
        return out

    def setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        """Around a wider fixture's setup (the plugin's ``pytest_fixture_setup``
        wrapper delegates here): its span starts before, and it is kept once
        set up."""
        __tracebackhide__ = True
        if fixturedef.scope == "function":
            return (yield)
        stale = self.fixtures.pop(fixturedef, None)
        if stale is not None:
            stale.span.abort()
        node_id = getattr(request.node, "nodeid", "")
        label = "::".join(part for part in (node_id, fixturedef.argname) if part)
        span = SpanWatcher(self.fixture_options, label=label, own="fixture", keep=("fixture",))
        if not self.start_span(span, f"fixture {label}"):
            return (yield)
        try:
            result = yield
        except BaseException:
            self.stack.pop(span)
            span.abort()
            raise
        self.stack.pop(span)
        self.fixtures[fixturedef] = FixtureSpan(span, label, fixturedef.argname, fixturedef.scope)
        return result

    def finalized(self, fixturedef: pytest.FixtureDef[Any]) -> None:
        """A wider fixture was finalised: its span is judged, its findings wait
        for the next test's report."""
        entry = self.fixtures.pop(fixturedef, None)
        if entry is None:
            return
        report = _stop(entry.span, entry.label)
        for finding in split(report, entry.label, "fixture", fixture=entry.name, scope=entry.scope):
            finding.phase = "fixture"
            self.pending.append(finding)
