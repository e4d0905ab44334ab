"""SIGTERM (what CI sends at a timeout): the reports, then the death python would die.

Under python a SIGTERM with its default action ends the process at once: no
``finally`` blocks, no atexit handlers, buffered output lost, and the parent
sees the signal (a shell says 143).  Under ``leakwatch run`` it is treated as
Ctrl-C is: the reports are written, marked "not judged" (the program did not
end on its own), and then the process dies as python's would: leakwatch
puts the default action back and sends itself the signal again.  Nothing of
the program runs meanwhile; its buffered output is not flushed.

The reports are made by a ``leakwatch-terminate`` thread while the handler
waits for it at most :data:`BUDGET` seconds: the main thread may have been
stopped holding a lock the report needs, and a hang is worse than no
report.

A forked child (a pool's worker) gets the default action back as it is
forked, as under python: ``Pool.terminate()`` kills its workers with SIGTERM,
and one stuck in C code must still die of it, without a report of its own.

A SIGTERM that comes while leakwatch judges a finished program is kept until
the reports are written; one that comes after them, while python waits for
the threads still running, finds the default action back.  The handler is
installed only when SIGTERM has its default action; a program that installs
its own handler replaces it and keeps it, as under python (one that puts
back what ``signal.signal`` returned puts back leakwatch's).  Unix and
Windows alike; the main thread only.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from leakwatch._probes.threads import INTERNAL_PREFIX

#: Seconds the reports may take after a SIGTERM before the process dies without them.
BUDGET = 10.0
#: Exit status a shell reports for a process killed by SIGTERM.
TERMINATED = 128 + int(signal.SIGTERM)


class Terminate:
    """SIGTERM's handler for one run: ``report`` writes the not-judged reports."""

    def __init__(self, report: Callable[[], object], pid: int) -> None:
        self._report = report
        self._pid = pid
        self._installed = False
        self.judging = False  # the program ended: leakwatch is judging it
        self.pending = False  # a SIGTERM came while judging

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # ignored, or handled by whoever started leakwatch: theirs
        signal.signal(signal.SIGTERM, self._on_term)
        self._installed = True
        global _CURRENT
        _CURRENT = self
        if hasattr(os, "register_at_fork") and not _AT_FORK:
            os.register_at_fork(after_in_child=_default_in_child)
            _AT_FORK.append(True)

    def uninstall(self) -> None:
        """Put back the default action if leakwatch's handler is still the one."""
        global _CURRENT
        if self._installed and signal.getsignal(signal.SIGTERM) == self._on_term:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self._installed = False
        if _CURRENT is self:
            _CURRENT = None  # the fork hook keeps nothing of the run

    def finished(self) -> None:
        """The reports are written: a SIGTERM kept meanwhile ends the process now."""
        self.uninstall()
        if self.pending:
            die()

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:  # a forked child (a pool's worker): python's death, no report
            _default()
        if self.judging:
            self.pending = True
            return
        self.uninstall()
        worker = threading.Thread(
            target=self._report_safely, name=f"{INTERNAL_PREFIX}terminate", daemon=True
        )
        worker.start()
        worker.join(BUDGET)
        if worker.is_alive():
            _say("leakwatch: terminated (SIGTERM); the reports could not be written in time")
        die()

    def _report_safely(self) -> None:
        try:
            self._report()
        except Exception as exc:  # the signal's death must come whatever happened
            _say(f"leakwatch: terminated (SIGTERM); no report: {type(exc).__name__}: {exc}")


#: The run whose handler is installed, for :func:`_default_in_child`.
_CURRENT: Terminate | None = None
_AT_FORK: list[bool] = []


def _default_in_child() -> None:
    """A forked child (a pool's worker) gets SIGTERM's default action back, as
    under python: a worker stuck in C code must still die of it, and no child
    writes a report."""
    run = _CURRENT
    if run is not None and run._installed:
        try:
            if signal.getsignal(signal.SIGTERM) == run._on_term:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
        except (ValueError, OSError):  # not the main thread: the handler checks the pid
            pass


def _default() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    os._exit(TERMINATED)


def die() -> None:
    """End the process as SIGTERM's default action would, so the parent sees the signal."""
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass
    _default()  # os._exit where a signal cannot end the process (Windows)


def _say(text: str) -> None:
    try:
        os.write(2, (text + "\n").encode(errors="replace"))
    except OSError:
        pass
