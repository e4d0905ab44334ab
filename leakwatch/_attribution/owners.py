"""Owner objects whose parts are one leftover: a ``multiprocessing`` pool.

A pool is made of several resources of different kinds: its handler
threads, its workers (child processes, or threads for a ``ThreadPool``), the
pipes of its queues (``Connection`` objects) and, per worker process, the
raw descriptors of its sentinel pipe (plain ints a ``Finalize`` closes).
Judged one by one they get split verdicts: a pipe reached through a
``Connection`` looks like a module global's singleton, a sentinel has no
holder at all, a queue's pipe matches a known library leak.  :func:`pools`
lists the live pools with their parts, so the engine can give every part
its pool's verdict:

- a pool still running (never ``close()``-d nor ``terminate()``-d, nor left
  by a ``with`` block) leaves all its parts behind: a leak, as one;
- a pool that was shut down keeps a few descriptors only while the Pool
  object lives (``with Pool() as p`` at module level): what is left closes
  when the object is freed, and none of it is a leak.

Only the standard library's attributes are read (``vars()``, never a
``__getattr__``); nothing here keeps a pool alive once it returns.
"""

from __future__ import annotations

import gc
import sys
import weakref
from dataclasses import dataclass, field
from typing import Any

_RUN = "RUN"


@dataclass
class Owner:
    """One pool and its parts, by object id and descriptor number."""

    ref: weakref.ref[Any]
    text: str  # "multiprocessing.pool.ThreadPool (2 workers)"
    running: bool
    objects: set[int] = field(default_factory=set)  # ids of threads, processes, connections
    fds: set[int] = field(default_factory=set)
    pids: set[int] = field(default_factory=set)

    def has(self, kind: str, value: Any, owner: Any) -> bool:
        """Whether a leftover (its probe's value and owner object) is a part of this pool."""
        if owner is not None and id(owner) in self.objects:
            return True
        if kind == "thread":
            thread = value() if isinstance(value, weakref.ref) else None
            return thread is not None and id(thread) in self.objects
        if kind == "fd":
            return isinstance(value, int) and value in self.fds
        if kind == "process":
            return isinstance(value, int) and value in self.pids
        return False

    @property
    def verdict(self) -> str:
        if self.running:
            return f"{self.text}, still running: never closed nor terminated"
        return (
            f"{self.text}, shut down: what it still holds is closed when the Pool object "
            "is freed (multiprocessing leaves it to the garbage collector)"
        )


def pools() -> list[Owner]:
    """Every live ``multiprocessing.pool.Pool`` (``ThreadPool`` included), with its parts."""
    module = sys.modules.get("multiprocessing.pool")
    base = getattr(module, "Pool", None)
    if not isinstance(base, type):
        return []
    found: list[Any] = []
    wanted: dict[type, bool] = {}
    objects = gc.get_objects()
    try:
        for obj in objects:
            cls = type(obj)
            hit = wanted.get(cls)
            if hit is None:
                hit = wanted[cls] = issubclass(cls, base)
            if hit:
                found.append(obj)
    finally:
        del objects
    out = []
    for pool in found:
        try:
            out.append(_owner(pool))
        except Exception:  # a half-made pool (its __init__ raised): judged part by part
            continue
    return out


def _owner(pool: Any) -> Owner:
    attrs = vars(pool)
    workers = list(attrs.get("_pool") or ())
    cls = type(pool)
    text = f"{cls.__module__}.{cls.__qualname__} ({len(workers)} worker{'s' * (len(workers) != 1)})"
    owner = Owner(weakref.ref(pool), text, running=attrs.get("_state") == _RUN)
    owner.objects.add(id(pool))
    for name in ("_worker_handler", "_task_handler", "_result_handler"):
        if attrs.get(name) is not None:
            owner.objects.add(id(attrs[name]))
    for name in ("_inqueue", "_outqueue", "_change_notifier"):
        queue = attrs.get(name)
        for end in ("_reader", "_writer"):
            conn = _attr(queue, end)
            if conn is not None:
                owner.objects.add(id(conn))
                handle = _attr(conn, "_handle")
                if isinstance(handle, int):
                    owner.fds.add(handle)
    for worker in workers:
        owner.objects.add(id(worker))
        popen = _attr(worker, "_popen")
        if popen is None:
            continue
        owner.objects.add(id(popen))
        pid = _attr(popen, "pid")
        if isinstance(pid, int):
            owner.pids.add(pid)
        sentinel = _attr(popen, "sentinel")
        if isinstance(sentinel, int):
            owner.fds.add(sentinel)
        # util.Finalize(self, util.close_fds, (parent_r, parent_w)): the fds to close.
        args = _attr(_attr(popen, "finalizer"), "_args")
        for fd in args if isinstance(args, (tuple, list)) else ():
            if isinstance(fd, int):
                owner.fds.add(fd)
    return owner


def _attr(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    try:
        return vars(obj).get(name)
    except TypeError:  # no __dict__
        return None
