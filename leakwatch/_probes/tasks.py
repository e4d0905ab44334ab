"""Pending asyncio tasks, on any loop, by weak reference.

Creation sites come from coroutine origin tracking (``cr_origin``), which the
engine turns on while a watch runs; where a task is suspended now comes from
walking its coroutine's ``cr_await`` chain.
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable, Iterable
from typing import Any

from leakwatch._model import Frame, Resource
from leakwatch._probes import Snapshot
from leakwatch._stacks import coroutine_origin, is_user_file, source_line


def _iter_tasks() -> Iterable[Any]:
    """Every task asyncio knows, whatever loop it belongs to (version split here)."""
    from leakwatch._pyversion import all_tasks  # the version split, in one place

    return all_tasks()


def _suspended_at(coro: Any) -> list[Frame]:
    """Innermost-last chain of frames the task is awaiting in."""
    frames: list[Frame] = []
    seen = 0
    while coro is not None and seen < 64:
        seen += 1
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            frame = getattr(coro, "ag_frame", None)
        if frame is not None:
            code = frame.f_code
            frames.append(
                Frame(
                    code.co_filename,
                    frame.f_lineno,
                    getattr(code, "co_qualname", code.co_name),
                    source_line(code.co_filename, frame.f_lineno),
                )
            )
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return frames


class TaskProbe:
    kind = "task"

    def snapshot(self) -> Snapshot:
        return {id(t): weakref.ref(t) for t in _iter_tasks() if not t.done()}

    def is_new(self, key: Hashable, value: Any, before: Snapshot) -> bool:
        old = before.get(key)
        return old is None or old() is not value()

    def settle(self, new: Snapshot, timeout: float) -> None:
        return None  # the engine lets the event loop run for async blocks

    def describe(self, key: Hashable, value: Any, since: int) -> Resource:
        task = value()
        if task is None:
            return Resource("task", key, "task (finished while being described)")
        coro = task.get_coro()
        coro_name = getattr(coro, "__qualname__", type(coro).__name__)
        suspended = _suspended_at(coro)
        origin = coroutine_origin(getattr(coro, "cr_origin", None))
        loop = task.get_loop()
        details: dict[str, Any] = {
            "name": task.get_name(),
            "coroutine": coro_name,
            "suspended_at": [f.to_dict() for f in suspended],
            "loop": "closed"
            if loop.is_closed()
            else ("running" if loop.is_running() else "stopped"),
        }
        title = f"task {task.get_name()!r} running {coro_name}()"
        if suspended:
            users = [f for f in suspended if is_user_file(f.filename)]
            inner = users[-1] if users else suspended[-1]
            title += f", suspended at {inner.filename.rsplit('/', 1)[-1]}:{inner.lineno}"
        if loop.is_closed():
            title += " (its loop is closed: the task will never finish)"
        if not origin:
            title += ", creation not seen"
            details["origin_note"] = (
                "coroutine origin tracking was off when it was created "
                "(created outside a watched block or in another thread)"
            )
        del task, coro, loop
        return Resource("task", key, title, origin, details, group=coro_name)

    def owner(self, key: Hashable, value: Any) -> Any:
        return value()
