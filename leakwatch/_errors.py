"""What leakwatch raises and warns.

::

    AssertionError
     └── LeakError            a watched block, check or test leaked (.report)
    UserWarning
     └── LeakWarning          the same, when on_leak="warn" (.report)
    RuntimeWarning
     └── LeakwatchInternalWarning   leakwatch itself failed; the program goes on
    ValueError
     └── ConfigError          bad configuration: one line naming the key and the file

Exit codes of ``leakwatch run`` live in ``leakwatch._cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leakwatch._model import Report


class LeakError(AssertionError):
    """A watched block, check or test left something behind."""

    def __init__(self, report: Report) -> None:
        self.report = report
        super().__init__(report.format())


class LeakWarning(UserWarning):
    """Emitted instead of raising when ``on_leak="warn"``."""

    def __init__(self, report: Report) -> None:
        self.report = report
        super().__init__(report.format())


class LeakwatchInternalWarning(RuntimeWarning):
    """leakwatch failed internally; the watched program was not affected."""
