"""How fast is "why is it still alive" on a large heap?  Run: ``python bench/bench_whyalive.py``.

Builds about a million extra tracked objects (``HEAP``: 300,000 dicts, each
holding a list, and 300,000 ``Item`` instances), then times
:func:`leakwatch._attribution.whyalive.find_chains` for

- an object held by a global registry (found near the roots),
- an object in a class attribute, ``Item.registry`` (a class with many instances),
- an object held deep inside ``HEAP`` (found after a walk of the whole heap),
- an object nothing reachable holds (a miss: capped by the time budget),

and ``objgraph.find_backref_chain`` (a backward search, one ``gc.get_referrers``
heap scan per object it expands, after a ``gc.collect()``) on the same objects,
each run stopped after ``--objgraph-limit`` seconds.  It prints figures and
asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leakwatch._attribution.whyalive import find_chains

HEAP: list[dict[str, Any]] = []
REGISTRY: dict[str, Any] = {}


class Sock:
    pass


class Conn:
    def __init__(self, sock: Sock) -> None:
        self._sock = sock


class Item:
    registry: list[Sock] = []

    def __init__(self, i: int) -> None:
        self.i = i


def build(n: int) -> list[tuple[str, Sock]]:
    HEAP[:] = [{"id": i, "tags": [i]} for i in range(n)]
    HEAP.append({"items": [Item(i) for i in range(n)]})
    REGISTRY["main"] = Conn(Sock())
    Item.registry.append(Sock())
    deep = Sock()
    HEAP[n // 2]["tags"].append({"more": [[[(deep,)]]]})
    return [("registry", REGISTRY["main"]._sock), ("class", Item.registry[0]), ("deep", deep)]


def timed_search(
    targets: list[object], budget: float, repeat: int, exclude: list[object]
) -> tuple[float, dict[int, str]]:
    """Median wall time of find_chains; the frames holding the targets are excluded."""
    times, chains = [], {}
    for _ in range(repeat):
        gc.collect()  # time the search, not a collection its allocations happen to trigger
        t0 = time.perf_counter()
        chains = find_chains(targets, time_budget=budget, exclude=[sys._getframe(), *exclude])
        times.append(time.perf_counter() - t0)
    return statistics.median(times), chains


def objgraph_time(target: object, limit: float) -> str:
    try:
        import objgraph  # type: ignore[import-untyped]
    except ImportError:
        return "objgraph not installed"
    if not hasattr(signal, "setitimer"):
        return "skipped (no setitimer on this platform)"

    def stop(signum: int, frame: object) -> None:
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, limit)
    t0 = time.perf_counter()
    try:
        chain = objgraph.find_backref_chain(target, inspect.ismodule, max_depth=16)
        elapsed = time.perf_counter() - t0
        return f"{elapsed:.3f} s ({'found' if len(chain) > 1 else 'not found'})"
    except TimeoutError:
        return f"> {limit:.0f} s (stopped)"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300_000, help="dicts and Items (x3 objects)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--objgraph-limit", type=float, default=60.0)
    args = parser.parse_args()

    t0 = time.perf_counter()
    cases = build(args.n)
    orphan = Sock()  # held only by this frame, which every search excludes
    gc.collect()
    me = [sys._getframe()]
    built = time.perf_counter() - t0
    print(f"heap: {len(gc.get_objects()):,} tracked objects (built in {built:.1f} s)")

    ours: dict[str, float] = {}
    for name, target in cases:
        t, chains = timed_search([target], 30.0, args.repeat, me)
        ours[name] = t
        print(f"find_chains {name:9s} {t * 1000:8.1f} ms  {chains.get(id(target), 'NOT FOUND')}")
    for budget in (0.05, 0.5, 30.0):
        t, chains = timed_search([orphan], budget, 3, me)
        verdict = "found?!" if chains else "not found"
        print(f"find_chains miss, budget {budget:<4} s {t * 1000:8.1f} ms  ({verdict})")

    for name, target in cases:
        theirs = objgraph_time(target, args.objgraph_limit)
        ratio = ""
        if theirs[0].isdigit():
            ratio = f"  = {float(theirs.split()[0]) / ours[name]:.1f}x find_chains"
        print(f"objgraph.find_backref_chain {name:9s} {theirs}{ratio}")


if __name__ == "__main__":
    main()
