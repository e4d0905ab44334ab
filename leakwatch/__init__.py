"""leakwatch: find what a block, a test or a program leaves behind.

File descriptors, threads, asyncio tasks, child processes, temp files and
heap, each with the stack that created it and, for objects, what still holds
it.  See README.md for the three ways in: ``watch()``/``check()``, the pytest
plugin (``pytest --leakwatch``) and ``leakwatch run``.

The names below are re-exported lazily: pytest imports this package at every
start through the plugin entry point, and an inert plugin must cost nothing.

Re-exports only: no logic lives here, and no module inside the package
imports these names back from it (``tests/test_layout.py`` checks).
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from leakwatch._base.frames import Frame
    from leakwatch._base.model import Leak, Resource
    from leakwatch._report.errors import (
        ConfigError,
        LeakError,
        LeakWarning,
        LeakwatchError,
        LeakwatchInternalWarning,
    )
    from leakwatch._report.report import Report
    from leakwatch._rules.config import Config, load_config
    from leakwatch._rules.ignore import IgnoreRule, ignore
    from leakwatch._watch.checks import check, check_async
    from leakwatch._watch.watch import watch

from leakwatch._base.version import __version__

_EXPORTS: dict[str, str] = {
    "Config": "leakwatch._rules.config",
    "ConfigError": "leakwatch._report.errors",
    "Frame": "leakwatch._base.frames",
    "IgnoreRule": "leakwatch._rules.ignore",
    "Leak": "leakwatch._base.model",
    "LeakError": "leakwatch._report.errors",
    "LeakWarning": "leakwatch._report.errors",
    "LeakwatchError": "leakwatch._report.errors",
    "LeakwatchInternalWarning": "leakwatch._report.errors",
    "Report": "leakwatch._report.report",
    "Resource": "leakwatch._base.model",
    "check": "leakwatch._watch.checks",
    "check_async": "leakwatch._watch.checks",
    "ignore": "leakwatch._rules.ignore",
    "load_config": "leakwatch._rules.config",
    "watch": "leakwatch._watch.watch",
}

__all__ = [
    "Config",
    "ConfigError",
    "Frame",
    "IgnoreRule",
    "Leak",
    "LeakError",
    "LeakWarning",
    "LeakwatchError",
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
    # Not cached here: the module that defines a name is the one answer.  A
    # test framework that takes modules out of sys.modules and imports them
    # again (pytester's in-process runs) would otherwise leave this package
    # handing out the old ``watch`` beside a new ``LeakError``.
    return getattr(_importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
