"""Heap, per test: objects that should die with their test, and don't.

LeakCanary watches an Activity after ``onDestroy``; here, once a test is
over, the values of its function-scoped fixtures (those defined in the
user's code) and a unittest test's instance have no reason to live.  Each
is held through a weak reference only; after the test's teardown, what is
still alive (after a young-generation gc pass) outlived its test.

One survivor proves nothing: a fixture may hand out an object that a cache
keeps (filled once), or the same object every time.  So the rule is growth
across tests, as the repeat rule is growth across calls: a fixture (or a
unittest class) leaks when :data:`GROWTH` distinct values it handed out are
alive at once, confirmed after a full gc pass.  The test that leaves the
third one behind fails, and so does every later test that adds another;
the report says what holds the newest one.  The same object handed out
again is never counted twice.

Cost: a weak reference per watched value, and one look after teardown; gc
runs only when something is still alive.  No tracemalloc.
"""

from __future__ import annotations

import inspect
import sys
import unittest
import weakref
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from leakwatch._attribution.stacks import source_line, source_lines
from leakwatch._base.frames import Frame
from leakwatch._base.model import Resource
from leakwatch._base.paths import is_user_file
from leakwatch._engine.chains import find_chains
from leakwatch._engine.collect import Collected, collect

#: Distinct values of one fixture alive at once that make a leak.
GROWTH = 3
#: Escaped values remembered per fixture (weak references only).
_REMEMBERED = 50


@dataclass(frozen=True)
class Watched:
    """One object that should die with its test; plain data and a weak reference."""

    key: str  # the fixture (or unittest class) it came from
    what: str  # "fixture 'client'" or "unittest instance"
    type_name: str
    ref: weakref.ref[Any]
    origin: tuple[Frame, ...]


class Escapes:
    """The values each test should drop, and those earlier tests left alive."""

    def __init__(self, growth: int = GROWTH) -> None:
        self.growth = growth
        #: What the gc passes of :meth:`judge` finalised (the plugin reports them).
        self.collected: list[Collected] = []
        #: fixture key -> (weak reference, nodeid) of values that outlived their test.
        self.alive: dict[str, list[tuple[weakref.ref[Any], str]]] = {}
        self._user_fixture: dict[int, tuple[Frame, ...] | None] = {}
        self._user_class: weakref.WeakKeyDictionary[type, tuple[Frame, ...]] = (
            weakref.WeakKeyDictionary()
        )

    # -- at the end of setup ------------------------------------------------------

    def watch(self, item: pytest.Item) -> list[Watched]:
        """What this test should drop: its user fixtures' values, its unittest instance."""
        out: list[Watched] = []
        funcargs = getattr(item, "funcargs", None) or {}
        info = getattr(item, "_fixtureinfo", None)
        defs = getattr(info, "name2fixturedefs", {}) or {}
        # Parameters live as long as the session (pytest keeps them): a fixture
        # returning ``request.param`` hands out an object it did not make.
        params = getattr(getattr(item, "callspec", None), "params", None) or {}
        given = {id(value) for value in params.values()}
        for name, value in funcargs.items():
            fixturedefs = defs.get(name)
            if not fixturedefs or id(value) in given:
                continue
            fixturedef = fixturedefs[-1]
            if fixturedef.scope != "function":
                continue
            origin = self._origin(fixturedef)
            if origin is None:
                continue  # pytest's or a plugin's own fixture
            where = origin[0]
            key = f"{where.filename}:{where.lineno}:{name}"
            watched = _watch(value, key, f"fixture {name!r}", origin)
            if watched is not None:
                out.append(watched)
        instance = getattr(item, "_instance", None)
        if isinstance(instance, unittest.TestCase):
            cls = type(instance)
            origin = self._class_origin(cls)
            key = f"unittest:{cls.__module__}.{cls.__qualname__}"
            watched = _watch(instance, key, "instance", origin) if origin else None
            if watched is not None:
                out.append(watched)
        return out

    def _class_origin(self, cls: type) -> tuple[Frame, ...]:
        """Where a unittest class is defined; () outside the user's code."""
        known = self._user_class.get(cls)
        if known is None:
            known = self._user_class[cls] = _class_origin(cls)
        return known

    def _origin(self, fixturedef: Any) -> tuple[Frame, ...] | None:
        known = self._user_fixture.get(id(fixturedef), False)
        if known is not False:
            return known  # type: ignore[return-value]
        func = getattr(fixturedef, "func", None)
        code = getattr(func, "__code__", None)
        origin = None
        if code is not None and is_user_file(code.co_filename):
            lineno = _def_line(code.co_filename, code.co_firstlineno)
            line = source_line(code.co_filename, lineno)
            origin = (Frame(code.co_filename, lineno, code.co_name, line),)
        # FixtureDefs live as long as the session: their ids are stable.
        self._user_fixture[id(fixturedef)] = origin
        return origin

    # -- after teardown -----------------------------------------------------------

    def judge(
        self, watched: list[Watched], nodeid: str, why_alive_budget: float | None
    ) -> list[Resource]:
        """The watched values that make their fixture's survivors reach :attr:`growth`,
        with what holds each (searched within ``why_alive_budget``; None: not searched)."""
        new = [w for w in watched if self._is_new_survivor(w)]
        if not new:
            return []
        self.collected += collect(1)  # a young cycle holding a value is not a leak
        suspects: list[Watched] = []
        for w in new:
            if w.ref() is None:
                continue
            earlier = self._earlier(w.key)
            earlier.append((w.ref, nodeid))
            del earlier[:-_REMEMBERED]
            if len(earlier) >= self.growth:
                suspects.append(w)
        if not suspects:
            return []
        self.collected += collect()  # before failing a test: only what no collection frees
        found: list[tuple[Watched, list[str]]] = []
        for w in suspects:
            earlier = self._earlier(w.key)
            if w.ref() is not None and len(earlier) >= self.growth:
                found.append((w, [test for _, test in earlier]))
        targets = [w.ref() for w, _ in found]
        alive = [t for t in targets if t is not None]
        held = find_chains(alive, why_alive_budget) if alive and why_alive_budget else {}
        del alive
        out = []
        for (w, tests), target in zip(found, targets, strict=True):
            if target is None:
                continue
            details: dict[str, Any] = {
                "type": w.type_name,
                "alive": len(tests),
                "earlier_tests": tests[:-1][-3:],
                "rule": f"{self.growth} or more values it made alive at once, after a full gc",
            }
            chain = held.get(id(target))
            if chain:
                details["held_by"] = chain
            title = (
                f"{w.what} value {w.type_name} outlived its test ({len(tests)} of its values alive)"
                if w.what != "instance"
                else f"unittest {w.type_name} instance outlived its test "
                f"({len(tests)} instances alive)"
            )
            key = ("escaped", w.key, id(target))
            out.append(Resource("heap", key, title, w.origin, details, group="escaped"))
        del targets
        return out

    def _is_new_survivor(self, w: Watched) -> bool:
        """Alive, and not an object this fixture handed out before (a cache, a singleton)."""
        obj = w.ref()
        if obj is None:
            return False
        return not any(ref() is obj for ref, _ in self.alive.get(w.key, ()))

    def _earlier(self, key: str) -> list[tuple[weakref.ref[Any], str]]:
        """This fixture's escaped values still alive (dead ones dropped)."""
        earlier = [(ref, test) for ref, test in self.alive.get(key, ()) if ref() is not None]
        self.alive[key] = earlier
        return earlier


def _watch(value: Any, key: str, what: str, origin: tuple[Frame, ...]) -> Watched | None:
    if value is None or isinstance(value, (type, ModuleType)):
        return None
    try:
        ref = weakref.ref(value)
    except TypeError:  # ints, strings, tuples, ...: nothing to watch
        return None
    cls = type(value)
    return Watched(key, what, f"{cls.__module__}.{cls.__qualname__}", ref, origin)


def _def_line(filename: str, first: int) -> int:
    """The ``def`` line of a function whose code starts at ``first`` (decorators first)."""
    for lineno in range(first, first + 20):
        lines = source_lines(filename)
        text = lines[lineno - 1].lstrip() if lineno <= len(lines) else ""
        if text.startswith(("def ", "async def ")):
            return lineno
        if not text:
            break
    return first


def _class_origin(cls: type) -> tuple[Frame, ...]:
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None) or ""
    if not is_user_file(filename):
        return ()
    try:
        lines, lineno = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return (Frame(filename, 0, "<module>", ""),)
    return (Frame(filename, lineno, "<module>", lines[0].strip() if lines else ""),)
