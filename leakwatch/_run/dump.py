"""SIGUSR1: "why is it still running?" -- the current state, with stacks, on stderr.

``kill -USR1 <pid>`` while ``leakwatch run`` watches a program prints the
counts, the stack of every thread (with where it was started, when that was
seen) and every pending asyncio task (with where it is suspended), then lets
the program go on.  The handler runs between two bytecodes of the main
thread, as any Python signal handler does; system calls it interrupts are
retried (PEP 475), so the program does not notice.  So the state is printed
at once when the main thread sleeps, waits on a lock or does I/O, and only
after a long computation in C code returns.

A forked child gets the default action back (SIGUSR1 kills it, as under
python).  The handler is installed only when SIGUSR1 still has its default action: a
program started with it ignored, or one that installs its own handler later,
keeps its own (leakwatch's handler is then simply replaced, and it is not
put back at the end).  Unix only; elsewhere nothing is installed.

Must not change the program's state: it only reads and prints.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

from leakwatch._attribution import recording as _recording
from leakwatch._attribution import records as _records
from leakwatch._attribution.stacks import to_origin
from leakwatch._base.wording import format_size
from leakwatch._probes.tasks import iter_tasks, suspended_at
from leakwatch._probes.threads import INTERNAL_PREFIX
from leakwatch._run.program import is_runner_file

HAVE_SIGUSR1 = hasattr(signal, "SIGUSR1")


def install(
    describe: Callable[[FrameType | None], str], erase: Callable[[], None]
) -> Callable[[], None]:
    """Install the handler if SIGUSR1 is free; return the function that removes it."""
    if not HAVE_SIGUSR1 or threading.get_ident() != threading.main_thread().ident:
        return lambda: None
    if signal.getsignal(signal.SIGUSR1) is not signal.SIG_DFL:
        return lambda: None

    def on_usr1(signum: int, frame: FrameType | None) -> None:
        try:
            text = describe(frame)
        except Exception as exc:  # never disturb the program over a diagnostic
            text = f"leakwatch: cannot print the state: {type(exc).__name__}: {exc}"
        try:
            erase()
            os.write(2, (text + "\n").encode(errors="replace"))
        except OSError:
            pass

    signal.signal(signal.SIGUSR1, on_usr1)
    pid, live = os.getpid(), [on_usr1]  # emptied by remove(): the hook keeps nothing

    def in_child() -> None:  # a forked child (a pool's worker) dies of it, as under python
        if os.getpid() != pid and live and signal.getsignal(signal.SIGUSR1) is live[0]:
            signal.signal(signal.SIGUSR1, signal.SIG_DFL)

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=in_child)

    def remove() -> None:
        live.clear()
        if threading.current_thread() is not threading.main_thread():
            return  # the reports after a SIGTERM: the process dies with it in place
        if signal.getsignal(signal.SIGUSR1) is on_usr1:
            signal.signal(signal.SIGUSR1, signal.SIG_DFL)

    return remove


def describe_state(
    label: str, elapsed: float, counts: dict[str, Any], frame: FrameType | None
) -> str:
    """The text SIGUSR1 prints; ``frame`` is where the main thread was interrupted."""
    heap = counts.get("heap")
    lines = [
        f"leakwatch: state of {label} after {elapsed:.1f} s (pid {os.getpid()}, SIGUSR1)",
        f"  rss {format_size(counts.get('rss') or 0)}"
        + (f", traced heap {format_size(heap)}" if heap is not None else "")
        + f", fds {counts.get('fds')}, threads {counts.get('threads')}, "
        f"tasks {counts.get('tasks')}, children {counts.get('children')}",
    ]
    with _recording.quiet():
        lines += _threads(frame)
        lines += _tasks()
    # A closing line: the state is often read interleaved with the program's output.
    lines += ["", "leakwatch: end of state; the program goes on"]
    return "\n".join(lines)


def _threads(main_frame: FrameType | None) -> list[str]:
    frames = sys._current_frames()
    main = threading.main_thread()
    lines: list[str] = []
    for thread in threading.enumerate():
        if thread.name.startswith(INTERNAL_PREFIX):
            continue
        frame = main_frame if thread is main else frames.get(thread.ident or -1)
        flavour = "main" if thread is main else ("daemon" if thread.daemon else "non-daemon")
        lines.append("")
        lines.append(f"  thread {thread.name!r} ({flavour})")
        rec = _records.threads.get(thread)
        if rec is not None:
            origin = to_origin(rec.stack, rec.parent)
            if origin:
                f = origin[-1]
                lines.append(f"    started at {f.filename}:{f.lineno} in {f.function}")
        lines += _stack(frame)
    del frames
    return lines


def _stack(frame: FrameType | None) -> list[str]:
    if frame is None:
        return ["    (no Python frame)"]
    summary = traceback.StackSummary.extract(traceback.walk_stack(frame), limit=40)
    shown = [fs for fs in reversed(summary) if not is_runner_file(fs.filename)]
    return ["    " + line for fs in shown for line in _format_frame(fs)]


def _format_frame(fs: traceback.FrameSummary) -> list[str]:
    out = [f'File "{fs.filename}", line {fs.lineno}, in {fs.name}']
    if fs.line:
        out.append(f"  {fs.line.strip()}")
    return out


def _tasks() -> list[str]:
    lines: list[str] = []
    try:
        tasks = [t for t in iter_tasks() if not t.done()]
    except RuntimeError:
        return ["", "  tasks: changed while being listed; send SIGUSR1 again"]
    for task in tasks[:100]:
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", type(coro).__name__)
        lines += ["", f"  task {task.get_name()!r} running {name}()"]
        for f in suspended_at(coro):
            lines.append(f'    File "{f.filename}", line {f.lineno}, in {f.function}')
            if f.line:
                lines.append(f"      {f.line}")
    if len(tasks) > 100:
        lines.append(f"  ... {len(tasks) - 100} more tasks")
    return lines
