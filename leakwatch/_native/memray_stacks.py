"""Native allocation stacks, per call, from memray (the ``pyleakwatch[native]`` extra).

memray records every ``malloc``/``free`` with its native and Python stacks.
leakwatch runs it only around a few attribution calls, after the counters
have already judged native growth; between calls it makes one allocation of
a size no one else asks for, so the record stream can be cut into calls.
Replaying the stream gives, per stack, the bytes each call allocated and
that were still held when the last call returned; a stack that kept memory
from *every* call is where the growth was allocated.

memray sees allocations made through the symbol tables it patches: C
extensions and libraries loaded by the dynamic linker.  A function pointer
taken before tracking began (ctypes' ``CDLL(...).malloc``) calls the
allocator directly and is not seen; :mod:`leakwatch._native.lines` covers it.

Must not be required: without memray the rest of leakwatch works and
the report says how to get native stacks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from leakwatch._base.paths import is_own

#: How to turn native stacks on, for reports.
HOW_TO = "native allocation stacks need memray: pip install 'pyleakwatch[native]' (Linux, macOS)"

#: Cut marks: the i-th is bytearray(MARK + i * _STEP), a size nobody else asks for; the
#: allocator sees a few bytes more (the NUL, debug hooks' guards), less than _SLACK.
MARK = 129_001
_STEP = 256
_SLACK = 128
_MAX_CALLS = 64

#: Functions of CPython's own allocators: memory tracemalloc already explains.
_PYTHON_ALLOCATORS = (
    "_PyObject_",
    "PyObject_Malloc",
    "PyObject_Calloc",
    "PyObject_Realloc",
    "_PyMem_",
    "PyMem_",
    "tracemalloc_",
    "_PyTraceMalloc",
    "PyTraceMalloc",
)
#: Where the native part of a stack meets the interpreter: frames from here
#: on are CPython calling into the extension, folded unless -v.
_INTERPRETER = (
    "_PyEval_",
    "PyEval_",
    "_PyObject_MakeTpCall",
    "_PyObject_Call",
    "PyObject_Call",
    "PyObject_Vectorcall",
    "_PyObject_Vectorcall",
    "_PyFunction_Vectorcall",
    "cfunction_",
    "method_vectorcall",
    "_PyCFunction",
    "PyCFuncPtr_call",
    "_ctypes_callproc",
)
_ALLOC = {6, 7, 8, 9, 10, 11, 12, 13, 14}  # memray.AllocatorType: MALLOC .. MMAP
_FREE = {5, 15}  # FREE, MUNMAP


def available() -> bool:
    try:
        import memray  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Site:
    """One native allocation stack and what each attribution call left at it."""

    python: list[tuple[str, str, int]]  # (function, filename, lineno), innermost first
    native: list[tuple[str, str, int]]
    per_call: list[int] = field(default_factory=list)


class Recorder:
    """memray around the attribution calls: :meth:`start` before the first,
    :meth:`cut` after each, :meth:`sites` at the end.

    Started from leakwatch's own frames, which return before the calls run,
    memray loses the Python stack above the calls (their records carry
    native frames only); the Python line comes from the line tracer that
    runs in the same calls (:mod:`leakwatch._native.lines`).
    """

    def __init__(self) -> None:
        self.error: str | None = None
        self.calls = 0  # calls recorded
        self._dir: str | None = None
        self._tracker: Any = None
        self._on = False
        self._pipes: dict[int, str] | None = None

    def _prepare(self) -> bool:
        """The tracker and its file."""
        if self._tracker is not None or self.error:
            return False
        try:
            import memray

            from leakwatch._attribution import recording as _recording

            with _recording.quiet():  # leakwatch's own file: not the program's temp dir
                self._dir = tempfile.mkdtemp(prefix="leakwatch-native-")
            self._pipes = _pipes()
            self._tracker = memray.Tracker(
                os.path.join(self._dir, "calls.bin"),
                native_traces=True,
                memory_interval_ms=60_000,
                follow_fork=False,
            )
        except Exception as exc:
            self.error = f"memray could not start: {exc}"
            self._tracker = None
            self._cleanup()
            return False
        return True

    def _enter(self) -> None:
        try:
            self._tracker.__enter__()
            self._on = True
        except Exception as exc:  # another Tracker active (pytest --memray), ...
            self.error = f"memray could not start: {exc}"

    def start(self) -> bool:
        """Start recording now (leakwatch run's windows: from the sampler thread)."""
        if self._prepare():
            self._enter()
        return self._on

    def cut(self) -> None:
        """Mark the end of one call in the record stream."""
        if self._pipes is not None and self._on:
            _own_pipes(self._pipes)
            self._pipes = None
        if self._on and self.calls < _MAX_CALLS:
            mark = bytearray(MARK + self.calls * _STEP)
            del mark
            self.calls += 1

    def stop(self) -> None:
        tracker, self._tracker = self._tracker, None
        on, self._on = self._on, False
        if self._pipes is not None and on:
            _own_pipes(self._pipes)
            self._pipes = None
        if tracker is not None and on:
            with contextlib.suppress(Exception):
                tracker.__exit__(None, None, None)

    def sites(self) -> list[Site]:
        """Stacks that kept memory from every recorded call, largest first."""
        self.stop()
        if self._dir is None or self.calls < 2:
            return []
        try:
            return _replay(os.path.join(self._dir, "calls.bin"), self.calls)
        except Exception as exc:
            self.error = f"memray's records could not be read: {exc}"
            return []
        finally:
            self._cleanup()

    def kept(self) -> list[Site]:
        """Stacks that still held memory allocated while recording, when it stopped."""
        self.stop()
        if self._dir is None:
            return []
        try:
            return _replay(os.path.join(self._dir, "calls.bin"), 1)
        except Exception as exc:
            self.error = f"memray's records could not be read: {exc}"
            return []
        finally:
            self._cleanup()

    def discard(self) -> None:
        self.stop()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _pipes() -> dict[int, str]:
    from leakwatch._base.platform import list_fds

    return {fd: t for fd, t in list_fds().items() if t.startswith("pipe:")}


def _own_pipes(before: dict[int, str]) -> None:
    """memray's unwinder (libunwind) opens a pipe once per process and keeps it."""
    from leakwatch._probes.fds import OWN

    for fd, target in _pipes().items():
        if before.get(fd) != target:
            OWN[(fd, target)] = (
                "memray's unwinder pipe, opened once per process (pyleakwatch[native])"
            )


def _replay(path: str, calls: int) -> list[Site]:
    import memray

    live: dict[int, tuple[int, int, Any]] = {}  # address -> (size, call, record)
    call = 0
    with memray.FileReader(path) as reader:
        for rec in reader.get_allocation_records():
            kind = int(rec.allocator)
            if kind in _FREE:
                live.pop(rec.address, None)
            elif kind in _ALLOC:
                if call < calls and 0 < rec.size - (MARK + call * _STEP) < _SLACK:
                    call += 1
                    continue
                live[rec.address] = (rec.size, call, rec)
        # memray's stack ids differ between calls from one line (the caller's
        # instruction differs): group by the stacks themselves, resolved once per id.
        resolved: dict[tuple[int, int], tuple[Any, ...] | None] = {}
        by_stack: dict[tuple[Any, ...], list[Any]] = {}
        for size, index, rec in live.values():
            if index >= calls:
                continue  # after the last cut: leakwatch's own bookkeeping
            ids = (rec.stack_id, rec.native_stack_id)
            if ids not in resolved:
                resolved[ids] = _resolve(rec)
            key = resolved[ids]
            if key is None:
                continue
            entry = by_stack.get(key)
            if entry is None:
                entry = by_stack[key] = [[0] * calls, key]
            entry[0][index] += size
        out = []
        for per_call, (python, native) in by_stack.values():
            if all(per_call):
                out.append(Site(list(python), list(native), per_call))
    live.clear()
    out.sort(key=lambda s: -sum(s.per_call))
    return out


def _resolve(rec: Any) -> tuple[Any, ...] | None:
    """(Python frames, native frames) of a record, or None for Python's own or leakwatch's."""
    native = tuple(tuple(f) for f in rec.native_stack_trace())
    if _python_allocation(native):
        return None
    python = tuple(tuple(f) for f in rec.stack_trace())
    if _own(python):
        return None
    # leakwatch's frames below the user's vary (memray starts inside one): not part of the key
    return tuple(f for f in python if not is_own(f[1])), native


def _python_allocation(native: tuple[tuple[str, str, int], ...]) -> bool:
    return any(function.startswith(_PYTHON_ALLOCATORS) for function, _, _ in native[:3])


def _own(python: tuple[tuple[str, str, int], ...]) -> bool:
    """leakwatch's own allocation: its frame comes before any other."""
    return bool(python) and is_own(python[0][1])


def fold(native: list[tuple[str, str, int]]) -> int:
    """How many of the innermost native frames to show by default: up to the interpreter."""
    for i, (function, _, _) in enumerate(native):
        if function.startswith(_INTERPRETER):
            return max(1, i)
    return min(len(native), 8)
