"""Why-alive chains for one stop, found at most once per owner.

Settling asks for them first when only descriptors are left and nothing else
runs: an owner reachable from a root (a module global, a live frame) is no
garbage, so no gc pass can free it and settling need not run one.
Describing then shows the same chains instead of searching again.  Holds
the owners only until :meth:`Chains.clear` (the end of the stop).
"""

from __future__ import annotations

from typing import Any


def find_chains(targets: list[Any], budget: float) -> dict[int, str]:
    """``id(target) -> chain`` for the targets found within ``budget``; never raises.
    The search is imported when first asked for."""
    from leakwatch._attribution.whyalive import chains_within

    return chains_within(targets, budget)


class Chains:
    """The chains found so far in one stop, by owner."""

    def __init__(self) -> None:
        self._found: dict[int, tuple[Any, str]] = {}  # id -> (owner, chain): the id stays its

    def all_held(self, owners: list[Any], budget: float) -> bool:
        """Search chains for ``owners``; whether every one is held from a root."""
        self._search(owners, budget)
        return all(id(o) in self._found for o in owners)

    def get(self, owners: list[Any], budget: float) -> dict[int, str]:
        """``id(owner) -> chain`` for ``owners``: known ones, the rest searched now."""
        self._search(owners, budget)
        return {id(o): self._found[id(o)][1] for o in owners if id(o) in self._found}

    def _search(self, owners: list[Any], budget: float) -> None:
        missing = [o for o in owners if id(o) not in self._found]
        found = find_chains(missing, budget) if missing else {}
        for owner in missing:
            chain = found.get(id(owner))
            if chain:
                self._found[id(owner)] = (owner, chain)

    def holding(self) -> list[tuple[Any, str]]:
        """The tuples that hold the owners found (each an owner's reference)."""
        return list(self._found.values())

    def clear(self) -> None:
        self._found.clear()
