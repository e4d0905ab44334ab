"""Readers of interpreter-wide registries, one small function per registry.

Modules and import hooks, ``atexit``, logging (loggers, handlers, levels),
warnings (filters, ``__warningregistry__``), signal handlers, the
environment, the working directory, the asyncio policy and process-wide
values.  Each returns ``key -> live value`` (``Raw``) for the state probe to
turn into plain data at once.  A reader must not change the registry it
reads, nor keep what it returns.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]
import atexit
import functools
import os
import re
import signal
import sys
import threading
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from leakwatch._attribution import recording as _recording
from leakwatch._base.platform import process_umask
from leakwatch._probes.state_values import Named, Raw, _cap, _describe, _qualname, _repr

_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASS|CRED|AUTH|PRIVATE", re.IGNORECASE)


_ENV_IGNORED = frozenset({"PYTEST_CURRENT_TEST"})  # pytest rewrites it every phase


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
    if threading.get_ident() != threading.main_thread().ident:
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


def _umask() -> Raw | None:
    # Bytes read, no file object: a text codec could be the probe's own first
    # import (sys.modules noise); platform reads /proc past a patched ``open``.
    with _recording.quiet():
        umask = process_umask()
    return {"umask": umask} if umask is not None else None
