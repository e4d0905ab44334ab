"""Why-alive chains name each hop so a person can act on it: the Future callback,
the object a C method is bound to, the frame and line, never an opaque referent."""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import re
import sys
import threading
import weakref

from leakwatch._attribution.whyalive import find_chains

MOD = __name__
HOLD: dict[str, object] = {}


class Conn:
    def on_done(self, fut: object) -> None:
        pass


def chain_of(obj: object) -> str | None:
    """The chain of ``obj``, with the test's own frames out of the way.

    The search stops once it found the target; the test knows it is there, so
    it gets time for the whole heap however busy the machine (not the default
    half second)."""
    exclude = [sys._getframe(), sys._getframe(1)]
    return find_chains([obj], exclude=exclude, time_budget=60.0).get(id(obj))


def test_a_futures_callbacks_are_named_down_to_the_object_they_are_bound_to() -> None:
    loop = asyncio.new_event_loop()
    conn, other = Conn(), Conn()

    async def setup() -> asyncio.Task[None]:
        future = loop.create_future()

        async def waiter() -> None:
            await future

        task = loop.create_task(waiter(), name="waiter")
        await asyncio.sleep(0)  # the task now waits on future: its wakeup is callback #0
        future.add_done_callback(conn.on_done)
        future.add_done_callback(functools.partial(print, other))
        HOLD["fut"] = future
        return task

    task = loop.run_until_complete(setup())  # the loop stops; the task stays pending
    try:
        found = {"task": chain_of(task), "conn": chain_of(conn), "other": chain_of(other)}
    finally:
        HOLD.clear()
        task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
    # Task's own wakeup method (named task_wakeup in C, __wakeup in Python).
    assert re.fullmatch(
        rf"{MOD}\.HOLD\['fut'\] -> Future done-callback #0 -> bound method Task\.\w*wakeup",
        found["task"] or "",
    ), found
    fut = f"{MOD}.HOLD['fut'] -> Future done-callback"
    assert found["conn"] == f"{fut} #1 -> bound method Conn.on_done"
    assert found["other"] == f"{fut} #2 -> partial.args[0]"


def test_a_builtin_method_names_the_object_it_is_bound_to() -> None:
    box: list[object] = []
    HOLD["append"] = box.append
    try:
        assert chain_of(box) == f"{MOD}.HOLD['append'] -> bound method list.append"
    finally:
        HOLD.clear()
    # A module's builtin function is not a method of its module.
    HOLD["len"] = len
    try:
        assert chain_of(sys.modules["builtins"]) is None or "bound method" not in str(
            chain_of(sys.modules["builtins"])
        )
    finally:
        HOLD.clear()


def test_a_traceback_hop_names_the_frame_function_and_line() -> None:
    def fail() -> None:
        conn = Conn()  # noqa: F841 - held by the traceback's frame
        raise ValueError("kept")

    try:
        fail()
    except ValueError as exc:
        HOLD["exc"] = exc
    try:
        frame = HOLD["exc"].__traceback__.tb_next.tb_frame  # type: ignore[attr-defined]
        conn = frame.f_locals["conn"]
        line = inspect.getsourcelines(fail)[1] + 2
        del frame
        found = chain_of(conn)
        assert found is not None
        assert found.startswith(f"{MOD}.HOLD['exc'] -> ValueError.__traceback__")
        assert found.endswith(f"<local 'conn' of fail() in {_short(__file__)}:{line}>"), found
    finally:
        HOLD.clear()


def test_a_hop_through_an_opaque_c_object_says_what_holds_it_once() -> None:
    conn = Conn()
    HOLD["it"] = itertools.repeat(itertools.repeat(conn, 2), 2)  # two opaque hops in a row
    try:
        assert chain_of(conn) == f"{MOD}.HOLD['it'] -> <inside repeat>"
    finally:
        HOLD.clear()


def _park(ready: threading.Event, release: threading.Event, out: list[object]) -> None:
    future = asyncio.Future(loop=asyncio.new_event_loop())
    conn = Conn()
    future.add_done_callback(conn.on_done)
    out.append(weakref.ref(conn))
    ready.set()
    release.wait()
    future.get_loop().close()


def test_a_frame_local_future_in_another_thread_names_the_callback() -> None:
    # The field report's chain: "local 'future' -> <referent of Future> -> <referent
    # of builtin_function_or_method>".  Each hop now says what it is.
    ready, release, out = threading.Event(), threading.Event(), list[object]()
    thread = threading.Thread(target=_park, args=(ready, release, out), name="parker")
    thread.start()
    try:
        assert ready.wait(5)
        conn = out[0]()  # type: ignore[operator]
        found = chain_of(conn)
        assert found is not None
        # 'conn' is also a local of the same frame: one hop, found first.
        assert found.endswith("(thread 'parker') local 'conn'"), found
        del conn
    finally:
        release.set()
        thread.join(5)
    assert not thread.is_alive()


def test_find_chains_caches_no_class_it_looked_at() -> None:
    class Made:
        __slots__ = ("x",)

    obj = Made()
    obj.x = Conn()
    HOLD["made"] = obj
    try:
        assert chain_of(obj.x) == f"{MOD}.HOLD['made'] -> {Made.__qualname__}.x"
    finally:
        HOLD.clear()
    ref = weakref.ref(Made)
    del obj, Made
    import gc

    gc.collect()
    assert ref() is None


def _short(path: str) -> str:
    from leakwatch._base.frames import short_path

    return short_path(path)
