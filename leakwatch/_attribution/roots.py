"""The roots of a why-alive search: module globals, live frames, suspended tasks.

Level 0 of :func:`leakwatch._attribution.whyalive.find_chains`, each with the
label a chain starts with; which of them are the user's own modules; and the
one hop from a module's globals where a leak is most often held.  Must not
search further: it only lists where a search starts.
"""

from __future__ import annotations

import gc
import io
import socket
import sys
import threading
import types
from collections import deque
from collections.abc import Iterable, Sequence
from contextlib import suppress
from typing import Any

from leakwatch._attribution import records as _records
from leakwatch._attribution.chain_text import _Labels
from leakwatch._base.paths import is_user_file
from leakwatch._base.pyversion import all_tasks, frame_locals, kept_locals, referents

OWN_PACKAGE = __name__.partition(".")[0]


def own_frame(frame: types.FrameType) -> bool:
    """Whether ``frame`` runs leakwatch's own code (looking, not a holder)."""
    return str(frame.f_globals.get("__name__")).partition(".")[0] == OWN_PACKAGE


def module_roots(seen: set[int]) -> tuple[list[object], _Labels]:
    """Level 0 of the search, module dicts first: on a tie the earlier root
    wins (frames and tasks follow: :func:`add_frame_and_task_roots`).

    Modules, ``sys.modules`` and ``gc.garbage`` are marked seen, so a global
    is rooted at its own module, never at ``sys.modules['x']``; leakwatch's
    own modules and frames are neither roots nor links.
    """
    roots: list[object] = []
    labels: _Labels = {}
    seen.update((id(sys.modules), id(gc.garbage)))
    for name, mod in list(sys.modules.items()):
        if isinstance(mod, types.ModuleType):
            seen.add(id(mod))
            ns = vars(mod)
            if id(ns) not in seen:
                seen.add(id(ns))
                if name.partition(".")[0] != OWN_PACKAGE:  # leakwatch's state is not a reason
                    roots.append(ns)
                    labels[id(ns)] = (mod, name)
    return roots, labels


def add_frame_and_task_roots(roots: list[object], labels: _Labels, seen: set[int]) -> None:
    """Add to ``roots`` the locals of every thread's live frames and of
    suspended asyncio tasks, after the module dicts."""

    def add(obj: object, owner: object, label: str) -> None:
        if id(obj) not in seen:
            seen.add(id(obj))
            roots.append(obj)
            labels[id(obj)] = (owner, label)

    names = {t.ident: t.name for t in threading.enumerate()}
    top: types.FrameType | None = None
    for ident, top in sys._current_frames().items():
        f: types.FrameType | None = top
        while f is not None:
            if id(f) not in seen and not own_frame(f):
                # referents() does not show a running frame's locals; f_locals does.
                add(frame_locals(f), f, f"(thread {names.get(ident, ident)!r})")
            seen.add(id(f))
            f = f.f_back
    del top  # in this thread, our own frame: a cycle that would pin the caller's locals
    tasks: list[Any] = []
    with suppress(Exception):  # best effort: a registry may change size under us
        tasks = all_tasks()
    for task in tasks:
        coro = task.get_coro()
        while isinstance(coro, (types.CoroutineType, types.GeneratorType)):
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if frame is not None and id(frame) not in seen:  # else running: rooted above
                add(coro, coro, f"task {task.get_name()!r}")
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)


def user_roots(roots: list[object], labels: _Labels) -> list[object]:
    """The globals of the user's own modules among ``roots`` (not the
    standard library's, an installed package's or leakwatch's)."""
    out: list[object] = []
    for root in roots:
        owner = labels.get(id(root), (None, ""))[0]
        if isinstance(owner, types.ModuleType) and root is vars(owner):
            filename = getattr(owner, "__file__", None)
            if isinstance(filename, str) and _is_user_module(filename):
                out.append(root)
    return out


#: The containers a module global most often holds a leak in (``KEPT.append(sock)``,
#: ``REGISTRY[key] = conn``); exact types, so no user ``__len__`` runs.
_BOXES = frozenset((list, dict, set, frozenset, tuple, deque))
_BOX_ROOM = 131_072  # members looked at in all: the rest (caches, tables) is the searches'


def held_by_globals(
    namespaces: Iterable[object], wanted: set[int], seen: set[int]
) -> dict[int, list[object]]:
    """``id -> [namespace, object]`` or ``[namespace, container, object]``
    for each of ``wanted`` that one of ``namespaces`` names, or holds in a
    container it names: the commonest holder of a leak, found at the cost
    of those containers' size (at most ``_BOX_ROOM`` members in all, the
    first modules' first) however many modules there are: a search a level
    at a time within a time budget may not reach the last module's."""
    found: dict[int, list[object]] = {}
    boxes: list[tuple[object, object]] = []
    room = _BOX_ROOM
    for ns in namespaces:
        for value in list(ns.values()) if type(ns) is dict else ():
            if id(value) in wanted:
                found.setdefault(id(value), [ns, value])
            elif type(value) in _BOXES and id(value) not in seen and len(value) <= room:
                room -= len(value)
                boxes.append((ns, value))
    inside = wanted.difference(found)
    for ns, box in boxes:
        if not inside:
            break
        members = referents(box)
        for hit in inside.intersection(map(id, members)):
            inside.discard(hit)
            found[hit] = [ns, box, next(m for m in members if id(m) == hit)]
    return found


#: filename -> whether it is the user's (a module's file does not move).
_user_files: dict[str, bool] = {}


def _is_user_module(filename: str) -> bool:
    user = _user_files.get(filename)
    if user is None:
        if len(_user_files) > 50_000:
            _user_files.clear()
        user = _user_files[filename] = is_user_file(filename)
    return user


def creator_roots(
    targets: Sequence[object], seen: set[int]
) -> tuple[list[object], _Labels, set[int]]:
    """The globals of the user's modules whose code made ``targets`` (their
    creation records' stacks, innermost first), with their labels: the
    likeliest holders, a module list beside the line that made it.  And the
    ids of every module and module dict, which a search from them must not
    enter (as :func:`module_roots` marks them seen).  Nothing when no
    record is kept for them."""
    made_in = _made_in(targets, parents=True)
    if not made_in:
        return [], {}, set()
    blocked = _module_index()[1]
    roots: list[object] = []
    labels: _Labels = {}
    for filename, name, mod in made_in:
        ns = vars(mod)
        if (
            id(ns) not in seen
            and id(ns) not in labels
            and name.partition(".")[0] != OWN_PACKAGE
            and _is_user_module(filename)
        ):
            roots.append(ns)
            labels[id(ns)] = (mod, name)
    return roots, labels, blocked


def creator_modules(targets: Sequence[object]) -> list[str]:
    """The names of the modules whose code is on ``targets``' creation
    stacks (innermost first, once each): a library's first use keeps what it
    made in a global of the module that made it.  Asked by type only (see
    :func:`_creation_record`)."""
    return [name for _, name, _ in _made_in(targets, parents=False)]


def _made_in(targets: Sequence[object], *, parents: bool) -> list[tuple[str, str, Any]]:
    """``(file, module name, module)`` of each module whose code is on
    ``targets``' creation stacks (and, with ``parents``, on the stacks that
    started the threads that made them), innermost first, once each."""
    files: dict[str, None] = {}  # in stack order, once each
    for target in targets:
        rec = _creation_record(target)
        if rec is not None:
            frames = (*rec.stack, *rec.parent) if parents else rec.stack
            files.update(dict.fromkeys(frame[0] for frame in frames))
    if not files:
        return []
    by_file = _module_index(files)[0]
    out: list[tuple[str, str, Any]] = []
    for filename in files:
        mod = _module_at(filename, by_file)
        if mod is not None:
            out.append((filename, by_file[filename], mod))
    return out


def _creation_record(obj: object) -> _records.Record | None:
    """The creation record kept for a socket, a file, a thread, a task or a
    timer.  Asked by type only: a user's ``__hash__`` or ``fileno`` never
    runs (an asyncio handle's is asyncio's; uvloop's are its own C types')."""
    if isinstance(obj, socket.socket):
        return _records.sockets.get(obj)
    if isinstance(obj, threading.Thread):
        return _records.threads.get(obj)
    if isinstance(obj, io.IOBase) and type(obj).__module__ in ("io", "_io"):
        with suppress(Exception):
            return _records.fds.get(obj.fileno())
        return None
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and isinstance(obj, asyncio.Task):
        return _records.task_record(obj)
    handle = asyncio is not None and isinstance(obj, asyncio.Handle)
    if handle or type(obj).__module__ == "uvloop.loop":
        with suppress(TypeError):  # a type no weak reference takes was never recorded
            return _records.timers.get(obj)
    return None


#: ``(len(sys.modules), {file: module name}, ids of modules and their dicts,
#: files asked for that no module had)`` as last read: read again when a
#: module was added or removed, or when a file asked for is not found as
#: read (a module replaced by another under the same count).
_INDEX: tuple[int, dict[str, str], set[int], set[str]] = (-1, {}, set(), set())


def _module_index(files: Iterable[str] = ()) -> tuple[dict[str, str], set[int]]:
    """``({file: module name}, ids of every module and module dict)``, up
    to date for ``files``: each names the module it did when read, or no
    module at all when last read (code not in a module's file: asked again
    only once the index is read anew)."""
    global _INDEX
    count, by_file, ids, absent = _INDEX
    if count != len(sys.modules) or any(_moved(f, by_file, absent) for f in files):
        by_file, ids = {}, {id(sys.modules), id(gc.garbage)}
        for name, mod in list(sys.modules.items()):
            if isinstance(mod, types.ModuleType):
                ns = vars(mod)
                ids.update((id(mod), id(ns)))
                filename = ns.get("__file__")
                if isinstance(filename, str):
                    by_file[filename] = name
        _INDEX = (len(sys.modules), by_file, ids, {f for f in files if f not in by_file})
    return by_file, ids


def _moved(filename: str, by_file: dict[str, str], absent: set[str]) -> bool:
    """Whether the index no longer says where ``filename``'s module is."""
    if filename not in by_file:
        return filename not in absent and not filename.startswith("<")
    return _module_at(filename, by_file) is None


def _module_at(filename: str, by_file: dict[str, str]) -> types.ModuleType | None:
    """The module the index names for ``filename``, if it is still that file's."""
    name = by_file.get(filename)
    mod = sys.modules.get(name) if name is not None else None
    if isinstance(mod, types.ModuleType) and vars(mod).get("__file__") == filename:
        return mod
    return None


class FrameDicts:
    """The dicts the target threads' frames keep for their variables once
    read (3.10-3.12; none on 3.13+): they hold by name (a leaked thread's own
    frames hold it as ``self``) but are no namespace, and a running frame's
    shows no referrer (a walk up from one would scan the heap for nothing).
    Only those threads' frames are read: reading keeps a frame's variables
    until it returns, and the test's or pytest's are not leakwatch's to pin."""

    def __init__(self, targets: Sequence[object]) -> None:
        self._threads = [t for t in targets if isinstance(t, threading.Thread)]
        self._ids: set[int] | None = None

    def __contains__(self, obj: object) -> bool:
        if self._ids is None:
            self._ids = _kept_frame_dicts(self._threads)
        return id(obj) in self._ids


def _kept_frame_dicts(threads: list[threading.Thread]) -> set[int]:
    ids: set[int] = set()
    if not threads:
        return ids
    current = sys._current_frames()
    for thread in threads:
        frame = current.get(thread.ident) if thread.ident is not None else None
        while frame is not None:
            if not own_frame(frame):
                names = kept_locals(frame)
                if names is not None:
                    ids.add(id(names))
            frame = frame.f_back
    del current  # holds this thread's frame too: no cycle through our locals
    return ids
