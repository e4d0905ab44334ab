"""leakwatch: find what a block, a test or a program leaves behind.

File descriptors, threads, asyncio tasks, child processes, temp files and
heap, each with the stack that created it and, for objects, what still holds
it.  See README.md for the three ways in: ``watch()``/``check()``, the pytest
plugin (``pytest --leakwatch``) and ``leakwatch run``.
"""

from leakwatch._config import Config, ConfigError, load_config
from leakwatch._errors import LeakError, LeakWarning, LeakwatchInternalWarning
from leakwatch._ignore import IgnoreRule, ignore
from leakwatch._model import Frame, Leak, Report, Resource
from leakwatch._watch import check, check_async, watch

__version__ = "0.1.0"

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
