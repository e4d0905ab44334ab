"""What differs between the Pythons leakwatch supports, one function per difference.

The rest of leakwatch never asks ``sys.version_info``: it calls these.  Each
answer is chosen once, at import, as :mod:`leakwatch._base.platform` does for
operating systems.

- :func:`frame_locals` -> a plain dict of a frame's variables.  3.13 made
  ``frame.f_locals`` a write-through proxy (PEP 667), new on each access and
  not a dict; 3.10-3.12 give the frame's own snapshot dict.
- :func:`kept_locals` -> the dict a frame keeps for its variables once they
  were read, a referrer of each of them (3.10-3.12), or None: 3.13's proxy
  keeps none.
- :func:`all_tasks` -> every pending asyncio task of every loop.  3.10-3.11
  keep one registry of all tasks, 3.12-3.13 two (scheduled and eager, for
  eager task factories); 3.14 keeps native tasks in per-thread lists in C,
  reached only through ``asyncio.all_tasks(loop)``.
- :data:`TRACEMALLOC_STOP_LEAKS` -> whether ``tracemalloc.stop()`` (and
  ``clear_traces()``) leaks every traceback recorded while tracing
  (CPython gh-121390: 3.10 to 3.12.4; fixed in 3.12.5 and 3.13).
- :data:`tomllib` -> the TOML reader (stdlib from 3.11, ``tomli`` before).
- :func:`running_thread` -> the running thread's ``Thread``, or None for a
  thread ``threading`` did not start.  ``threading.current_thread()`` would
  register a ``_DummyThread`` for such a thread (one made by
  ``_thread.start_new_thread`` or C code), never removed on 3.10-3.12: the
  program's ``threading.active_count()`` and ``enumerate()`` would change.
  CPython keeps its table of started threads in ``threading._active``;
  :func:`thread_idents` reads its keys.
- :func:`atexit_unraisable` -> the message and object ``atexit`` hands to
  ``sys.unraisablehook`` for a handler that raised: 3.10-3.12 pass the
  handler as the object, 3.13 puts it in the message.
- :func:`mark_coroutine_function` -> a plain function that returns an
  awaitable, marked so that it is seen as a coroutine function.  3.12+:
  ``inspect.markcoroutinefunction``, which both ``inspect`` and ``asyncio``
  read.  3.10-3.11: the marker ``asyncio.iscoroutinefunction`` reads
  (``asyncio.coroutines._is_coroutine``); ``inspect.iscoroutinefunction``
  reads only the code's flags there, and no mark changes its answer.
- :func:`referents` -> ``gc.get_referents``, except where asking it of the
  ``_asyncio`` module corrupts the interpreter (3.12.0-3.12.5 and 3.13's
  pre-releases, CPython gh-122695): there that module gives its namespace
  alone.
"""

from __future__ import annotations

import gc
import inspect
import sys
import threading
import types
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from leakwatch._base.loops import running_loops

__all__ = [
    "TRACEMALLOC_STOP_LEAKS",
    "all_tasks",
    "atexit_unraisable",
    "frame_locals",
    "kept_locals",
    "mark_coroutine_function",
    "referents",
    "running_thread",
    "thread_idents",
    "tomllib",
]

_V = sys.version_info[:3]

if sys.version_info >= (3, 11):
    import tomllib
else:  # the conditional dependency; mypy checks against 3.10 where it may be absent
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]


# -- frame locals ----------------------------------------------------------------


def _locals_dict(frame: types.FrameType) -> dict[str, Any]:
    # 3.10-3.12: the frame's own dict, refreshed from the fast locals on each
    # read (and left on the frame until it returns, as pdb leaves it).
    return frame.f_locals


def _locals_proxy(frame: types.FrameType) -> dict[str, Any]:
    # 3.13+ (PEP 667): a proxy over the fast locals, cells included; copy it.
    # A module or class frame's f_locals is still a real dict: copy that too,
    # so callers never hold the namespace itself through this.
    return dict(frame.f_locals)


#: A plain dict of ``frame``'s variables (cells and free variables by value).
frame_locals: Callable[[types.FrameType], dict[str, Any]]
frame_locals = _locals_proxy if _V >= (3, 13) else _locals_dict


def runs_module_code(frame: types.FrameType) -> bool:
    """Whether ``frame`` runs a module's own code: its variables are the
    module's globals (``f_locals`` is that namespace on every version; only
    a function's frame, optimized, has variables of its own)."""
    return not frame.f_code.co_flags & _CO_OPTIMIZED and frame.f_locals is frame.f_globals


_CO_OPTIMIZED = 0x0001  # inspect.CO_OPTIMIZED


def _no_kept_locals(frame: types.FrameType) -> dict[str, Any] | None:
    return None


#: The dict ``frame`` keeps for its variables (the collector shows it as a
#: referrer of each), or None where frames keep none (3.13+).
kept_locals: Callable[[types.FrameType], dict[str, Any] | None]
kept_locals = _no_kept_locals if _V >= (3, 13) else _locals_dict


# -- asyncio tasks ---------------------------------------------------------------


def _registries(names: tuple[str, ...]) -> Callable[[], list[Any]]:
    def tasks() -> list[Any]:
        mod = sys.modules.get("asyncio.tasks")
        if mod is None:  # asyncio never imported: no tasks
            return []
        found: list[Any] = []
        # vars(), not getattr(): cheap when a name is absent, and this runs on
        # every snapshot (every test phase).
        namespace = vars(mod)
        for name in names:
            registry = namespace.get(name)
            # len() first: listing an empty WeakSet still costs its iteration guard.
            if registry is not None and len(registry):
                try:
                    found.extend(list(registry))
                except RuntimeError:  # changed size during iteration: once more
                    found.extend(list(registry))
        return found

    return tasks


#: Loops seen running, by weak reference: on 3.14 a loop's tasks are listed
#: through it, so one stopped since (its tasks pending for good) stays known.
_loops: weakref.WeakSet[Any] = weakref.WeakSet()


def _per_loop() -> list[Any]:
    """3.14+: ``asyncio.all_tasks(loop)`` for every loop known (the public API)."""
    mod = sys.modules.get("asyncio.tasks")
    if mod is None:
        return []
    for loop, _ in running_loops():
        try:
            _loops.add(loop)
        except TypeError:  # a loop class without weak references: this time only
            pass
    found: list[Any] = _registries(("_scheduled_tasks", "_eager_tasks"))()  # third-party tasks
    for t in found:
        try:
            _loops.add(t.get_loop())
        except Exception:
            pass
    seen = {id(t) for t in found}
    for loop in list(_loops):
        try:
            tasks = mod.all_tasks(loop)
        except Exception:
            continue
        found.extend(t for t in tasks if id(t) not in seen)
        seen.update(map(id, tasks))
    return found


#: Every asyncio task asyncio knows, of any loop, done or not; [] before asyncio loads.
all_tasks: Callable[[], list[Any]]
if _V >= (3, 14):
    all_tasks = _per_loop
elif _V >= (3, 12):
    all_tasks = _registries(("_scheduled_tasks", "_eager_tasks"))
else:
    all_tasks = _registries(("_all_tasks",))


# -- tracemalloc -----------------------------------------------------------------

#: ``tracemalloc.stop()`` / ``clear_traces()`` free the traces but not the
#: traceback keys (CPython gh-121390, fixed in 3.12.5 and 3.13.0): each start
#: and stop leaks every distinct traceback recorded in between.
TRACEMALLOC_STOP_LEAKS: bool = _V < (3, 12, 5)


# -- the running thread, without side effects ----------------------------------------


_started: dict[int, threading.Thread] | None = getattr(threading, "_active", None)


def running_thread() -> threading.Thread | None:
    """The running thread's ``Thread`` if ``threading`` started it (or it is
    the main thread); None otherwise.  Never registers a dummy thread."""
    ident = threading.get_ident()
    if isinstance(_started, dict):
        return _started.get(ident)
    for thread in threading.enumerate():  # another Python: slower, still no dummy
        if thread.ident == ident:
            return thread
    return None


def thread_idents() -> frozenset[int]:
    """The idents of the threads ``threading`` knows alive: its table's keys,
    one C call where ``enumerate()`` reads a property of each (a mark at each
    of a test's phase ends takes them)."""
    if isinstance(_started, dict):
        return frozenset(_started)
    return frozenset(t.ident for t in threading.enumerate() if t.ident is not None)


def _atexit_object(func: Any) -> tuple[str, Any]:
    return "Exception ignored in atexit callback", func


def _atexit_message(func: Any) -> tuple[str, Any]:
    try:
        shown = repr(func)
    except Exception:
        shown = f"<{type(func).__name__} object>"
    return f"Exception ignored in atexit callback {shown}", None


#: ``(err_msg, object)`` for ``sys.unraisablehook`` when an atexit handler raised.
atexit_unraisable: Callable[[Any], tuple[str, Any]] = (
    _atexit_message if sys.version_info >= (3, 13) else _atexit_object
)


# -- a plain function seen as a coroutine function -----------------------------------

_F = TypeVar("_F", bound=Callable[..., Any])


def _mark_for_asyncio(func: _F) -> _F:
    # asyncio.coroutines imports nothing of leakwatch's and is imported by
    # any program that runs an ASGI server; imported here, on first use only.
    from asyncio import coroutines

    func._is_coroutine = coroutines._is_coroutine  # type: ignore[attr-defined]
    return func


def _mark_for_inspect(func: _F) -> _F:
    return inspect.markcoroutinefunction(func)  # type: ignore[attr-defined, no-any-return, unused-ignore]


#: ``func`` marked as a coroutine function (it must return an awaitable):
#: ``asyncio.iscoroutinefunction`` says so on every Python, and
#: ``inspect.iscoroutinefunction`` too on 3.12+.
mark_coroutine_function: Callable[[_F], _F]
mark_coroutine_function = _mark_for_inspect if _V >= (3, 12) else _mark_for_asyncio


# -- what an object refers to ----------------------------------------------------------


def _traverses_freed_memory(obj: object) -> bool:
    # Only the extension module itself: a plain module object named _asyncio
    # (a reload or a fresh import makes another, with its own free list).
    return type(obj) is types.ModuleType and obj.__dict__.get("__name__") == "_asyncio"


def _referents_sparing_asyncio(*objs: object) -> list[Any]:
    # On these versions the _asyncio module's traversal visits the future
    # iterators on its free list: memory already freed.  gc.get_referents
    # puts them in the list it returns, and dropping that list frees them a
    # second time, leaving the free list a cycle that every later traversal
    # of the module (each gc pass, each get_referrers) walks forever, or a
    # crash.  https://github.com/python/cpython/issues/122695 (fixed in
    # 3.12.6 and 3.13.0rc2).  The module's namespace is what a search needs
    # of it; what its C state alone holds is left unseen.
    if not any(_traverses_freed_memory(o) for o in objs):
        return gc.get_referents(*objs)
    out: list[Any] = []
    for obj in objs:  # in order, as gc.get_referents(*objs) gives them
        out.extend([vars(obj)] if _traverses_freed_memory(obj) else gc.get_referents(obj))
    return out


def _asyncio_freelist_traversed(version: tuple[int, int, int], level: str) -> bool:
    if version[:2] == (3, 12):
        return version[2] < 6
    return version == (3, 13, 0) and level != "final"


#: ``gc.get_referents(*objs)``: every object each of ``objs`` refers to, in
#: order; on the Pythons named above, the ``_asyncio`` module's own part is
#: its namespace alone.  leakwatch asks the collector for referents only
#: through this.
referents: Callable[..., list[Any]]
referents = (
    _referents_sparing_asyncio
    if _asyncio_freelist_traversed(_V, sys.version_info.releaselevel)
    else gc.get_referents
)
