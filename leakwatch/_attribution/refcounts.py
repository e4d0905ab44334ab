"""What a reference count proves: that nothing holds an object but the holders known.

Telling whether anything holds a leftover by name (a singleton) asks the
collector for its referrers: a scan of the whole heap, most of what a leak
held in a list costs (``KEPT.append(sock)``: 7 of its 9.5 ms on a pytest
process's heap).  Its reference count is free, and every strong reference
is counted in it: when the count is no more than the references known to
hold the object (leakwatch's own containers and containers of the module
that made it, each occurrence counted by identity), no other object holds
it, by name or otherwise.  Temporaries (the argument of
``sys.getrefcount``, a caller's operand stack, a tracer's) only add to the
count: a count above what is known proves nothing and the scan decides.
This function's own part of the count is measured each time on an object
held the same way, never assumed, so a Python that borrows references on
its operand stack is measured too.

Must not keep anything alive once it returns.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable, Sequence

__all__ = ["held_only_by"]

#: Containers whose items hold by position, never by name, as the scan counts
#: them (``singletons._NOT_ATTRIBUTES``): a dict's keys are names to it (an
#: instance's ``__dict__`` is one), so no dict counts.
_SEQUENCES = (list, tuple, set, frozenset)

#: A module global longer than this is not counted through (its length is
#: the cost); what it holds is left to the scan.
_MAX_ITEMS = 10_000


def held_only_by(
    targets: Sequence[object], own: Iterable[object], modules: Sequence[str]
) -> set[int]:
    """The ids of ``targets`` whose every reference is an occurrence in
    ``targets`` itself, in ``own`` (the caller's containers of them: lists,
    tuples) or in a list, tuple or set that a global of one of
    ``modules`` is; the caller's loop over ``targets`` holds one in a
    variable as this does."""
    if not hasattr(sys, "getrefcount") or not targets:
        return set()
    # Each container once (one counted twice would hide a holder), never
    # ``targets``, counted below.
    mine = (*own, *_module_sequences(modules))
    by_id: dict[int, Iterable[object]] = {
        id(c): c  # type: ignore[misc]  # one of _SEQUENCES
        for c in mine
        if type(c) in _SEQUENCES and c is not targets
    }
    known = list(by_id.values())
    del mine, by_id
    box = [object()]
    base = 0
    for obj in box:  # the same shape as below: one variable, one list
        base = _beyond(obj, (box,))
    del box
    proved: set[int] = set()
    for obj in targets:
        if _beyond(obj, (targets, *known)) <= base:
            proved.add(id(obj))
    del obj, known
    return proved


def _beyond(obj: object, containers: tuple[Iterable[object], ...]) -> int:
    """``obj``'s reference count less its occurrences in ``containers``; a
    large number when the count moved while they were counted (another
    thread took or dropped a reference: nothing is proved)."""
    before = sys.getrefcount(obj)
    try:
        seen = sum(_occurrences(obj, container) for container in containers)
    except RuntimeError:  # a set changed size under the count
        return sys.maxsize
    return before - seen if sys.getrefcount(obj) == before else sys.maxsize


def _occurrences(obj: object, container: Iterable[object]) -> int:
    return sum(1 for item in container if item is obj)


def _module_sequences(names: Sequence[str]) -> list[Iterable[object]]:
    out: list[Iterable[object]] = []
    for name in names:
        module = sys.modules.get(name)
        if not isinstance(module, types.ModuleType):
            continue
        for value in list(vars(module).values()):
            if type(value) in _SEQUENCES and len(value) <= _MAX_ITEMS:
                out.append(value)
    return out
