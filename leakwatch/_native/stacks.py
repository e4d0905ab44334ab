"""Native allocation stacks, per call, from memray (the ``leakwatch[native]`` extra).

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
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from leakwatch._stacks import is_own

#: How to turn native stacks on, for reports.
HOW_TO = "native allocation stacks need memray: pip install 'leakwatch[native]' (Linux, macOS)"

#: Cut marks: bytearray(MARK + i) allocates MARK + i + 1 bytes, a size nobody else asks for.
MARK = 129_001
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
    """memray around the attribution calls: :meth:`start`, :meth:`cut` between, :meth:`stop`."""

    def __init__(self) -> None:
        self.error: str | None = None
        self._dir: str | None = None
        self._tracker: Any = None
        self._calls = 0

    def start(self) -> bool:
        try:
            import memray

            self._dir = tempfile.mkdtemp(prefix="leakwatch-native-")
            self._tracker = memray.Tracker(
                os.path.join(self._dir, "calls.bin"),
                native_traces=True,
                memory_interval_ms=60_000,
                follow_fork=False,
            )
            before = _pipes()
            self._tracker.__enter__()
            warm = bytearray(MARK - 1)  # the first native unwind opens the unwinder's pipe
            del warm
            _own_pipes(before)
        except Exception as exc:  # another Tracker active (pytest --memray), ...
            self.error = f"memray could not start: {exc}"
            self._tracker = None
            self._cleanup()
            return False
        return True

    def cut(self) -> None:
        """Mark the end of one call in the record stream."""
        if self._tracker is not None and self._calls < _MAX_CALLS:
            mark = bytearray(MARK + self._calls)
            del mark
            self._calls += 1

    def stop(self) -> None:
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            with contextlib.suppress(Exception):
                tracker.__exit__(None, None, None)

    def sites(self, calls: int) -> list[Site]:
        """Stacks that kept memory from every one of ``calls`` calls, largest first."""
        self.stop()
        if self._dir is None:
            return []
        try:
            return _replay(os.path.join(self._dir, "calls.bin"), calls)
        except Exception as exc:
            self.error = f"memray's records could not be read: {exc}"
            return []
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _pipes() -> dict[int, str]:
    from leakwatch._platform import list_fds

    return {fd: t for fd, t in list_fds().items() if t.startswith("pipe:")}


def _own_pipes(before: dict[int, str]) -> None:
    """memray's unwinder (libunwind) opens a pipe once per process and keeps it."""
    from leakwatch._probes.fds import OWN

    for fd, target in _pipes().items():
        if before.get(fd) != target:
            OWN[(fd, target)] = "memray's unwinder pipe, opened once per process (leakwatch[native])"


def _replay(path: str, calls: int) -> list[Site]:
    import memray

    live: dict[int, tuple[int, int, Any]] = {}  # address -> (size, call, record)
    call = 0
    marks = {MARK + i + 1 for i in range(_MAX_CALLS)}
    with memray.FileReader(path) as reader:
        for rec in reader.get_allocation_records():
            kind = int(rec.allocator)
            if kind in _FREE:
                live.pop(rec.address, None)
            elif kind in _ALLOC:
                if rec.size in marks and call < calls and _is_mark(rec):
                    call += 1
                    continue
                live[rec.address] = (rec.size, call, rec)
        by_stack: dict[tuple[int, int], list[Any]] = {}
        for size, index, rec in live.values():
            if index >= calls:
                continue  # after the last cut: leakwatch's own bookkeeping
            key = (rec.stack_id, rec.native_stack_id)
            entry = by_stack.get(key)
            if entry is None:
                entry = by_stack[key] = [[0] * calls, rec]
            entry[0][index] += size
        out = []
        for per_call, rec in by_stack.values():
            if not all(per_call):
                continue
            native = [tuple(f) for f in rec.native_stack_trace()]
            python = [tuple(f) for f in rec.stack_trace()]
            if _python_allocation(native) or _own(python):
                continue
            out.append(Site(python, native, per_call))  # type: ignore[arg-type]
    live.clear()
    out.sort(key=lambda s: -sum(s.per_call))
    return out


def _is_mark(rec: Any) -> bool:
    stack = rec.stack_trace(max_stacks=1)
    return bool(stack) and stack[0][1] == __file__


def _python_allocation(native: list[tuple[str, str, int]]) -> bool:
    for function, _, _ in native[:3]:
        if function.startswith(_PYTHON_ALLOCATORS):
            return True
    return False


def _own(python: list[tuple[str, str, int]]) -> bool:
    return bool(python) and is_own(python[0][1])


def fold(native: list[tuple[str, str, int]]) -> int:
    """How many of the innermost native frames to show by default: up to the interpreter."""
    for i, (function, _, _) in enumerate(native):
        if function.startswith(_INTERPRETER):
            return max(1, i)
    return min(len(native), 8)
