"""Resources that ended as leaks all the same: still pending when their event loop shut down.

A task still pending when its loop is shut down (cancelled by the runner), a
timer still scheduled when its loop is closed (dropped, never run): whoever
made it never finished it -- goleak's and pyleak's leak, invisible once the
loop is gone.  :mod:`leakwatch._attribution.shutdowns` tells the task and
timer probes of them as the loop shuts down; each asks who held them as
they ended (a wider fixture's world, a library's service object bound to a
module global: ended with the loop by design), describes the others then,
files them here, and hands them to the engine as
:class:`~leakwatch._probes.protocol.Departed` items.

Must not judge: the engine decides whose each one is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from leakwatch._attribution import records as _records
from leakwatch._attribution.singletons import singletons
from leakwatch._base.model import Leak, Resource, group_resources


@dataclass(frozen=True)
class Casualty:
    """A resource still pending when its loop shut down, described as it
    ended.  Plain data."""

    key: Hashable
    record: _records.Record
    resource: Resource
    #: The serial at which its loop was made (0: before every watch).
    loop_born: int = 0


Holders = Callable[[str, list[Any]], dict[int, str]]

#: See :func:`ask_suite`.
_holders: Holders | None = None
_floor: Callable[[], int] | None = None
_expected: Callable[[Leak], bool] | None = None


def ask_suite(
    holders: Holders | None = None,
    floor: Callable[[], int] | None = None,
    expected: Callable[[Leak], bool] | None = None,
) -> None:
    """What a suite runner answers as loops shut down, while it runs (call
    again with nothing as it ends).

    ``holders(kind, objects) -> {id(obj): "the module fixture 'client'"}``:
    who, other than the window that made it, held each one as its loop shut
    down (a wider fixture's machinery is not a leak of the test whose window
    made it).  ``floor()``: the creation serial below which no watch still
    running would judge a casualty (the oldest test still being judged);
    what was made before it is not looked at when its loop shuts down.
    ``expected(leak)`` (a policy's own, as settling asks it): whether the
    run's rules set it aside (a known library leak, an ignore rule): no
    world or global is searched for its holder (anyio's process-pool task,
    at every test's loop shutdown: 0.16 s a test on a large suite's heap);
    it is filed, and judged as those rules say.
    """
    global _holders, _floor, _expected
    _holders, _floor, _expected = holders, floor, expected


def _set_aside(res: Resource) -> bool:
    """Whether the suite's rules set ``res`` aside (see :func:`ask_suite`)."""
    expected = _expected
    if expected is None:
        return False
    try:
        return expected(group_resources([res])[0])
    except Exception:  # a refinement: without it the heap is searched
        return False


#: How many casualties of any kind were filed so far: while it stands still,
#: nothing ended as a leak (a watch's describing asks no probe).
filed = 0


#: How many places a log remembers the holder of (bounded).
_HELD_AT_MAX = 1024


def lowest() -> int:
    """The creation serial a casualty must be newer than to matter (see :func:`ask_suite`)."""
    floor = _floor
    if floor is None:
        return 0
    try:
        return floor()
    except Exception:
        return 0


class Casualties:
    """The last casualties of one kind (bounded), and who held each."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.items: deque[Casualty] = deque(maxlen=512)
        #: Who held a thing made at a given place, as found once (a library's
        #: service task, a server's machinery): that place is not searched again.
        self._held_at: dict[Hashable, str] = {}
        #: Places where the search found no module global holding the thing
        #: made there: not searched again (the wider fixtures' worlds still
        #: are, every time: they come and go).  A task made at one place
        #: test after test (a helper's, a parametrised test's) cost a scan of
        #: the whole heap at every shutdown, up to 0.3 s on a large suite's.
        self._alone_at: dict[Hashable, None] = {}

    def holders_of(self, known: Sequence[tuple[Any, Hashable, Resource]]) -> dict[int, str]:
        """``id(obj) -> who held it`` as its loop shut down, for ``(obj, place,
        its description)``: a wider fixture's world (:func:`ask_suite`), else
        a module global through attributes alone (a library's own service
        task or timer, ended with the loop by design; in a set or list it
        would be a registry).  Neither is searched for what the suite's
        rules set aside anyway (filed, those rules judge it), nor the
        globals for a place searched in vain before."""
        held: dict[int, str] = {}
        ask: list[tuple[Any, Hashable]] = []
        for obj, place, res in known:
            holder = self._held_at.get(place)
            if holder is not None:
                held[id(obj)] = holder
            elif not _set_aside(res):
                ask.append((obj, place))
        holders = _holders
        if ask and holders is not None:
            try:
                held.update(holders(self.kind, [obj for obj, _ in ask]))
            except Exception:
                pass
        searched = [
            (obj, place)
            for obj, place in ask
            if id(obj) not in held and place not in self._alone_at
        ]
        if searched:
            try:
                for ident, path in singletons([obj for obj, _ in searched]).items():
                    held[ident] = f"the module global {path}"
            except Exception:
                searched = []  # no answer: nothing learnt
        for obj, place in ask:
            if id(obj) in held and len(self._held_at) < _HELD_AT_MAX:
                self._held_at[place] = held[id(obj)]
        for obj, place in searched:
            if id(obj) not in held:
                if len(self._alone_at) >= _HELD_AT_MAX:
                    self._alone_at.clear()
                self._alone_at[place] = None
        del ask, searched
        return held

    def add(self, casualty: Casualty) -> None:
        global filed
        self.items.append(casualty)
        filed += 1

    def since(self, since: int) -> list[Casualty]:
        """Those made after creation serial ``since``."""
        return [c for c in self.items if c.record.serial > since]
