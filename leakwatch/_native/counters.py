"""What the allocator holds, and how much of it Python's tracing explains.

One function per platform difference, chosen once:

- :func:`allocator_in_use` -> bytes the C allocator has handed out and not
  got back: glibc ``mallinfo2()`` (``uordblks + hblkhd``), older glibc
  ``mallinfo()`` (the same fields as ``int``: exact for deltas below 2 GiB),
  macOS ``malloc_zone_statistics`` (``size_in_use`` of every zone), and RSS
  elsewhere (coarse: whole pages, pymalloc's arenas included), with
  :data:`NOTE` saying so.
- :func:`python_malloc_bytes` -> the part of tracemalloc's traces that the
  C allocator served: blocks pymalloc passes on to ``malloc`` (larger than
  512 bytes), every block when pymalloc is off, and blocks of other domains
  (numpy's data, ...), each rounded up as the allocator would hold it.

pymalloc's small blocks live in arenas that CPython maps itself, so they are
in neither figure (except on the RSS fallback, where they are in both).

Must not judge growth: it only reads the numbers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import tracemalloc
from collections.abc import Callable, Iterable
from typing import Any

#: Why native figures are coarse here, or None where the allocator answers exactly.
NOTE: str | None = None
#: What :func:`allocator_in_use` reads, for reports.
SOURCE = "rss"

_SST = 8 if sys.maxsize > 2**32 else 4


_MALLINFO_FIELDS = (
    "arena",
    "ordblks",
    "smblks",
    "hblks",
    "hblkhd",
    "usmblks",
    "fsmblks",
    "uordblks",
    "fordblks",
    "keepcost",
)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO_FIELDS]


class _MallInfo(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in _MALLINFO_FIELDS]


class _ZoneStats(ctypes.Structure):
    _fields_ = [
        ("blocks_in_use", ctypes.c_uint),
        ("size_in_use", ctypes.c_size_t),
        ("max_size_in_use", ctypes.c_size_t),
        ("size_allocated", ctypes.c_size_t),
    ]


def _glibc() -> Callable[[], int] | None:
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    fn = getattr(libc, "mallinfo2", None)
    if fn is not None:
        fn.restype, fn.argtypes = _MallInfo2, []

        def mallinfo2() -> int:
            info = fn()
            return int(info.uordblks + info.hblkhd)

        return mallinfo2
    old = getattr(libc, "mallinfo", None)
    if old is None or not getattr(libc, "gnu_get_libc_version", None):
        return None
    old.restype, old.argtypes = _MallInfo, []

    def mallinfo() -> int:
        info = old()
        # int fields wrap at 2 GiB; deltas between two reads stay right.
        return int((info.uordblks & 0xFFFFFFFF) + (info.hblkhd & 0xFFFFFFFF))

    return mallinfo


def _darwin() -> Callable[[], int] | None:
    path = ctypes.util.find_library("c")
    if not path:
        return None
    libc = ctypes.CDLL(path)
    stats = getattr(libc, "malloc_zone_statistics", None)
    if stats is None:
        return None
    stats.restype, stats.argtypes = None, [ctypes.c_void_p, ctypes.POINTER(_ZoneStats)]

    def zones() -> int:
        out = _ZoneStats()
        stats(None, ctypes.byref(out))  # NULL zone: every zone added up
        return int(out.size_in_use)

    return zones


def _rss() -> int:
    import psutil

    try:
        return int(psutil.Process().memory_info().rss)
    except psutil.Error:
        return 0


def _choose() -> tuple[Callable[[], int], str, str | None]:
    if sys.platform.startswith("linux"):
        fn = _glibc()
        if fn is not None:
            return fn, "mallinfo2", None
    elif sys.platform == "darwin":
        fn = _darwin()
        if fn is not None:
            return fn, "malloc_zone_statistics", None
    return (
        _rss,
        "rss",
        f"native memory on {sys.platform} is read from RSS (no allocator statistics): "
        "coarse, whole pages, pymalloc's arenas included",
    )


allocator_in_use, SOURCE, NOTE = _choose()

#: Per-call growth below which native memory is not judged, in bytes: glibc's
#: per-thread caches keep freed chunks counted as in use, a few KiB a call
#: until they fill.  RSS moves by whole pages and arenas: a larger floor.
FLOOR = 4096 if SOURCE != "rss" else 64 * 1024


def _python_allocator() -> tuple[int, int]:
    """(largest block pymalloc serves, or 0 when it is off; debug hooks' bytes per block)."""
    name = os.environ.get("PYTHONMALLOC", "")
    debug = "debug" in name or hasattr(sys, "gettotalrefcount")
    if not name and sys.flags.dev_mode:
        debug = True
    small = 0 if name.startswith("malloc") else 512
    return small, (3 * _SST if debug else 0)


_SMALL, _EXTRA = _python_allocator()
_MMAP_AT = 128 * 1024
_PAGE = 4096


def chunk_size(size: int, extra: int = _EXTRA) -> int:
    """Bytes the allocator holds for a ``size``-byte request (glibc's chunk rule).

    Above the mmap threshold whole pages: an overestimate when the block was
    served from the heap instead, which errs towards "Python explains it".
    """
    n = size + extra + _SST
    if n >= _MMAP_AT:
        return (n + _SST + _PAGE - 1) & ~(_PAGE - 1)
    return max(4 * _SST, (n + 2 * _SST - 1) & ~(2 * _SST - 1))


#: Measured once (see :func:`calibrate`): allocator bytes tracemalloc keeps per
#: trace beyond what it reports as its own memory, and the allocator's bytes
#: beyond the asked size for a block Python passes on to it (chunk header,
#: rounding, debug hooks' guard bytes).
_per_trace: int | None = None
_per_block = 0


def calibrate() -> int:
    """Measure what a trace and a malloc'd block cost; once, with tracemalloc on.

    Small objects come from pymalloc's arenas, which the allocator figure does
    not hold: what it grows by while a few thousand live is tracemalloc's own
    bookkeeping.  Then as many bytes objects of about 1 KiB, malloc'd: what
    they cost beyond their size and their traces is the allocator's overhead.
    Layouts differ between Python versions and allocators, so both are
    measured rather than assumed.  Returns the per-trace cost.
    """
    global _per_trace, _per_block
    if _per_trace is not None:
        return _per_trace
    if not tracemalloc.is_tracing() or SOURCE == "rss":
        return 0
    n = 2000

    def own() -> int:
        return allocator_in_use() - tracemalloc.get_tracemalloc_memory()

    holder: list[Any] = [None] * n  # made first: its buffer is not measured
    before = own()
    for i in range(n):
        holder[i] = object()
    small = own() - before
    sizes = 0
    before = own()
    for i in range(n):
        block = b"x" * (1000 + i % 16)
        sizes += sys.getsizeof(block)
        holder[i] = block
    large = own() - before
    del holder, block
    _per_trace = max(0, round(small / n))
    # Each bytes object took the place (and the trace) of a small object: the
    # trace costs cancel out, what is left is the allocator's own per block.
    _per_block = max(0, round((large - sizes) / n))
    return _per_trace


def block_cost(size: int) -> int:
    """Allocator bytes for a ``size``-byte block Python passed on to it.

    Above the mmap threshold whole pages: an overestimate when the block was
    served from the heap instead, which errs towards "Python explains it".
    """
    if size >= _MMAP_AT:
        return (size + _EXTRA + 2 * _SST + _PAGE - 1) & ~(_PAGE - 1)
    return size + _per_block


def python_malloc_bytes(traces: Iterable[Any] | None = None) -> int:
    """What tracemalloc's live traces hold in the C allocator, with its own tables.

    ``traces`` are ``(domain, size, ...)`` tuples (``tracemalloc._get_traces()``);
    0 when tracemalloc is off.
    """
    if not tracemalloc.is_tracing():
        return 0
    if SOURCE == "rss":
        # RSS holds pymalloc's arenas too: every traced byte is Python's.
        return tracemalloc.get_traced_memory()[0] + tracemalloc.get_tracemalloc_memory()
    per_trace = calibrate()
    if traces is None:
        get = getattr(tracemalloc, "_get_traces", None)
        traces = get() if get is not None else []
    total = tracemalloc.get_tracemalloc_memory()
    small, extra = _SMALL, _EXTRA
    count = 0
    for trace in traces:
        count += 1
        size = trace[1]
        if trace[0]:  # another domain (numpy's data): malloc'd as asked
            total += chunk_size(size, 0)
        elif size + extra > small:
            total += block_cost(size)
    return total + count * per_trace


def native_now() -> int:
    """Allocator bytes in use less what Python's tracing explains."""
    return allocator_in_use() - python_malloc_bytes()
