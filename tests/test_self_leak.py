"""leakwatch must not leak itself: ``check()`` and ``watch()`` in a loop stay flat.

What is measured is deterministic: ``sys.getallocatedblocks()`` and gc-tracked
objects by type, after a warm-up, over many more calls, each made from a
call stack of its own (a memo keyed by stacks would grow with each).
The memory CPython's tracemalloc.stop() leaks before 3.12.5 (gh-121390) is
not counted here: it is bounded by ``heap.STOP_LEAK_BUDGET``.
"""

from __future__ import annotations

import gc
import sys
from collections import Counter
from collections.abc import Callable

import leakwatch


def clean() -> None:
    data = [bytearray(64) for _ in range(20)]
    del data


def _caller(i: int, call: Callable[[], object]) -> Callable[[], object]:
    """``call`` behind a frame in a file named for ``i``: a call stack of its own."""
    namespace: dict[str, object] = {"call": call}
    exec(compile("def via():\n    return call()\n", f"<caller {i}>", "exec"), namespace)
    return namespace["via"]  # type: ignore[return-value]


#: The interpreter's ABC caches: each ABC asked about a type for the first time
#: makes its negative cache (a set, a weakref to the type, the callback) once.
_ABC_CACHES = {"set", "ReferenceType", "builtin_function_or_method"}


def _tracked() -> Counter[str]:
    gc.collect()
    names = (type(o).__qualname__ for o in gc.get_objects())
    return Counter(n for n in names if n not in _ABC_CACHES)


def _growth(call: Callable[[], object], n: int) -> tuple[int, Counter[str]]:
    callers = [_caller(i, call) for i in range(3 * n)]
    for via in callers[:n]:  # warm-up: lazy imports, caches filled once
        via()
    gc.collect()
    blocks, types = sys.getallocatedblocks(), _tracked()
    for via in callers[n:]:
        via()
    gc.collect()
    grown = _tracked()
    grown.subtract(types)
    return sys.getallocatedblocks() - blocks, +grown


def _check() -> object:
    return leakwatch.check(clean, repeat=2, warmup=0, kinds=("heap",), on_leak="report")


def test_check_with_tracing_kept_stays_flat(kept_tracing: None) -> None:
    blocks, types = _growth(_check, 15)
    # Before: a memo of every traced site, kept across checks (up to 200,000
    # stacks of 16 frames), grew by hundreds of blocks per check.  With tracing
    # kept, the tracked types count the heap probe's own work too.
    assert blocks < 1500, (blocks, types.most_common(5))
    assert sum(types.values()) < 20, types.most_common(5)


def test_check_stays_flat() -> None:
    blocks, types = _growth(_check, 15)
    assert blocks < 1500, (blocks, types.most_common(5))
    assert sum(types.values()) < 20, types.most_common(5)


def test_watch_stays_flat() -> None:
    def watched() -> object:
        with leakwatch.watch(on_leak="report") as w:
            clean()
        return w.report

    blocks, types = _growth(watched, 30)
    assert blocks < 1500, (blocks, types.most_common(5))
    assert sum(types.values()) < 20, types.most_common(5)
