"""Child processes (and their children), keyed by (pid, start time); zombies included.

A child that already exited but was never waited for is a zombie: it is
reported, after giving Python's own reaping (``subprocess`` and
``multiprocessing`` clean-ups) a chance while settling.

A grandchild (a process one of our children started) belongs to the child
it descends from: it is new only if that child is, it was made when and
where that child was made, and whoever holds that child's ``Popen`` holds
it.  A worker process that a wider fixture runs starts processes of its own
while tests run; none of them is a test's.  Never match a grandchild's
command line against this process's spawn records: a test that runs the
same command itself would be charged for the worker's.
"""

from __future__ import annotations

import os
import shlex
import sys
import weakref
from collections.abc import Hashable
from typing import Any

import psutil

from leakwatch._attribution import recording as _recording
from leakwatch._attribution import records as _records
from leakwatch._attribution.stacks import to_origin
from leakwatch._base.model import Resource
from leakwatch._base.platform import list_children, parent_pid, unreaped_child
from leakwatch._probes.protocol import Probe, Snapshot


def _reap() -> None:
    """Let Python reap children whose Popen/Process objects were dropped."""
    sp = sys.modules.get("subprocess")
    cleanup = getattr(sp, "_cleanup", None)
    if cleanup is not None:
        cleanup()
    mp = sys.modules.get("multiprocessing")
    if mp is not None:
        mp.active_children()


def _match(cmdline: list[str], since: int) -> _records.Record | None:
    """The spawn record whose argv is this command line (latest first)."""
    for argv, rec in reversed(_records.spawns):
        if rec.serial <= since or not argv:
            continue
        if list(argv) == cmdline or (
            cmdline
            and os.path.basename(argv[0]) == os.path.basename(cmdline[0])
            and argv[1:] == tuple(cmdline[1:])
        ):
            return rec
    return None


def _popen_objects() -> dict[int, Any]:
    """pid -> the live ``subprocess.Popen`` (or ``multiprocessing`` process) for it."""
    import gc

    types_: tuple[type, ...] = ()
    for module, name in (("subprocess", "Popen"), ("multiprocessing.process", "BaseProcess")):
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type):
            types_ += (cls,)
    out: dict[int, Any] = {}
    if not types_:
        return out
    objects = gc.get_objects()
    try:
        for obj in objects:
            if issubclass(type(obj), types_):
                pid = getattr(obj, "pid", None)  # standard-library attributes only
                if isinstance(pid, int):
                    out.setdefault(pid, obj)
    finally:
        del objects
    return out


#: The last heap scan's answer (weak references: no user's object kept), the
#: creation epoch it was taken at, and the children asked about since that it
#: did not have.  A leftover child's owner and command line are asked a dozen
#: times a stop (each look places it, describing reads it), each a scan of
#: the whole heap.  A ``Popen`` or ``Process`` gets its pid by starting a
#: child, an audited call that moves the epoch while recording is on; a
#: child asked about is already running, so an object for it was there for
#: the scan that did not find it.  Any other answer scans again.
_scanned: tuple[int, dict[int, weakref.ref[Any]], set[int]] | None = None


def _popen_of(pid: int) -> Any:
    """The live ``subprocess.Popen`` (or ``multiprocessing`` process) for
    child ``pid``, or None: the last scan's answer while it stands."""
    global _scanned
    epoch = _recording._epoch if _recording.is_recording() else None
    last = _scanned
    if last is not None and last[0] == epoch:
        ref = last[1].get(pid)
        obj = ref() if ref is not None else None
        if obj is not None and getattr(obj, "pid", None) == pid:
            return obj
        if ref is None and pid in last[2]:
            return None
    found = _popen_objects()
    try:
        refs = {child: weakref.ref(obj) for child, obj in found.items()}
        _scanned = None if epoch is None else (epoch, refs, set() if pid in found else {pid})
    except TypeError:  # not weakly referenceable: not kept
        _scanned = None
    return found.get(pid)


def _popen_argv(pid: int) -> list[str]:
    args = getattr(_popen_of(pid), "args", None)  # subprocess.Popen's own
    if isinstance(args, (str, bytes, os.PathLike)):
        return [os.fsdecode(args)]
    if isinstance(args, (list, tuple)):
        try:
            return [os.fsdecode(a) for a in args]
        except TypeError:
            return []
    return []


def _record_for(pid: int, cmdline: list[str], since: int) -> _records.Record | None:
    """The spawn (or fork) record of a child started after serial ``since``."""
    rec = _match(cmdline, since) if cmdline else None
    if rec is None:
        argv = _popen_argv(pid)
        rec = _match(argv, since) if argv and argv != cmdline else None
    if rec is None:
        forks = [r for r in _records.forks if r.serial > since]
        rec = forks[-1] if forks else None
    return rec


def child_of(pid: int) -> int:
    """The child of this process that ``pid`` descends from (``pid`` itself
    for a child, or when the line cannot be followed)."""
    me, at = os.getpid(), pid
    for _ in range(64):
        parent = parent_pid(at)
        if parent == me:
            return at
        if parent is None or parent <= 1:
            break
        at = parent
    return pid


def _cmdline(pid: int) -> list[str]:
    try:
        cmdline: list[str] = psutil.Process(pid).cmdline()
    except psutil.Error:
        cmdline = []
    return cmdline or _popen_argv(pid)


class ProcessProbe(Probe):
    kind = "process"

    def creation(self, key: Hashable, value: Any, since: int) -> _records.Record | None:
        """How the child (for a grandchild: the child it descends from) was
        started (when, from which thread), if seen."""
        with _recording.quiet():  # its reads of /proc are leakwatch's own
            child = child_of(value)
            return _record_for(child, _cmdline(child), since)

    def recorded(self) -> list[_records.Record]:
        """Every record :meth:`creation` may return."""
        return [rec for _, rec in list(_records.spawns)] + list(_records.forks)

    def owner(self, key: Hashable, value: Any) -> Any:
        """The ``Popen``/``Process`` object of a leftover child (of the child a
        grandchild descends from), if Python holds one."""
        with _recording.quiet():
            return _popen_of(child_of(value))

    def snapshot(self) -> Snapshot:
        children = list_children()
        return {(pid, ticks): pid for pid, ticks in children.items()} if children else {}

    def is_new(self, key: Hashable, value: Any, before: Snapshot) -> bool:
        if key in before:
            return False
        with _recording.quiet():
            child = child_of(value)
        # A grandchild of a child that was already there is that child's.
        return child == value or child not in before.values()

    def settle(self, new: Snapshot, timeout: float) -> None:
        if new:
            _reap()

    def waits_for_others(self, key: Hashable) -> bool:
        """A child that exited and was never waited for (a zombie) ends only
        when this process reaps it: another thread's wait, or the finaliser
        of a ``Popen`` dropped in a cycle (a gc pass); nothing runs toward
        that, as nothing closes a descriptor by itself.  A running child
        may still exit; a grandchild is its own parent's to reap."""
        with _recording.quiet():
            return unreaped_child(key[0])  # type: ignore[index]

    def waits_out(self, key: Hashable, value: Any, budget: float) -> bool:
        return self.waits_for_others(key)

    def describe(self, key: Hashable, value: Any, since: int) -> Resource:
        with _recording.quiet():
            return self._describe(key, value, since)

    def _describe(self, key: Hashable, value: Any, since: int) -> Resource:
        pid: int = value
        details: dict[str, Any] = {"pid": pid}
        cmdline: list[str] = []
        status = "gone"
        try:
            proc = psutil.Process(pid)
            status = proc.status()
            cmdline = proc.cmdline()
            details["ppid"] = proc.ppid()
        except psutil.ZombieProcess:
            status = "zombie"
        except psutil.Error:
            pass
        if not cmdline:  # a zombie: its Popen, if Python still holds one, knows the argv
            cmdline = _popen_argv(pid)
        details["cmdline"] = cmdline
        details["status"] = status
        rec = self.creation(key, pid, since)
        child = child_of(pid)
        if child != pid:
            details["child"] = child
        shown = shlex.join(cmdline)[:120] if cmdline else "?"
        state = "zombie: exited, never waited for" if status == "zombie" else status
        title = f"process {pid} {shown!r} ({state})"
        if child != pid:
            title += f", started by child process {child}"
        origin = to_origin(rec.stack, rec.parent) if rec is not None else ()
        if rec is None:
            title += ", start not seen"
        exe = os.path.basename(cmdline[0]) if cmdline else "?"
        return Resource("process", key, title, origin, details, group=exe)
