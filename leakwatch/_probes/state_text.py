"""What a global-state change looks like in a report: titles, listings, origins.

``sys.path: +1 entry '/tmp/x'``; values capped; where an added object was
made, from its creation traceback when tracemalloc has one.  Turns two
readings into a :class:`~leakwatch._base.model.Resource`; must not read a
registry itself.
"""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Mapping, Sequence
from typing import Any

from leakwatch._attribution import stacks as _stacks
from leakwatch._base.frames import Origin
from leakwatch._base.model import Resource
from leakwatch._base.paths import is_user_file
from leakwatch._base.pyversion import referents
from leakwatch._base.wording import noun
from leakwatch._probes.state_values import KIND, Named, Reading, RegistryProbe, _cap

_CAP = 20  # items listed per added/removed/changed


def _changes(b: Reading, a: Reading) -> tuple[list[str], list[str], list[str]]:
    """Keys added, removed and changed, in registry order where there is one."""
    added = [k for k in a.texts if k not in b.names] if a.texts else sorted(a.names - b.names)
    removed = [k for k in b.texts if k not in a.names] if b.texts else sorted(b.names - a.names)
    changed = [
        k
        for k, text in b.texts.items()
        if k in a.names and (text != a.texts[k] or b.tokens.get(k) != a.tokens.get(k))
    ]
    return added, removed, changed


def _show(probe: RegistryProbe, reading: Reading, key: str) -> str:
    text = reading.texts.get(key, "")
    return f"{key}={text}" if probe.keyed else text or repr(key)


def _show_change(probe: RegistryProbe, key: str, b: Reading, a: Reading) -> str:
    old, new = b.texts[key], a.texts[key]
    change = f"{old} -> {new}" if old != new else f"{new} (replaced)"
    return change if key == probe.name else f"{key}: {change}"


def _listing(items: Sequence[str], total: int, shown: int = 3) -> str:
    more = f" (+{total - shown} more)" if total > shown else ""
    return ", ".join(_cap(i) for i in items[:shown]) + more


def _resource(
    probe: RegistryProbe, b: Reading, a: Reading, lead: str = "", **extra: Any
) -> Resource:
    """The Resource for one registry's change from ``b`` to ``a``; ``lead`` heads the title."""
    added, removed, changed = _changes(b, a)
    shown = {
        "added": [_show(probe, a, k) for k in added[:_CAP]],
        "removed": [_show(probe, b, k) for k in removed[:_CAP]],
        "changed": [_show_change(probe, k, b, a) for k in changed[:_CAP]],
    }
    counts = {"added": len(added), "removed": len(removed), "changed": len(changed)}
    parts = []
    if probe.counts:  # the total is the news; the keys only say where
        where = [*added, *changed]
        delta = a.size - b.size
        parts.append(f"{delta:+d} {noun(probe.noun, delta)} ({b.size} -> {a.size})")
        parts[-1] += " in " + _listing([repr(k) for k in where], len(where)) if where else ""
    else:
        for sign, what in (("+", "added"), ("-", "removed")):
            if counts[what]:
                n, listing = counts[what], _listing(shown[what], counts[what])
                parts.append(f"{sign}{n} {noun(probe.noun, n)} {listing}")
        if changed:
            parts.append(_listing(shown["changed"], len(changed)))
    title = "; ".join(p for p in (lead, ", ".join(parts)) if p)
    return Resource(
        kind=KIND,
        key=probe.name,
        title=f"{probe.name}: {title}",
        origin=_origin(probe, a, [*added, *changed]),
        details={"probe": probe.name, **shown, "counts": counts, **extra},
        group=probe.name,
    )


def _origin(probe: RegistryProbe, after: Reading, keys: Sequence[str]) -> Origin:
    """Where the first added or replaced entry was made, if tracemalloc saw it.

    Newest first: under :func:`growing`, an entry added by the last call (on
    a repeat leak, every call adds one) is the one most surely still traced.
    """
    if not (probe.objects or probe.live) or not keys or not tracemalloc.is_tracing():
        return ()
    try:
        raw = probe.live() if probe.live is not None else probe.read()
    except Exception:
        return ()
    if not isinstance(raw, Mapping):
        return ()
    for key in list(keys[-_CAP:])[::-1]:
        value = raw.get(key)
        obj = value.obj if isinstance(value, Named) else value
        # Only the very object the snapshot saw: the registry may have moved on.
        # (Text-read registries keep no ids: the key names the entry.)
        if obj is not None and (probe.live is not None or id(obj) == after.tokens.get(key)):
            origin = _traceback_origin(obj)
            if origin:
                return origin
    return ()


def _traceback_origin(obj: object) -> Origin:
    tb = tracemalloc.get_object_traceback(obj)
    if tb is None:
        # 3.11 finds no trace for instances with a managed __dict__ (fixed in 3.12).
        # A part only this object holds (an RLock, a fresh dict) was made by its
        # constructor: its trace is the object's, a few frames deeper.
        parts = referents(obj)
        for i in range(len(parts)):
            # 3 references: obj, the parts list, getrefcount's own argument.
            if not isinstance(parts[i], type) and sys.getrefcount(parts[i]) == 3:
                tb = tracemalloc.get_object_traceback(parts[i])
                if tb is not None:
                    break
    if tb is None:
        return ()
    # A Traceback iterates oldest first; _stacks wants innermost first.
    origin = _stacks.tracemalloc_origin(reversed([(f.filename, f.lineno) for f in tb]))
    # The user's line last: the frames below it are the library making the
    # entry (logging.Handler.__init__ making its lock), not where it was added.
    users = [i for i, f in enumerate(origin) if is_user_file(f.filename)]
    return origin[: users[-1] + 1] if users else origin
