"""What leakwatch raises and warns: every error it raises is here.

::

    Exception
     └── LeakwatchError           anything leakwatch raises (catch this one)
          ├── LeakError           a watched block, check or test leaked (.report);
          │                       also an AssertionError
          ├── LeakFailure         the unittest runner's failure of a test that
          │                       leaked (its text is the report); also an
          │                       AssertionError
          ├── ConfigError         a setting, rule or file leakwatch cannot use:
          │                       one line naming the key and the file; also
          │                       a ValueError
          ├── MarkerError         a ``@pytest.mark.leakwatch`` the plugin cannot
          │                       use; also a ValueError
          ├── UsageError          a unittest runner option it cannot use
          ├── OutputError         a report file that cannot be written or read
          ├── TargetError         ``leakwatch run``'s target cannot start (.status)
          ├── DiffError           ``leakwatch diff`` input that is not a snapshot
          │                       or report
          ├── QueryError          a debug page's query it cannot answer (HTTP 400)
          └── BusyError           a debug page that cannot answer now (HTTP 409)
    UserWarning
     └── LeakWarning              a leak, when on_leak="warn" (.report)
    RuntimeWarning
     └── LeakwatchInternalWarning leakwatch itself failed; the program goes on
                                  (shown, never raised: see internal_error)

Every message but a leak's is one line.  Exit codes of ``leakwatch run``
live in ``leakwatch._cli``.
"""

from __future__ import annotations

import os
import sys
import warnings
from types import FrameType

from leakwatch._base.wording import one_line
from leakwatch._report.report import Report


class LeakwatchError(Exception):
    """Anything leakwatch raises: a leak, or input it cannot use (one line)."""

    __module__ = "leakwatch"  # the public name


class LeakError(LeakwatchError, AssertionError):
    """A watched block, check or test left something behind."""

    __module__ = "leakwatch"  # the public name, in tracebacks and for pickle

    def __init__(self, report: Report) -> None:
        self.report = report
        super().__init__(report.format())

    def __reduce__(self) -> tuple[type[LeakError], tuple[Report]]:
        return type(self), (self.report,)


class LeakFailure(LeakwatchError, AssertionError):
    """The failure the unittest runner reports for a test that leaked; its text is the report."""


class ConfigError(LeakwatchError, ValueError):
    """A setting, rule or file leakwatch cannot use; the message is one line."""

    __module__ = "leakwatch"  # the public name


class MarkerError(LeakwatchError, ValueError):
    """A ``@pytest.mark.leakwatch`` the plugin cannot use; the message is one line."""


class UsageError(LeakwatchError):
    """A leakwatch option or setting the unittest runner cannot use; one line."""


class OutputError(LeakwatchError):
    """A report file that cannot be written or read; the message is one line."""


class TargetError(LeakwatchError):
    """``leakwatch run``'s target cannot be started; ``status`` is what python
    exits with then."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class DiffError(LeakwatchError):
    """``leakwatch diff`` input that cannot be diffed, in one line."""


class QueryError(LeakwatchError):
    """A debug page's query that cannot be answered (a mark or snapshot that
    is not there, a number out of range); one line."""


class BusyError(LeakwatchError):
    """A debug page that cannot answer now (a heap window is open already)."""


class LeakWarning(UserWarning):
    """Emitted instead of raising when ``on_leak="warn"``."""

    __module__ = "leakwatch"

    def __init__(self, report: Report) -> None:
        self.report = report
        super().__init__(report.format())

    def __reduce__(self) -> tuple[type[LeakWarning], tuple[Report]]:
        return type(self), (self.report,)


class LeakwatchInternalWarning(RuntimeWarning):
    """leakwatch failed internally; the watched program was not affected."""

    __module__ = "leakwatch"


def warn_at_caller(warning: Warning) -> None:
    """``warnings.warn(warning)`` as if from the innermost frame outside leakwatch.

    The user's own line, module and ``__warningregistry__``, as ``warnings.warn``
    would take them from that frame: the filters and "once"/"default"
    registries see the user's code, never leakwatch's.
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and _is_own(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is None:  # pragma: no cover - leakwatch is always called from somewhere
        warnings.warn(warning, stacklevel=2)
        return
    globals_ = frame.f_globals
    warnings.warn_explicit(
        warning,
        type(warning),
        frame.f_code.co_filename,
        frame.f_lineno,
        globals_.get("__name__", "<string>"),
        globals_.setdefault("__warningregistry__", {}),
        globals_,
    )


# The leakwatch package: this file sits one folder below it.
_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def internal_error(where: str, exc: BaseException) -> str:
    """Say that leakwatch failed in ``where``; return the report note for it.

    Shown as a :class:`LeakwatchInternalWarning` through
    :func:`warnings.showwarning`, which no warnings filter turns into an
    exception: under ``-W error`` or ``filterwarnings = error`` the watched
    block's own exception and a test's outcome stay what they were.  pytest
    records it in its warnings summary (as its own plugins' notices); else
    it goes to stderr.  A filter that ignores the category is honoured.
    Never raises.
    """
    detail = one_line(exc)
    note = f"internal error in {where}: {detail}"
    text = f"leakwatch: {note} (the program and its outcome are unaffected)"
    try:
        if not _ignored(text):
            filename, lineno = _caller()
            warnings.showwarning(
                LeakwatchInternalWarning(text), LeakwatchInternalWarning, filename, lineno
            )
    except Exception:  # a showwarning replaced by something that raises
        try:
            sys.stderr.write(text + "\n")
        except Exception:
            pass
    return note


def _ignored(text: str) -> bool:
    """Whether the first warnings filter matching us says "ignore"."""
    for action, message, category, module, lineno in warnings.filters:
        if not issubclass(LeakwatchInternalWarning, category):
            continue
        if message is not None and not message.match(text):
            continue
        if module is not None and not module.match("leakwatch"):
            continue
        if lineno:
            continue
        return bool(action == "ignore")
    return False


def _is_own(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_OWN_DIR + os.sep)


def _caller() -> tuple[str, int]:
    """The innermost frame outside leakwatch: where the user's code is."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _is_own(filename):
            return filename, frame.f_lineno
        frame = frame.f_back
    return __file__, 0


def internal_error_report(where: str, exc: BaseException) -> Report:
    """An empty report noting the fault (shown once, never raised: see internal_error)."""
    return Report(notes=[internal_error(where, exc) + "; nothing judged"])
