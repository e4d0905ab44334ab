"""Global-state probes: what a block changed in interpreter-wide registries.

In the spirit of CPython's ``libregrtest/save_env.py`` ("environment altered")
and the registry checks of ``regrtest -R``.  One small reader per registry,
listed in :data:`PROBES`::

    before = snapshot()
    run_block()
    for res in diff(before, snapshot()):
        print(res.title)          # sys.path: +1 entry '/tmp/x'

A snapshot is plain data: names, display strings, counts and ``id()``\\ s
(compared, never dereferenced).  Live objects are looked up again only at
diff time, from the registry itself, to find where an added one was made.
A change seen once is information; :func:`growing` applies the repeat rule.

The readers live in :mod:`~leakwatch._probes.registries`, the plain data in
:mod:`~leakwatch._probes.state_values`, the words for a change in
:mod:`~leakwatch._probes.state_text`; this module lists the registries and
compares snapshots.  Must not keep a user's object past a snapshot.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Sequence

from leakwatch._base.model import Resource
from leakwatch._base.wording import noun
from leakwatch._probes.protocol import Growth
from leakwatch._probes.registries import (
    _atexit,
    _by_identity,
    _by_value,
    _cwd,
    _environ,
    _event_loop_policy,
    _handlers,
    _log_levels,
    _logger_names,
    _recursion_limit,
    _signals,
    _socket_timeout,
    _umask,
    _warning_filters,
    _warning_registries,
)
from leakwatch._probes.state_text import _changes, _resource
from leakwatch._probes.state_values import (
    Named,
    Raw,
    Reading,
    RegistryProbe,
    StateSnapshot,
    _describe,
)

PROBES: tuple[RegistryProbe, ...] = (
    RegistryProbe("sys.modules", "module", lambda: frozenset(sys.modules)),  # no per-name work
    RegistryProbe(
        "sys.path",
        "entry",
        lambda: _by_value([repr(p) for p in list(sys.path)]),
        live=lambda: _by_value(list(sys.path), key=repr),
    ),
    RegistryProbe("sys.meta_path", "finder", lambda: _by_identity(sys.meta_path), objects=True),
    RegistryProbe("sys.path_hooks", "hook", lambda: _by_identity(sys.path_hooks), objects=True),
    RegistryProbe("atexit", "callback", _atexit, objects=True),
    RegistryProbe("logging.loggers", "logger", _logger_names, objects=True),
    RegistryProbe("logging.handlers", "handler", _handlers, objects=True),
    RegistryProbe("logging.levels", "level", _log_levels, keyed=True),
    RegistryProbe("warnings.filters", "filter", _warning_filters),
    RegistryProbe("__warningregistry__", "entry", _warning_registries, keyed=True, counts=True),
    RegistryProbe("signal", "handler", _signals, objects=True),
    RegistryProbe("os.environ", "variable", _environ, keyed=True),
    RegistryProbe("cwd", "directory", _cwd),
    RegistryProbe("hooks", "hook", lambda: {
        "sys.excepthook": sys.excepthook,
        "sys.displayhook": sys.displayhook,
        "sys.unraisablehook": sys.unraisablehook,
        "threading.excepthook": threading.excepthook,
    }, objects=True),
    RegistryProbe("sys.stdio", "stream", lambda: {
        "sys.stdin": sys.stdin, "sys.stdout": sys.stdout, "sys.stderr": sys.stderr,
    }, objects=True),
    RegistryProbe("asyncio.policy", "policy", _event_loop_policy, objects=True),
    RegistryProbe("socket.defaulttimeout", "value", _socket_timeout),
    RegistryProbe("sys.recursionlimit", "value", _recursion_limit),
    RegistryProbe("umask", "value", _umask),
)  # fmt: skip


# -- snapshot, diff, growth ----------------------------------------------------


def snapshot() -> StateSnapshot:
    """Plain-data picture of interpreter-global registries (never the user's objects)."""
    readings: dict[str, Reading] = {}
    for probe in PROBES:
        try:
            raw = probe.read()
        except Exception:  # a probe must never break the watched program
            continue
        if raw is not None:
            readings[probe.name] = _reading(raw, probe.counts)
    return StateSnapshot(readings)


def diff(before: StateSnapshot, after: StateSnapshot) -> list[Resource]:
    """One Resource (kind ``"state"``) per registry that changed."""
    out = []
    for probe in PROBES:
        b, a = before.readings.get(probe.name), after.readings.get(probe.name)
        if b is not None and a is not None and (b.size != a.size or any(_changes(b, a))):
            out.append(_resource(probe, b, a))
    return out


def sizes(snap: StateSnapshot) -> dict[str, int]:
    """Per-registry size, for growth checks across repeated calls."""
    return {name: reading.size for name, reading in snap.readings.items()}


def is_growth(series: Sequence[int]) -> bool:
    """True when every step grows (regrtest -R): ``[3, 4, 5, 6]`` yes, ``[3, 4, 4, 5]`` no."""
    return len(series) > 1 and all(b > a for a, b in itertools.pairwise(series))


def growing(snapshots: Sequence[StateSnapshot]) -> list[Resource]:
    """Registries whose size grows on every step across ``snapshots``.

    Pass one snapshot taken after warm-up and one after each judged call: a
    lazy import or a first ``getLogger`` grows once and is not reported.
    """
    out = []
    for probe in PROBES:
        series = [s.readings[probe.name].size for s in snapshots if probe.name in s.readings]
        if len(series) == len(snapshots) and is_growth(series):
            first, last = snapshots[0].readings[probe.name], snapshots[-1].readings[probe.name]
            per_call = round((series[-1] - series[0]) / (len(series) - 1), 2)
            lead = f"+{per_call:g} {noun(probe.noun, per_call)} per call"
            out.append(_resource(probe, first, last, lead, growth_per_call=per_call, sizes=series))
    return out


class StateGrowth(Growth):
    """Global state as a :class:`~leakwatch._probes.protocol.Growth`: what one
    block changed (judged when ``strict``, else information), or the
    registries that grew on every judged call."""

    kind = "state"

    def __init__(self, *, strict: bool = False) -> None:
        self.judges_changes = strict
        self.snapshots: list[StateSnapshot] = []

    def start(self) -> None:
        self.snapshots = [snapshot()]

    def changed(self) -> list[Resource]:
        return diff(self.snapshots[0], snapshot())

    def sample(self) -> None:
        self.snapshots.append(snapshot())

    def grown(self, repeat: int, blocks: Sequence[int]) -> list[Resource]:
        return growing(self.snapshots)


def _reading(raw: Raw | frozenset[str], counts: bool) -> Reading:
    if isinstance(raw, frozenset):
        return Reading(raw, {}, {}, len(raw))
    texts: dict[str, str] = {}
    tokens: dict[str, int] = {}
    for key, value in raw.items():
        texts[key], token = _plain(value)
        if token is not None:
            tokens[key] = token
    size = sum(v for v in raw.values() if isinstance(v, int)) if counts else len(texts)
    return Reading(frozenset(texts), texts, tokens, size)


def _plain(value: object) -> tuple[str, int | None]:
    """Display text and identity token of one registry value."""
    if type(value) is str:  # most values: readers turn what they can into text
        return value, None
    if isinstance(value, Named):
        return value.text, value.token if value.obj is None else id(value.obj)
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value), None
    return _describe(value), id(value)
