"""leakwatch: find what a block, a test or a program leaves behind.

File descriptors, threads, asyncio tasks, child processes, temp files and
heap, each with the stack that created it and, for objects, what still holds
it.  See README.md for the three ways in: ``watch()``/``check()``, the pytest
plugin (``pytest --leakwatch``) and ``leakwatch run``.

The names below are re-exported lazily: pytest imports this package at every
start through the plugin entry point, and an inert plugin must cost nothing.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from leakwatch._config import Config, ConfigError, load_config
    from leakwatch._errors import LeakError, LeakWarning, LeakwatchInternalWarning
    from leakwatch._ignore import IgnoreRule, ignore
    from leakwatch._model import Frame, Leak, Report, Resource
    from leakwatch._watch import check, check_async, watch

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Config": "leakwatch._config",
    "ConfigError": "leakwatch._config",
    "Frame": "leakwatch._model",
    "IgnoreRule": "leakwatch._ignore",
    "Leak": "leakwatch._model",
    "LeakError": "leakwatch._errors",
    "LeakWarning": "leakwatch._errors",
    "LeakwatchInternalWarning": "leakwatch._errors",
    "Report": "leakwatch._model",
    "Resource": "leakwatch._model",
    "check": "leakwatch._watch",
    "check_async": "leakwatch._watch",
    "ignore": "leakwatch._ignore",
    "load_config": "leakwatch._config",
    "watch": "leakwatch._watch",
}

__all__ = [
    "Config",
    "ConfigError",
    "Frame",
    "IgnoreRule",
    "Leak",
    "LeakError",
    "LeakWarning",
    "LeakwatchInternalWarning",
    "Report",
    "Resource",
    "__version__",
    "check",
    "check_async",
    "ignore",
    "load_config",
    "watch",
]


def __getattr__(name: str) -> _typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'leakwatch' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
