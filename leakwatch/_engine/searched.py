"""Leftovers the singleton search already settled in this process, by shape.

A suite that leaks the same way test after test (a request handler's socket
kept in a module list, a fixture's thread) asks the same question each time:
does a module global hold it through attributes alone?  The answer costs a
scan of the whole heap (10 ms on a large suite's).  A leftover made by the
very same stack (every frame's file, line and function) and held by a chain
of the same shape (the same globals and attributes, any list index) as one
the search proved no singleton is answered so without the scan.  Only that
answer is remembered: a singleton is searched every time (first-use judges
by the global that holds it).

What this cannot tell: code that, after making it on the same stack, stores
it by attribute as well as in the same place the first one went.  Plain
data, bounded.
"""

from __future__ import annotations

import re
from collections.abc import Hashable

from leakwatch._base.model import Resource

#: Shapes proved no singleton, at most this many (then forgotten, all at once).
MAX_SHAPES = 4096

_settled: dict[tuple[Hashable, ...], None] = {}

_INDEX = re.compile(r"\[\d+\]")


def shape(res: Resource) -> tuple[Hashable, ...] | None:
    """What makes two leftovers the same question, or None (no creation
    stack or no chain: nothing to tell them apart by)."""
    chain = res.details.get("held_by")
    if not res.origin or not isinstance(chain, str):
        return None
    frames = tuple((f.filename, f.lineno, f.function) for f in res.origin)
    return (res.kind, res.group, frames, _INDEX.sub("[]", chain))


def settled(key: tuple[Hashable, ...] | None) -> bool:
    """Whether a leftover of this shape was proved no singleton before."""
    return key is not None and key in _settled


def remember(key: tuple[Hashable, ...] | None) -> None:
    """A leftover of this shape was proved no singleton."""
    if key is None:
        return
    if len(_settled) >= MAX_SHAPES:
        _settled.clear()
    _settled[key] = None
