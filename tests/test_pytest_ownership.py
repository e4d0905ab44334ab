"""Ownership across threads, loops and fixtures: what real suites are full of.

A wider fixture's server thread (often with its own event loop) works while
every test runs: it accepts the test's connection, starts handler threads,
makes tasks, closes things later.  None of it is the running test's.  Each
case runs beside the leak it must still catch, in the same session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.plugin_runs import line_of, outcomes, prepare, read_json, run, write


@pytest.fixture
def lw(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


def test_tasks_of_a_session_server_loop_in_another_thread_are_not_the_tests(
    lw: pytest.Pytester,
) -> None:
    path = write(
        lw,
        "test_loop_thread.py",
        """
        import asyncio, threading, time
        import pytest

        @pytest.fixture(scope="session")
        def server_loop():
            loop = asyncio.new_event_loop()

            async def tick():
                # A server's housekeeping: a new task every few ms, each
                # pending for a while, for as long as the loop runs.
                while True:
                    loop.create_task(asyncio.sleep(0.2))
                    await asyncio.sleep(0.005)

            thread = threading.Thread(target=loop.run_forever, name="server-loop", daemon=True)
            thread.start()
            ticker = asyncio.run_coroutine_threadsafe(tick(), loop)
            yield loop
            ticker.cancel()
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.run_until_complete(asyncio.sleep(0))
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        def test_sync_while_the_server_ticks(server_loop):
            time.sleep(0.05)

        @pytest.mark.asyncio
        async def test_async_while_the_server_ticks(server_loop):
            await asyncio.sleep(0.05)

        def test_hands_a_coroutine_to_the_server_and_forgets_it(server_loop):
            asyncio.run_coroutine_threadsafe(asyncio.sleep(3600), server_loop)  # <- handed over
            time.sleep(0.02)

        @pytest.mark.asyncio
        async def test_leaks_a_task_on_its_own_loop(server_loop):
            asyncio.get_running_loop().create_task(asyncio.sleep(3600))  # <- own loop

        def test_last(server_loop):
            time.sleep(0.05)
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_sync_while_the_server_ticks": {"PASSED"},
        "test_async_while_the_server_ticks": {"PASSED"},
        "test_hands_a_coroutine_to_the_server_and_forgets_it": {"FAILED"},
        "test_leaks_a_task_on_its_own_loop": {"FAILED"},
        "test_last": {"PASSED"},
    }
    handed = line_of(path, "# <- handed over")
    result.stdout.fnmatch_lines(
        ["*task*on the loop of thread 'server-loop'*", f"*test_loop_thread.py:{handed}*"]
    )


def test_what_a_class_scoped_servers_threads_make_is_the_fixtures(lw: pytest.Pytester) -> None:
    path = write(
        lw,
        "test_server.py",
        """
        import socket, socketserver, threading, time
        import pytest

        KEEP = []

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.rfile.readline()
                self.wfile.write(b"ok\\n")
                time.sleep(1.0)  # closes its end well after the test is over

        @pytest.fixture(scope="class")
        def server():
            srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
            srv.daemon_threads = True
            thread = threading.Thread(target=srv.serve_forever, name="server")
            thread.start()
            yield srv.server_address
            srv.shutdown()
            thread.join(5)
            srv.server_close()
            time.sleep(1.2)  # the last handler ends

        class TestAgainstAServer:
            def test_talks_and_closes(self, server):
                with socket.create_connection(server) as conn:
                    conn.sendall(b"hi\\n")
                    assert conn.recv(10) == b"ok\\n"

            def test_keeps_its_client(self, server):
                conn = socket.create_connection(server)  # <- client leak
                KEEP.append(conn)
                conn.sendall(b"hi\\n")
                assert conn.recv(10) == b"ok\\n"

            def test_talks_again(self, server):
                with socket.create_connection(server) as conn:
                    conn.sendall(b"hi\\n")
                    assert conn.recv(10) == b"ok\\n"

            def test_last(self, server):
                while KEEP:
                    KEEP.pop().close()
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_talks_and_closes": {"PASSED"},
        "test_keeps_its_client": {"FAILED"},
        "test_talks_again": {"PASSED"},
        "test_last": {"PASSED"},
    }, result.stdout.str()
    line = line_of(path, "# <- client leak")
    result.stdout.fnmatch_lines(
        [f"leakwatch: 1 fd leak in call: socket 127.0.0.1:* -> 127.0.0.1:* at *.py:{line}"]
    )
    assert "warning" not in result.outlines[-1]


def test_what_leakwatchs_gc_pass_finalises_stays_out_of_the_running_test(
    lw: pytest.Pytester,
) -> None:
    lw.makefile(
        ".ini",
        pytest="[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n",
    )
    write(
        lw,
        "test_cycle.py",
        """
        import gc, socket, threading, time
        import pytest

        class Holder:
            pass

        @pytest.mark.leakwatch(False)
        def test_leaves_an_unclosed_socket_in_a_cycle():
            gc.disable()  # no natural collection before leakwatch's own pass
            holder = Holder()
            holder.me = holder
            holder.sock = socket.socket()

        def test_innocent():
            # A thread ending just after the test makes leakwatch settle: a gc pass.
            threading.Thread(target=time.sleep, args=(0.1,)).start()

        def test_leaks_a_thread():
            threading.Thread(target=time.sleep, args=(3,), daemon=True).start()

        def test_last():
            gc.enable()
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_leaves_an_unclosed_socket_in_a_cycle": {"PASSED"},
        "test_innocent": {"PASSED"},
        "test_leaks_a_thread": {"FAILED"},
        "test_last": {"PASSED"},
    }, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "1 object closed only by the garbage collector in leakwatch's gc passes*",
            "  test_cycle.py::test_*: ResourceWarning: unclosed <socket.socket*"
            "(left by earlier code*",
        ]
    )


MYLIB = """
import asyncio, threading

_runner = None
_restarted = None

class Runner:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="mylib-loop", daemon=True)
        self.thread.start()

def get_runner():
    global _runner
    if _runner is None:
        _runner = Runner()
    return _runner

def restart():
    global _restarted
    _restarted = Runner()  # the old one is never stopped
"""


def test_a_library_singleton_made_on_first_use_fails_nobody_but_a_second_one_alive_fails(
    lw: pytest.Pytester,
) -> None:
    write(lw, "mylib.py", MYLIB)
    path = write(
        lw,
        "test_first_use.py",
        """
        import mylib

        KEEP = []

        def test_first_user():
            mylib.get_runner()

        def test_second_user():
            mylib.get_runner()

        def test_keeps_a_runner_per_call():
            KEEP.append(mylib.Runner())  # <- registry

        def test_restarts_once():
            mylib.restart()

        def test_restarts_again():
            mylib.restart()  # <- second alive
        """,
    )
    result = run(lw, "--leakwatch", "--leakwatch-json=out.json")
    assert outcomes(result) == {
        "test_first_user": {"PASSED"},
        "test_second_user": {"PASSED"},
        "test_keeps_a_runner_per_call": {"FAILED"},
        "test_restarts_once": {"PASSED"},
        "test_restarts_again": {"FAILED"},
    }, result.stdout.str()
    registry = line_of(path, "# <- registry")
    again = line_of(path, "# <- second alive")
    result.stdout.fnmatch_lines(
        [
            "*_ test_keeps_a_runner_per_call _*",
            "  thread   thread 'mylib-loop' (daemon)*",
            f"*called from test_first_use.py:{registry} in test_keeps_a_runner_per_call",
            "*_ test_restarts_again _*",
            "  thread   thread 'mylib-loop' (daemon)*",
            f"*called from test_first_use.py:{again} in test_restarts_again",
            "*first made by: another is still alive, made first by *test_restarts_once: growth",
        ]
    )
    # The summary names the test that made the first one too.
    result.stdout.fnmatch_lines(
        [
            "first uses that happened again while the first was alive*",
            "  test_first_use.py::test_restarts_once, then "
            "test_first_use.py::test_restarts_again: thread 'mylib-loop'*",
        ]
    )
    repeated = read_json(lw.path / "out.json")["first_uses_repeated"]
    assert {(r["first"], r["again"]) for r in repeated} == {
        ("test_first_use.py::test_restarts_once", "test_first_use.py::test_restarts_again")
    }


def test_watch_reports_a_singleton_made_on_first_use_as_information(tmp_path: Path) -> None:
    # tmp_path, not pytester: pytester puts sys.modules back as it was, so a
    # leakwatch module first imported here would be imported again later,
    # beside the hooks the first copy installed.
    import importlib
    import sys
    import textwrap

    import leakwatch

    (tmp_path / "mylib_watched.py").write_text(textwrap.dedent(MYLIB), encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        mylib = importlib.import_module("mylib_watched")
        keep = []
        try:
            with leakwatch.watch(on_leak="report") as first:
                mylib.get_runner()
            with leakwatch.watch(on_leak="report") as registry:
                keep.append(mylib.Runner())
        finally:
            for runner in [mylib._runner, *keep]:
                runner.loop.call_soon_threadsafe(runner.loop.stop)
                runner.thread.join(5)
                runner.loop.close()
            del sys.modules["mylib_watched"]
    finally:
        sys.path.remove(str(tmp_path))
    assert first.report is not None and registry.report is not None
    assert first.report.leaks == []
    [info] = [i for i in first.report.info if i.kind == "thread"]
    assert "mylib_watched._runner.thread" in info.details["benign"]
    assert [leak.kind for leak in registry.report.leaks].count("thread") == 1


def test_a_process_wide_pipe_native_code_makes_on_first_use_fails_nobody(
    lw: pytest.Pytester,
) -> None:
    pytest.importorskip("uvloop")
    path = write(
        lw,
        "test_uvloop_first.py",
        """
        import asyncio, os
        import uvloop

        KEEP = []

        def run_a_loop():
            # libuv makes one process-wide pipe with the first loop, in C.
            loop = uvloop.new_event_loop()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        def test_first_uvloop_user():
            run_a_loop()

        def test_second_uvloop_user():
            run_a_loop()

        def test_leaks_a_pipe():
            KEEP.extend(os.pipe())  # <- pipe leak
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_first_uvloop_user": {"PASSED"},
        "test_second_uvloop_user": {"PASSED"},
        "test_leaks_a_pipe": {"FAILED"},
    }, result.stdout.str()
    line = line_of(path, "# <- pipe leak")
    result.stdout.fnmatch_lines(
        [
            f"leakwatch: 2 fd leaks in call: pipe * at test_uvloop_first.py:{line}",
            "*first uses, like a library's one-time initialisation (not failing), in 1 test",
            "  test_uvloop_first.py::test_first_uvloop_user: pipe*creation not seen*",
        ]
    )


def test_what_a_test_stores_in_a_wider_fixtures_value_is_that_fixtures(
    lw: pytest.Pytester,
) -> None:
    path = write(
        lw,
        "test_cache.py",
        """
        import socket, threading
        import pytest

        KEEP = []

        @pytest.fixture(scope="session")
        def pool():
            conns = {}
            yield conns
            for conn in conns.values():
                conn.close()

        @pytest.fixture(scope="session")
        def careless_pool():
            yield {}  # never closes what it holds

        @pytest.fixture(params=["a", "b"])
        def conn(request, pool):
            # get-or-create in the session fixture's value: the first test per
            # parameter makes it, later ones reuse it, the pool closes it.
            if request.param not in pool:
                pool[request.param] = socket.socket()
            return pool[request.param]

        def test_uses_a_pooled_conn(conn):
            assert conn.fileno() >= 0

        def test_uses_it_again(conn):
            assert conn.fileno() >= 0

        def test_keeps_its_own_socket():
            KEEP.append(socket.socket())  # <- own leak

        def test_fills_the_careless_pool(careless_pool):
            careless_pool["x"] = socket.socket()  # <- careless

        def test_last():
            pass
        """,
    )
    result = run(lw, "--leakwatch")
    found = outcomes(result)
    assert found["test_uses_a_pooled_conn[a]"] == {"PASSED"}, result.stdout.str()
    assert found["test_uses_a_pooled_conn[b]"] == {"PASSED"}
    assert found["test_uses_it_again[a]"] == {"PASSED"}
    assert found["test_uses_it_again[b]"] == {"PASSED"}
    assert found["test_keeps_its_own_socket"] == {"FAILED"}
    # Kept by the careless session fixture: charged to it when it is
    # finalised (at the last test's teardown), never to the test that filled it.
    assert found["test_fills_the_careless_pool"] == {"PASSED"}
    assert found["test_last"] == {"PASSED", "ERROR"}
    own = line_of(path, "# <- own leak")
    careless = line_of(path, "# <- careless")
    result.stdout.fnmatch_lines(
        [
            f"leakwatch: 1 fd leak from session fixture 'careless_pool': socket * at "
            f"test_cache.py:{careless}",
            f"leakwatch: 1 fd leak in call: socket * at test_cache.py:{own}",
        ]
    )


def test_a_child_process_leaked_in_call_is_charged_to_call_with_its_pipes(
    lw: pytest.Pytester,
) -> None:
    path = write(
        lw,
        "test_child.py",
        """
        import subprocess

        KEEP = []

        def test_starts_cat_and_forgets_it():
            KEEP.append(subprocess.Popen(["cat"], stdin=subprocess.PIPE))  # <- child

        def test_last():
            for proc in KEEP:
                proc.stdin.close()
                proc.wait(5)
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_starts_cat_and_forgets_it": {"FAILED"},  # one report: no teardown error
        "test_last": {"PASSED"},
    }, result.stdout.str()
    line = line_of(path, "# <- child")
    result.stdout.fnmatch_lines(
        [f"leakwatch: 2 leaks (fd, process) in call: * at test_child.py:{line}*"]
    )


C_OPENS = """
import ctypes
from collections.abc import Iterator

import pytest

LIBC = ctypes.CDLL(None)
KEPT = []


@pytest.fixture(scope="session")
def noop():
    yield


def test_c_code_opens_one(noop):
    KEPT.append(LIBC.open(b"/dev/zero", 0))  # the first: a first use


def test_c_code_opens_another(noop):
    KEPT.append(LIBC.open(b"/dev/zero", 0))  # growth: fails, in call
"""


def test_a_descriptor_c_code_opens_is_placed_in_the_window_that_made_it(
    lw: pytest.Pytester,
) -> None:
    # Nothing records a descriptor C code opens: the windows' marks place it.
    # Each mark's own listing of /proc/self/fd held the lowest free number,
    # the one C code's next descriptor takes: it was placed in the window
    # before, the session fixture set up around the first test judged it as
    # its own, and the next one was "made in setup".
    write(lw, "test_c_opens.py", C_OPENS)
    result = run(lw, "--leakwatch", "-p", "no:asyncio")
    assert outcomes(result) == {
        "test_c_code_opens_one": {"PASSED"},
        "test_c_code_opens_another": {"FAILED"},
    }, result.stdout.str()
    result.stdout.fnmatch_lines(["*1 fd leak in call: device /dev/zero *"])
    assert "session fixture 'noop'" not in result.stdout.str()


C_REOPENS = """
import ctypes
import os

LIBC = ctypes.CDLL(None)
OLD = [os.open("/dev/null", os.O_RDONLY) for _ in range(2)]  # open before the tests
KEPT = []


def reopen():
    fd = OLD.pop(0)
    os.close(fd)
    new = LIBC.open(b"/dev/zero", 0)  # C code: the number just closed
    assert new == fd
    KEPT.append(new)


def test_clean():
    pass


def test_c_code_reopens_a_number():
    reopen()  # the first: a first use


def test_c_code_reopens_another():
    reopen()  # growth: fails, in call
"""


def test_a_descriptor_c_code_reopens_under_a_closed_number_is_still_found(
    lw: pytest.Pytester,
) -> None:
    # A test's first look reuses the last full look while Python made no
    # descriptor and the same numbers are open: a number the test closes and
    # C code opens again is the one thing no hook and no count sees.  The
    # last look is a full one, so what is behind the number is new.  (The
    # window marks reuse looks the same way, so it is placed in the last
    # window, teardown: its phase may be late, never its test.)
    write(lw, "test_c_reopens.py", C_REOPENS)
    result = run(lw, "--leakwatch", "-p", "no:asyncio")
    assert outcomes(result) == {
        "test_clean": {"PASSED"},
        "test_c_code_reopens_a_number": {"PASSED"},
        "test_c_code_reopens_another": {"PASSED", "ERROR"},
    }, result.stdout.str()
    result.stdout.fnmatch_lines(["*1 fd leak in teardown: device /dev/zero *"])


RAW_THREADS = """
import _thread, threading

NEVER = threading.Event()


def test_first(request):
    _thread.start_new_thread(NEVER.wait, ())  # <- first


def test_second():
    _thread.start_new_thread(NEVER.wait, ())  # <- second


def test_one_that_ends():
    done = threading.Event()
    _thread.start_new_thread(done.set, ())
    assert done.wait(10)
"""


def test_threads_started_by_thread_are_each_the_tests_that_started_them(
    lw: pytest.Pytester,
) -> None:
    # A thread started with _thread has no Thread object; what it runs on (the
    # module's Event) being a global does not make it a library's first use.
    path = write(lw, "test_raw_threads.py", RAW_THREADS)
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_first": {"FAILED"},
        "test_second": {"FAILED"},
        "test_one_that_ends": {"PASSED"},
    }, result.stdout.str()
    for marker in ("# <- first", "# <- second"):
        line = line_of(path, marker)
        result.stdout.fnmatch_lines([f"*1 thread leak in call: *test_raw_threads.py:{line}*"])


def test_a_fixtures_generator_is_found_and_the_runners_machinery_is_not_walked_into() -> None:
    """A wider fixture's finalizers hold its own generator (pytest's
    ``partial(_teardown_yield_fixture, func, gen)``) and, one more per test
    that ran one, each dependent fixture's teardown with its request: the
    walk takes the first and never enters the runner's objects, so a fixture
    that returns a plain value claims no dependent's generator as its world."""
    import functools

    from leakwatch._suite.ownership import generators_in

    def fixture_body() -> Iterator[None]:
        yield

    class Request:  # stands for pytest's requests and fixture definitions
        def __init__(self, held: object) -> None:
            self.held = [held]

    own, dependents = fixture_body(), fixture_body()
    next(own)
    next(dependents)
    teardowns = [functools.partial(print, request=Request(dependents)) for _ in range(3)]
    assert generators_in([functools.partial(print, own), *teardowns], (Request,)) == [own]
    assert generators_in(teardowns, (Request,)) == []
    assert generators_in(teardowns) == [dependents]  # the walk without the rule
