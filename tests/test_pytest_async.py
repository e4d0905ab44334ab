"""The pytest plugin and async tests: tasks are judged as the test returns, in its loop.

pytest-asyncio cancels pending tasks when it closes the loop at fixture
teardown, anyio and IsolatedAsyncioTestCase inside the call itself; a leaked
task must be found before that, and a task cleaned up must pass.
"""

from __future__ import annotations

import pytest
from support.plugin_runs import line_of, outcomes, prepare, run, write


@pytest.fixture
def lw(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


TASKS = """
import asyncio
import pytest
{import_fixture}

{mark}
async def test_leaks_a_task():
    asyncio.create_task(asyncio.sleep(30), name="forgotten")  # <- task leak

{mark}
async def test_cancels_and_awaits():
    task = asyncio.create_task(asyncio.sleep(30))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

{mark}
async def test_cancels_without_awaiting():
    asyncio.create_task(asyncio.sleep(30)).cancel()

{mark}
async def test_task_finishing_soon():
    asyncio.create_task(asyncio.sleep(0.01))

{mark}
async def test_callback_starts_a_short_task():
    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(asyncio.sleep(0.01)))

{mark}
async def test_callback_starts_a_long_task():
    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(asyncio.sleep(30)))

@{fixture}
async def ticker():
    task = asyncio.create_task(asyncio.sleep(30), name="ticker")
    yield task
    task.cancel()

{mark}
async def test_uses_a_fixture_task(ticker):
    assert not ticker.done()

def test_sync_after():
    pass
"""

EXPECTED = {
    "test_leaks_a_task": {"FAILED"},
    "test_cancels_and_awaits": {"PASSED"},
    "test_cancels_without_awaiting": {"PASSED"},
    "test_task_finishing_soon": {"PASSED"},
    "test_callback_starts_a_short_task": {"PASSED"},
    "test_callback_starts_a_long_task": {"FAILED"},
    "test_uses_a_fixture_task": {"PASSED"},
    "test_sync_after": {"PASSED"},
}


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_pytest_asyncio_task_leak_is_found_and_cleaned_tasks_pass(
    lw: pytest.Pytester, mode: str
) -> None:
    strict = mode == "strict"
    path = write(
        lw,
        "test_tasks.py",
        TASKS.format(
            import_fixture="import pytest_asyncio" if strict else "",
            mark="@pytest.mark.asyncio" if strict else "",
            fixture="pytest_asyncio.fixture" if strict else "pytest.fixture",
        ),
    )
    result = run(lw, "--leakwatch", "-o", f"asyncio_mode={mode}")
    assert outcomes(result) == EXPECTED
    line = line_of(path, "# <- task leak")
    result.stdout.fnmatch_lines(
        [
            "leakwatch: 1 task leak in call: task 'forgotten' running sleep()*",
            "  (created in call and still pending when its loop shut down)",
            f"*created at test_tasks.py:{line} in test_leaks_a_task",
        ]
    )


def test_a_task_leaked_on_a_module_loop_is_reported_once(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_module_loop.py",
        """
        import asyncio
        import pytest

        pytestmark = pytest.mark.asyncio(loop_scope="module")

        async def test_leaks():
            asyncio.create_task(asyncio.sleep(30), name="lingering")

        async def test_next():
            pass
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {"test_leaks": {"FAILED"}, "test_next": {"PASSED"}}
    assert result.stdout.str().count("test_module_loop.py::test_leaks (call) x1") == 1


def test_a_task_dropped_where_a_service_task_of_the_same_coroutine_is_kept_fails(
    lw: pytest.Pytester,
) -> None:
    """Who held a task as its loop shut down is remembered by where it was
    made (the innermost frames): a service's task, kept by a module global's
    attribute, ends with its loop by design; the same coroutine made at
    another line by the next test, through the same outer frames, and held by
    no one, is that test's leak."""
    path = write(
        lw,
        "test_service_places.py",
        """
        import asyncio
        import pytest

        async def sleeper():
            await asyncio.sleep(3600)

        class Service:
            task = None

        SERVICE = Service()

        async def start_service():
            SERVICE.task = asyncio.get_running_loop().create_task(sleeper())

        async def start_and_drop():
            asyncio.get_running_loop().create_task(sleeper())  # <- dropped

        @pytest.mark.parametrize("main", [start_service, start_and_drop])
        def test_runs(main):
            asyncio.run(main())
        """,
    )
    result = run(lw, "--leakwatch", "-p", "no:randomly", "-W", "ignore::RuntimeWarning")
    assert outcomes(result) == {
        "test_runs[start_service]": {"PASSED"},
        "test_runs[start_and_drop]": {"FAILED"},
    }, result.stdout.str()
    line = line_of(path, "# <- dropped")
    result.stdout.fnmatch_lines(
        [f"*still pending when its loop shut down*test_service_places.py:{line}*"]
    )


def test_anyio_task_leak_is_found(lw: pytest.Pytester) -> None:
    path = write(
        lw,
        "test_anyio_tasks.py",
        """
        import asyncio
        import anyio
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_leaks_a_task():
            asyncio.get_running_loop().create_task(asyncio.sleep(30))  # <- anyio leak

        @pytest.mark.anyio
        async def test_task_group_cleans_up():
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.sleep, 0.01)
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_leaks_a_task": {"FAILED"},
        "test_task_group_cleans_up": {"PASSED"},
    }
    line = line_of(path, "# <- anyio leak")
    result.stdout.fnmatch_lines([f"*created at test_anyio_tasks.py:{line} in test_leaks_a_task"])


def test_unittest_cases_sync_and_async(lw: pytest.Pytester) -> None:
    path = write(
        lw,
        "test_unit.py",
        """
        import asyncio, socket, unittest

        KEEP = []

        class Sync(unittest.TestCase):
            def setUp(self):
                self.conn = socket.socket()

            def tearDown(self):
                self.conn.close()

            def test_leaks(self):
                KEEP.append(socket.socket())  # <- unittest leak

            def test_clean(self):
                self.assertGreaterEqual(self.conn.fileno(), 0)

        class Async(unittest.IsolatedAsyncioTestCase):
            async def test_leaks_a_task(self):
                asyncio.create_task(asyncio.sleep(30))  # <- async unittest leak

            async def test_awaits_its_task(self):
                await asyncio.create_task(asyncio.sleep(0))
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_leaks": {"FAILED"},
        "test_clean": {"PASSED"},
        "test_leaks_a_task": {"FAILED"},
        "test_awaits_its_task": {"PASSED"},
    }
    line = line_of(path, "# <- unittest leak")
    async_line = line_of(path, "# <- async unittest leak")
    result.stdout.fnmatch_lines([f"*created at test_unit.py:{line} in test_leaks"])
    result.stdout.fnmatch_lines([f"*created at test_unit.py:{async_line} in test_leaks_a_task"])


def test_anyio_process_pool_service_task_and_workers_are_known_not_leaks(
    lw: pytest.Pytester,
) -> None:
    write(
        lw,
        "test_anyio_workers.py",
        """
        import asyncio
        import anyio.to_process
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_runs_in_a_worker_process():
            assert await anyio.to_process.run_sync(abs, -3) == 3

        @pytest.mark.anyio
        async def test_leaks_a_task_beside_the_pool():
            await anyio.to_process.run_sync(abs, -3)
            asyncio.get_running_loop().create_task(asyncio.sleep(30))
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_runs_in_a_worker_process": {"PASSED"},
        "test_leaks_a_task_beside_the_pool": {"FAILED"},
    }, result.stdout.str()
    result.stdout.fnmatch_lines(["*known library leaks (not failing)*"])


TIMERS = """
import asyncio
import threading

import pytest


def tick():
    pass


@pytest.fixture(scope="module")
def loop():
    made = asyncio.new_event_loop()  # outlives each test
    yield made
    made.close()


def test_leaves_a_timer(loop):
    loop.call_later(30, tick)  # <- timer leak


def test_cancels_its_timer(loop):
    loop.call_later(30, tick).cancel()


def test_lets_its_timer_run(loop):
    loop.call_later(0.001, tick)
    loop.run_until_complete(asyncio.sleep(0.05))


def test_leaves_a_threading_timer():
    timer = threading.Timer(60, tick)
    timer.daemon = True  # the run must not wait a minute for it at exit
    timer.start()  # <- threading timer


def test_sleeps_on_its_own_loop():
    asyncio.run(asyncio.wait_for(asyncio.sleep(0.01), 30))
"""


def test_a_timer_a_test_leaves_on_a_loop_that_outlives_it_fails_that_test(
    lw: pytest.Pytester,
) -> None:
    path = write(lw, "test_timers.py", TIMERS)
    result = run(lw, "--leakwatch", "--leakwatch-settle=0.3", "-rf")
    assert outcomes(result) == {
        "test_leaves_a_timer": {"FAILED"},
        "test_leaves_a_threading_timer": {"FAILED"},
    }
    result.stdout.fnmatch_lines(
        [f"*1 timer leak in call: timer calling *tick(), due in * created at test_timers.py:"
         f"{line_of(path, '# <- timer leak')}"]
    )  # fmt: skip
    result.stdout.fnmatch_lines(
        [f"*1 timer leak in call: timer threading.Timer(60 s) calling *tick()*"
         f"created at test_timers.py:{line_of(path, '# <- threading timer')}"]
    )  # fmt: skip
    # The module fixture's loop closes with the module: nothing left to charge it.
    assert "fixture 'loop'" not in result.stdout.str()


def test_a_task_the_rules_expect_is_not_looked_for_in_the_fixtures_worlds() -> None:
    """As an async test returns, the tasks it left pending get the loop until
    they end; a wider fixture's world is asked which it holds (no wait for
    those), but only about the tasks the run's rules do not take out anyway
    (a known library leak: anyio's process-pool task, after every such
    test): each ask walks the worlds.  The unexpected task beside it is
    asked about, and waited for until it ends."""
    import asyncio
    import weakref
    from typing import Any

    from leakwatch._engine.options import Options
    from leakwatch._suite.calls import _let_finish

    class Rules:
        def expected(self, leak: Any) -> bool:
            return "'pooled'" in leak.title

    asked: list[str] = []

    def held(tasks: list[Any]) -> set[int]:
        asked.extend(t.get_name() for t in tasks)
        return set()

    async def main() -> tuple[bool, bool]:
        pooled = asyncio.create_task(asyncio.sleep(30), name="pooled")
        brief = asyncio.create_task(asyncio.sleep(0.05), name="brief")
        me = asyncio.current_task()
        assert me is not None
        before = {id(me): weakref.ref(me)}
        await _let_finish(before, held, Options(policy=Rules(), settle_budget=5.0))  # type: ignore[arg-type]
        done = (pooled.done(), brief.done())
        pooled.cancel()
        return done

    assert asyncio.run(main()) == (False, True)
    assert asked == ["brief"]
