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
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]
import atexit
import functools
import gc
import itertools
import os
import re
import signal
import sys
import threading
import tracemalloc
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from leakwatch._attribution import recording as _recording
from leakwatch._attribution import stacks as _stacks
from leakwatch._base.frames import Origin
from leakwatch._base.model import Resource
from leakwatch._base.paths import is_user_file

KIND = "state"
_CAP = 20  # items listed per added/removed/changed
_TEXT_CAP = 160
_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASS|CRED|AUTH|PRIVATE", re.IGNORECASE)
_ENV_IGNORED = frozenset({"PYTEST_CURRENT_TEST"})  # pytest rewrites it every phase


class Named(NamedTuple):
    """A value shown as ``text``; ``obj``'s id (or ``token``) tells replacements apart."""

    text: str
    obj: object = None
    token: int | None = None


Raw = Mapping[str, object]  # key -> live value, as a reader returns it; never stored


@dataclass(frozen=True)
class Reading:
    """One registry, as plain data."""

    names: frozenset[str]
    texts: Mapping[str, str]  # key -> display text; empty for name-only registries
    tokens: Mapping[str, int]  # key -> id() (or hash) that changes when the value is replaced
    size: int


@dataclass(frozen=True)
class StateSnapshot:
    readings: Mapping[str, Reading]


@dataclass(frozen=True)
class RegistryProbe:
    name: str
    noun: str
    read: Callable[[], Raw | frozenset[str] | None]  # None: not available here and now
    objects: bool = False  # values are objects worth a creation stack
    #: For registries read as text (``sys.path``): key -> the live entry, to
    #: ask tracemalloc where an added entry was made.
    live: Callable[[], Mapping[str, object]] | None = None
    keyed: bool = False  # the key says what the value is: show "key=text"
    counts: bool = False  # values are counts: size is their sum


# -- readers -------------------------------------------------------------------


def _by_value(items: Sequence[Any], key: Callable[[Any], str] = str) -> dict[str, object]:
    """Keyed by ``key(item)``, repeats numbered: append-then-remove is silent, a repeat seen."""
    out: dict[str, object] = {}
    for item in items:
        first = key(item)
        name, n = first, 1
        while name in out:
            n += 1
            name = f"{first} #{n}"
        out[name] = item
    return out


def _by_identity(objs: Sequence[object]) -> dict[str, object]:
    return {f"{id(o):#x}": o for o in list(objs)}


class _AtexitSpy:
    """Handed to ``atexit.unregister``, which compares it with every live callback.

    No API lists the callbacks (``_ncallbacks()`` counts unregistered ones too), but
    ``unregister`` asks ``callback == spy``; for functions, methods and partials
    that falls through to ``spy.__eq__``, which notes a description and matches none.
    """

    def __init__(self) -> None:
        self.seen: list[Named] = []

    def __eq__(self, other: object) -> bool:
        self.seen.append(Named(_describe(other), other))
        return False

    __hash__ = None  # type: ignore[assignment]


def _atexit() -> Raw:
    spy = _AtexitSpy()
    atexit.unregister(spy)  # type: ignore[arg-type]  # compared, never called
    return _by_value(spy.seen, key=lambda n: f"{id(n.obj):#x}")


def _loggers() -> list[tuple[str, Any]] | None:
    logging = sys.modules.get("logging")  # never import what the program didn't
    if logging is None:
        return None
    items = list(logging.Logger.manager.loggerDict.items())  # placeholders are no loggers
    return [("root", logging.root), *((n, lg) for n, lg in items if isinstance(lg, logging.Logger))]


def _logger_names() -> Raw | None:
    loggers = _loggers()
    return None if loggers is None else {n: Named(repr(n), lg) for n, lg in loggers[1:]}


def _handlers() -> Raw | None:
    loggers = _loggers() or []
    return {
        f"{name}|{id(h):#x}": Named(f"{_repr(h)} on logger {name!r}", h)
        for name, lg in loggers
        for h in list(lg.handlers)
    }


def _log_levels() -> Raw | None:
    loggers = _loggers()
    if not loggers:
        return None
    get_name = sys.modules["logging"].getLevelName
    out: dict[str, object] = {"logging.disable": get_name(loggers[0][1].manager.disable)}
    for name, lg in loggers:  # root always; others once someone set a level or disabled them
        if lg.level or lg.disabled or name == "root":
            out[name] = get_name(lg.level) + (" (disabled)" if lg.disabled else "")
    return out


def _warning_filters() -> Raw:
    """Each filter as ``-W`` spells it: action:message:category:module:lineno."""
    texts = []
    for action, message, category, module, lineno in list(warnings.filters):
        parts = [action, getattr(message, "pattern", ""), getattr(category, "__name__", "?")]
        parts += [getattr(module, "pattern", ""), str(lineno or "")]
        texts.append(":".join(parts).rstrip(":"))
    return _by_value(texts)


_module_dict = vars(types.ModuleType)["__dict__"].__get__


def _warning_registries() -> Raw:
    # The raw __dict__ slot: getattr could run a module's __getattr__ or load a lazy module.
    # A registry holding only its "version" (warnings resets it so when the
    # filters change) has no entries: it counts as absent, not as "+0 entries".
    counts = {
        name: len(reg) - ("version" in reg)
        for name, mod in list(sys.modules.items())
        if isinstance(mod, types.ModuleType)
        and (reg := _module_dict(mod).get("__warningregistry__"))
    }
    return {name: n for name, n in counts.items() if n > 0}


_CATCHABLE = sorted(
    set(signal.valid_signals())
    - {getattr(signal, n) for n in ("SIGKILL", "SIGSTOP") if hasattr(signal, n)}
)
_DISPOSITIONS = {int(signal.SIG_DFL): "SIG_DFL", int(signal.SIG_IGN): "SIG_IGN"}
_SIGNAL_NAMES = {s: s.name if isinstance(s, signal.Signals) else f"signal {s}" for s in _CATCHABLE}


def _signals() -> Raw | None:
    if threading.current_thread() is not threading.main_thread():
        return None  # handlers are set from the main thread only: compare there
    # _signal.getsignal: signal.getsignal's enum conversion raises and catches a
    # ValueError for every Python handler, 15x the cost of the read itself.
    handlers = [(s, _signal.getsignal(s)) for s in _CATCHABLE]
    return {_SIGNAL_NAMES[s]: _DISPOSITIONS.get(h, h) if type(h) is int else h for s, h in handlers}


@functools.lru_cache(maxsize=4096)
def _is_secret(key: str) -> bool:
    return _SECRET.search(key) is not None  # memoised: the regex was most of a snapshot


def _environ() -> Raw:
    return {
        key: Named("<hidden>", token=hash(value)) if _is_secret(key) else _cap(repr(value))
        for key, value in os.environ.copy().items()
        if key not in _ENV_IGNORED
    }


def _cwd() -> Raw:
    try:
        return {"cwd": repr(os.getcwd())}
    except OSError:  # removed under us: that too is a change
        return {"cwd": "<removed>"}


def _event_loop_policy() -> Raw | None:
    events, asyncio = sys.modules.get("asyncio.events"), sys.modules.get("asyncio")
    if events is None or asyncio is None:
        return None
    # The private slot: get_event_loop_policy() would create one.  "Not created yet"
    # and "an instance of the default class" read the same: the first asyncio.run()
    # is silent, a custom policy is seen.
    policy = getattr(events, "_event_loop_policy", None)
    if policy is None or type(policy) is getattr(asyncio, "DefaultEventLoopPolicy", None):
        return {"asyncio.policy": "default"}
    return {"asyncio.policy": Named(_qualname(type(policy)), policy)}


def _socket_timeout() -> Raw:
    socket = sys.modules.get("socket")
    return {"socket.defaulttimeout": socket.getdefaulttimeout() if socket else None}


def _recursion_limit() -> Raw:
    return {"sys.recursionlimit": sys.getrecursionlimit()}


_HAVE_PROC_STATUS = sys.platform.startswith("linux") and os.path.exists("/proc/self/status")


def _umask() -> Raw | None:
    # os.umask() reads only by setting, racing other threads; Linux shows it in /proc.
    if not _HAVE_PROC_STATUS:
        return None
    # Bytes: a text codec could be the probe's own first import (sys.modules noise).
    with _recording.quiet(), open("/proc/self/status", "rb") as f:
        umask = [line.split()[1].decode() for line in f if line.startswith(b"Umask:")]
    return {"umask": umask[0]} if umask else None  # no Umask line before Linux 4.7


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
            lead = f"+{per_call:g} {_plural(probe.noun, per_call)} per call"
            out.append(_resource(probe, first, last, lead, growth_per_call=per_call, sizes=series))
    return out


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
        parts.append(f"{delta:+d} {_plural(probe.noun, delta)} ({b.size} -> {a.size})")
        parts[-1] += " in " + _listing([repr(k) for k in where], len(where)) if where else ""
    else:
        for sign, what in (("+", "added"), ("-", "removed")):
            if counts[what]:
                n, listing = counts[what], _listing(shown[what], counts[what])
                parts.append(f"{sign}{n} {_plural(probe.noun, n)} {listing}")
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
        parts = gc.get_referents(obj)
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


def _plural(noun: str, n: float) -> str:
    if abs(n) == 1:
        return noun
    return noun[:-1] + "ies" if noun.endswith("y") else noun + "s"


def _cap(text: str) -> str:
    return text if len(text) <= _TEXT_CAP else text[: _TEXT_CAP - 3] + "..."


def _repr(obj: object) -> str:
    try:
        return _cap(repr(obj))
    except Exception:  # a user's repr may fail; the probe must not
        return f"<{_qualname(type(obj))} (repr failed)>"


def _qualname(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or "?"
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if module and module != "builtins" else str(name)


_NAMED_KINDS = (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def _describe(obj: object) -> str:
    """Short text for a registry object: a qualname, or a repr that says something."""
    if isinstance(obj, _NAMED_KINDS):
        return _qualname(obj)
    if type(obj).__repr__ is object.__repr__:  # "<x object at 0x...>": the type says as much
        return f"{_qualname(type(obj))} object"
    return _repr(obj)
