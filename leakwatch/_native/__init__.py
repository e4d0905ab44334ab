"""Native memory: what the C allocator holds that Python's tracing does not explain.

::

    counters.py  allocator bytes in use (glibc mallinfo2, macOS zones, RSS), less tracemalloc's
    repeat.py    check() / the repeat marker: judge growth per call, then attribute it
    memray_stacks.py  memray (the pyleakwatch[native] extra): native stacks of what each call kept
    lines.py     a line tracer: the Python line that grew the allocator, without memray
    run.py       leakwatch run: the allocator's series over the run, judged by the trend rule

The rest of leakwatch calls in through :func:`growth_for` and the functions of
``run``; nothing here is imported until a check asks for ``native``.  Native
frames in reports are drawn by :mod:`leakwatch._report.native`.  Sits beside
the probes: must not import the engine, rules or a shell.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leakwatch._native.repeat import NativeGrowth


def growth_for(kinds: Collection[str]) -> NativeGrowth | None:
    """The native judge for one check (a :class:`~leakwatch._probes.protocol.Growth`),
    or None when ``native`` is not among its kinds."""
    if "native" not in kinds:
        return None
    from leakwatch._native.repeat import NativeGrowth

    return NativeGrowth()
