"""What differs between Pythons, behind leakwatch._base.pyversion: each answer checked
on the running interpreter, and the 3.14 task listing (per loop, through the
public ``asyncio.all_tasks(loop)``) checked here too, where it can run."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import created_at, marker_line, of_kind

import leakwatch
from leakwatch._base import pyversion as _pyversion

LISTINGS: list[Callable[[], list[Any]]] = [_pyversion.all_tasks, _pyversion._per_loop]


def test_frame_locals_is_a_plain_dict_with_cell_values() -> None:
    shared = object()
    plain = object()

    def inner() -> object:
        return shared  # makes 'shared' a cell of this frame

    got = _pyversion.frame_locals(sys._getframe())
    assert type(got) is dict
    assert got["shared"] is shared and got["plain"] is plain
    assert inner() is shared


def test_kept_locals_is_the_frames_own_dict_a_referrer_of_its_variables() -> None:
    # 3.10-3.12 keep one dict on a frame once its variables are read; the
    # collector shows it as their referrer.  3.13's proxy keeps none.
    import gc

    mine = object()
    frame = sys._getframe()
    kept = _pyversion.kept_locals(frame)
    holders = [r for r in gc.get_referrers(mine) if isinstance(r, dict) and r.get("mine") is mine]
    if sys.version_info >= (3, 13):
        assert kept is None and holders == []
    else:
        assert kept is frame.f_locals and kept["mine"] is mine
        assert any(h is kept for h in holders)
    del frame, kept, holders


@pytest.mark.parametrize("listing", LISTINGS, ids=["this-python", "per-loop"])
def test_tasks_of_the_running_loop_and_of_a_loop_in_another_thread(
    listing: Callable[[], list[Any]],
) -> None:
    started, release = threading.Event(), threading.Event()
    box: list[asyncio.Task[None]] = []

    def serve() -> None:
        async def main() -> None:
            box.append(asyncio.create_task(asyncio.sleep(30), name="elsewhere"))
            started.set()
            while not release.is_set():
                await asyncio.sleep(0.01)
            box[0].cancel()

        asyncio.run(main())

    thread = threading.Thread(target=serve, name="other-loop")
    thread.start()
    try:
        assert started.wait(5)

        async def here() -> list[Any]:
            mine = asyncio.create_task(asyncio.sleep(30), name="here")
            try:
                await asyncio.sleep(0)
                return [t for t in listing() if t is mine or t is box[0]]
            finally:
                mine.cancel()

        found = asyncio.run(here())
        assert sorted(t.get_name() for t in found) == ["elsewhere", "here"]
    finally:
        release.set()
        thread.join(5)
    assert not thread.is_alive()


@pytest.mark.parametrize("listing", LISTINGS, ids=["this-python", "per-loop"])
def test_a_task_left_on_a_stopped_loop_is_still_listed(
    listing: Callable[[], list[Any]],
) -> None:
    loop = asyncio.new_event_loop()
    left: list[asyncio.Task[None]] = []

    async def start() -> None:
        left.append(asyncio.create_task(asyncio.sleep(30), name="left"))
        listing()  # a snapshot while the loop runs: the loop is seen here
        await asyncio.sleep(0)

    try:
        loop.run_until_complete(start())
        assert left[0] in listing()  # the loop has stopped; its task is pending
    finally:
        left[0].cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


@pytest.mark.skipif(
    not hasattr(asyncio, "eager_task_factory"), reason="eager task factories are new in 3.12"
)
def test_eager_tasks_one_left_pending_is_a_leak_one_done_eagerly_is_not() -> None:
    async def done_at_once() -> int:
        return 1

    async def parks() -> None:
        await asyncio.Event().wait()

    async def main() -> tuple[leakwatch.Report, leakwatch.Report]:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
        async with leakwatch.watch(kinds=("task",), on_leak="report") as quiet:
            task = asyncio.create_task(done_at_once())
            assert task.done()  # ran to completion inside create_task
        async with leakwatch.watch(kinds=("task",), on_leak="report") as leaky:
            pending = asyncio.create_task(parks())  # <- eager, then parked
        pending.cancel()
        await asyncio.sleep(0)
        assert quiet.report is not None and leaky.report is not None
        return quiet.report, leaky.report

    quiet, leaky = asyncio.run(main())
    assert quiet.clean, str(quiet)
    tasks = of_kind(leaky, "task")
    assert tasks, str(leaky)
    here = (__file__, marker_line(__file__, "# <- eager, then parked"))
    assert here in [created_at(leak) for leak in tasks], str(leaky)


def test_referents_are_the_collectors_and_the_asyncio_modules_give_its_namespace() -> None:
    import _asyncio

    items = [object(), {"k": object()}, [1, object()]]
    def ids(found: list[Any]) -> list[int]:
        return list(map(id, found))

    assert ids(_pyversion.referents(*items)) == ids(gc.get_referents(*items))
    assert ids(_pyversion.referents(items[1])) == ids(gc.get_referents(items[1]))
    got = ids(_pyversion.referents(items[1], _asyncio, items[2]))
    first, last = ids(gc.get_referents(items[1])), ids(gc.get_referents(items[2]))
    assert got[: len(first)] == first and got[-len(last) :] == last  # each object's, in order
    assert id(vars(_asyncio)) in got[len(first) : -len(last)]  # on every Python: its globals


# Future iterators freed onto the _asyncio module's free list, then every
# search leakwatch makes that meets that module (as a referrer of the
# current-task table its C state also holds, as a holder by name): the
# interpreter must come out sound, its gc passes ending (CPython gh-122695:
# asking gc.get_referents of that module frees those iterators twice on
# 3.12.0-3.12.5, and the next pass loops forever).
SEARCHES_MEETING_ASYNCIO = """
import asyncio, gc, socket, _asyncio
from leakwatch._attribution.referrers import referrers_of, remembering
from leakwatch._attribution.singletons import search_singletons
from leakwatch._attribution.whyalive import find_chains

async def main():
    loop = asyncio.get_running_loop()
    for _ in range(5):
        fut = loop.create_future()
        loop.call_soon(fut.set_result, None)
        await fut

asyncio.run(main())
other = []
for _ in range(3):
    kept = []
    with remembering():
        referrers_of((asyncio.tasks._current_tasks, other), kept, set())
    kept.clear()
_asyncio.kept_by_test = [socket.socket()]
print(find_chains(list(_asyncio.kept_by_test)))
search_singletons(list(_asyncio.kept_by_test))
_asyncio.kept_by_test.pop().close()
gc.collect()
gc.collect()
print("sound")
"""


def test_searches_that_meet_the_asyncio_module_leave_the_interpreter_sound(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(SEARCHES_MEETING_ASYNCIO)],
        cwd=tmp_path,  # leakwatch as installed
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "kept_by_test" in done.stdout and done.stdout.endswith("sound\n"), done.stdout
