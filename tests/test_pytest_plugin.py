"""The pytest plugin, end to end: the test that leaked fails, and only that test.

Each leak has a look-alike that must pass beside it, in the same run, so a
verdict that leaks into the next test shows up as a wrong outcome.
"""

from __future__ import annotations

import pytest
from support.plugin_runs import line_of, outcomes, prepare, run, write


@pytest.fixture
def lw(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


# -- the test that leaked -------------------------------------------------------------


def test_a_socket_leaked_in_a_test_fails_it_naming_kind_and_line(lw: pytest.Pytester) -> None:
    path = write(
        lw,
        "test_sock.py",
        """
        import socket

        KEEP = []

        def test_leaky():
            KEEP.append(socket.socket())  # <- leak

        def test_closes_its_socket():
            with socket.socket():
                pass

        def test_after_the_leak():
            pass
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_leaky": {"FAILED"},
        "test_closes_its_socket": {"PASSED"},
        "test_after_the_leak": {"PASSED"},
    }
    line = line_of(path, "# <- leak")
    result.stdout.fnmatch_lines(
        [
            "*_ test_leaky _*",
            f"leakwatch: 1 fd leak in call: socket * at test_sock.py:{line}",
            "  (created in call and still alive after teardown)",
            "  fd *socket*x1",
            f"*created at test_sock.py:{line} in test_leaky",
            "*KEEP.append(socket.socket())*",
            "*held by test_sock.KEEP[[]0[]]*",
            "FAILED test_sock.py::test_leaky - leakwatch: 1 fd leak in call*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_thread_left_running_fails_and_one_ending_soon_after_passes(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_threads.py",
        """
        import threading, time

        STOP = threading.Event()

        def test_leaves_a_thread_blocked():
            threading.Thread(target=STOP.wait, name="stuck", daemon=True).start()

        def test_thread_ends_20ms_later():
            threading.Thread(target=time.sleep, args=(0.02,)).start()

        def test_last():
            STOP.set()
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_leaves_a_thread_blocked": {"FAILED"},
        "test_thread_ends_20ms_later": {"PASSED"},
        "test_last": {"PASSED"},
    }
    result.stdout.fnmatch_lines(["*1 thread leak in call: thread 'stuck' (daemon)*"])


def test_inert_without_leakwatch(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_inert.py",
        """
        import socket, sys

        KEEP = []

        def test_leaky():
            KEEP.append(socket.socket())

        def test_no_audit_hook_and_no_checker(request):
            assert not request.config.pluginmanager.has_plugin("leakwatch-checker")
            import leakwatch._attribution.origins as origins
            assert not origins._installed
        """,
    )
    result = run(lw)
    assert outcomes(result) == {
        "test_leaky": {"PASSED"},
        "test_no_audit_hook_and_no_checker": {"PASSED"},
    }
    assert "leakwatch:" not in result.stdout.str()


def test_no_leakwatch_overrides_the_ini(lw: pytest.Pytester) -> None:
    lw.makefile(
        ".ini", pytest="[pytest]\nasyncio_default_fixture_loop_scope = function\nleakwatch = true\n"
    )
    write(
        lw, "test_x.py", "import socket\nK = []\ndef test_leaky():\n    K.append(socket.socket())\n"
    )
    assert outcomes(run(lw)) == {"test_leaky": {"FAILED"}}
    assert outcomes(run(lw, "--no-leakwatch")) == {"test_leaky": {"PASSED"}}


# -- look-alikes that must pass ---------------------------------------------------------


def test_caches_tmp_path_and_lazy_imports_pass(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_lookalikes.py",
        """
        import functools, re

        @functools.lru_cache(maxsize=None)
        def parse(text):
            return [text] * 100

        def test_lru_cache_filled_once():
            parse("x")

        def test_re_compile_cache():
            re.compile(r"leakwatch-(\\d+)-pattern")

        def test_tmp_path(tmp_path):
            (tmp_path / "f.txt").write_text("data")
            with open(tmp_path / "f.txt") as f:
                f.read()

        def test_open_read_without_close_is_closed_by_refcount(tmp_path):
            (tmp_path / "g.txt").write_text("data")
            open(tmp_path / "g.txt").read()

        def test_lazy_import():
            import xml.dom.minidom  # noqa: F401
        """,
    )
    result = run(lw, "--leakwatch", "-W", "ignore::ResourceWarning")
    names = ["test_lru_cache_filled_once", "test_re_compile_cache", "test_tmp_path"]
    names += ["test_open_read_without_close_is_closed_by_refcount", "test_lazy_import"]
    assert outcomes(result) == {name: {"PASSED"} for name in names}


# -- phases and function-scoped fixtures ---------------------------------------------------


def test_fixture_releasing_in_teardown_passes_and_one_that_does_not_errors(
    lw: pytest.Pytester,
) -> None:
    path = write(
        lw,
        "test_fixtures.py",
        """
        import socket
        import pytest

        KEEP = []

        @pytest.fixture
        def conn():
            s = socket.socket()
            yield s
            s.close()

        @pytest.fixture
        def forgetful():
            KEEP.append(socket.socket())  # <- fixture leak
            yield

        def test_uses_conn(conn):
            assert conn.fileno() >= 0

        def test_uses_forgetful(forgetful):
            pass

        def test_next():
            pass
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_uses_conn": {"PASSED"},
        "test_uses_forgetful": {"PASSED", "ERROR"},
        "test_next": {"PASSED"},
    }
    line = line_of(path, "# <- fixture leak")
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_uses_forgetful*",
            "leakwatch: 1 fd leak in setup: socket *",
            "*(created in setup (by a fixture) and still alive after teardown)",
            f"*created at test_fixtures.py:{line} in forgetful",
        ]
    )


def test_a_leak_made_in_teardown_errors(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_td.py",
        """
        import socket
        import pytest

        KEEP = []

        @pytest.fixture
        def reconnects_on_the_way_out():
            yield
            KEEP.append(socket.socket())

        def test_it(reconnects_on_the_way_out):
            pass
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {"test_it": {"PASSED", "ERROR"}}
    result.stdout.fnmatch_lines(
        ["*1 fd leak in teardown*", "*created in teardown and still alive*"]
    )


def test_failed_tests_are_judged_only_with_check_failed(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_failed.py",
        """
        import socket

        KEEP = []

        def test_fails_and_leaks():
            KEEP.append(socket.socket())
            assert False, "the test's own failure"
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {"test_fails_and_leaks": {"FAILED"}}
    assert "fd leak" not in result.stdout.str()

    result = run(lw, "--leakwatch", "--leakwatch-check-failed")
    assert outcomes(result) == {"test_fails_and_leaks": {"FAILED"}}
    result.stdout.fnmatch_lines(
        ["*the test's own failure*", "*- leakwatch -*", "*1 fd leak in call*"]
    )


# -- wider fixtures ------------------------------------------------------------------------

SERVER = """
import socket, socketserver, threading
import pytest

class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(self.request.recv(64))

@pytest.fixture(scope="module")
def server():
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, name="echo-server")
    thread.start()
    yield srv.server_address
    srv.shutdown()
    srv.server_close()
    thread.join()

def test_first(server):
    with socket.create_connection(server) as c:
        c.sendall(b"hi")
        assert c.recv(64) == b"hi"

def test_second(server):
    with socket.create_connection(server) as c:
        c.sendall(b"yo")
        assert c.recv(64) == b"yo"

def test_without_server():
    pass
"""


def test_a_module_scoped_loopback_server_is_not_charged_to_its_tests(lw: pytest.Pytester) -> None:
    write(lw, "test_server.py", SERVER)
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_first": {"PASSED"},
        "test_second": {"PASSED"},
        "test_without_server": {"PASSED"},
    }
    result.stdout.fnmatch_lines(["*= leakwatch =*", "no leaks found"])


def test_a_module_fixture_that_leaks_is_reported_once_with_its_name(lw: pytest.Pytester) -> None:
    path = write(
        lw,
        "test_modleak.py",
        """
        import socket
        import pytest

        KEEP = []

        @pytest.fixture(scope="module")
        def pool():
            KEEP.append(socket.socket())  # <- module leak
            return KEEP

        def test_one(pool):
            pass

        def test_two(pool):
            pass

        def test_three():
            pass
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_one": {"PASSED"},
        "test_two": {"PASSED"},
        "test_three": {"PASSED", "ERROR"},
    }
    line = line_of(path, "# <- module leak")
    text = result.stdout.str()
    assert text.count("ERROR at teardown") == 1
    assert text.count("test_modleak.py::pool (module fixture)") == 1
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_three*",
            "leakwatch: 1 fd leak from module fixture 'pool': socket *",
            f"*created at test_modleak.py:{line} in pool",
            "*test_modleak.py::pool (module fixture) x1*",
        ]
    )


def test_a_session_fixture_is_judged_at_the_end(lw: pytest.Pytester) -> None:
    write(
        lw,
        "conftest.py",
        """
        import threading
        import pytest

        @pytest.fixture(scope="session")
        def worker():
            stop = threading.Event()
            t = threading.Thread(target=stop.wait, name="session-worker")
            t.start()
            yield t
            stop.set()
            t.join()
        """,
    )
    write(lw, "test_a.py", "def test_a(worker):\n    assert worker.is_alive()\n")
    write(lw, "test_b.py", "def test_b(worker):\n    assert worker.is_alive()\n")
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {"test_a": {"PASSED"}, "test_b": {"PASSED"}}


def test_the_collector_still_reaches_objects_older_than_the_test(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_gc.py",
        """
        import gc, weakref
        import pytest

        class Node:
            pass

        @pytest.fixture(scope="module")
        def cycle():
            a, b = Node(), Node()
            a.other, b.other = b, a
            return [a]

        def test_sets_it_up(cycle):
            pass

        def test_collects_a_cycle_made_before_it(cycle):
            ref = weakref.ref(cycle.pop())
            gc.collect()
            assert ref() is None
        """,
    )
    assert outcomes(run(lw, "--leakwatch")) == {
        "test_sets_it_up": {"PASSED"},
        "test_collects_a_cycle_made_before_it": {"PASSED"},
    }


# -- the marker ----------------------------------------------------------------------------


def test_marker_opts_out_and_sets_kinds_allow_and_ignore(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_marker.py",
        """
        import socket, threading
        import pytest
        import leakwatch

        KEEP = []
        STOP = threading.Event()

        def stuck_thread():
            threading.Thread(target=STOP.wait, daemon=True).start()

        @pytest.mark.leakwatch(False)
        def test_opted_out():
            KEEP.append(socket.socket())

        @pytest.mark.leakwatch(kinds=("thread",))
        def test_only_threads_checked():
            KEEP.append(socket.socket())

        @pytest.mark.leakwatch(kinds=("thread",))
        def test_threads_checked():
            stuck_thread()

        @pytest.mark.leakwatch(allow=("fd",))
        def test_fd_allowed():
            KEEP.append(socket.socket())

        @pytest.mark.leakwatch(allow=("fd",))
        def test_fd_allowed_thread_not():
            KEEP.append(socket.socket())
            stuck_thread()

        @pytest.mark.leakwatch(ignore=[leakwatch.ignore(reason="kept on purpose", kind="fd")])
        def test_ignored():
            KEEP.append(socket.socket())

        @pytest.mark.leakwatch(nonsense=1)
        def test_bad_marker():
            pass

        @pytest.mark.leakwatch(False)
        class TestOptedOutClass:
            @pytest.mark.leakwatch(True)
            def test_opted_back_in(self):
                KEEP.append(socket.socket())

            def test_class_opt_out(self):
                KEEP.append(socket.socket())

        def test_last():
            STOP.set()
        """,
    )
    result = run(lw, "--leakwatch", "--leakwatch-settle=0.1", "--strict-markers")
    assert outcomes(result) == {
        "test_opted_out": {"PASSED"},
        "test_only_threads_checked": {"PASSED"},
        "test_threads_checked": {"FAILED"},
        "test_fd_allowed": {"PASSED"},
        "test_fd_allowed_thread_not": {"FAILED"},
        "test_ignored": {"PASSED"},
        "test_bad_marker": {"ERROR"},
        "test_opted_back_in": {"FAILED"},
        "test_class_opt_out": {"PASSED"},
        "test_last": {"PASSED"},
    }
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.leakwatch on test_marker.py::test_bad_marker: unknown option 'nonsense'*"]
    )
    result.stdout.fnmatch_lines(["3 ignored by rules or allowed by a marker (not failing), in 3 *"])


def test_settle_time_from_the_command_line_and_the_marker(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_settle.py",
        """
        import threading, time
        import pytest

        def test_thread_ends_after_200ms():
            threading.Thread(target=time.sleep, args=(0.2,), name="slow-exit").start()

        @pytest.mark.leakwatch(settle=2.0)
        def test_thread_ends_after_200ms_with_patience():
            threading.Thread(target=time.sleep, args=(0.2,), name="slow-exit").start()
        """,
    )
    assert outcomes(run(lw, "--leakwatch")) == {
        "test_thread_ends_after_200ms": {"PASSED"},
        "test_thread_ends_after_200ms_with_patience": {"PASSED"},
    }
    result = run(lw, "--leakwatch", "--leakwatch-settle=0.02")
    assert outcomes(result) == {
        "test_thread_ends_after_200ms": {"FAILED"},
        "test_thread_ends_after_200ms_with_patience": {"PASSED"},
    }
    result.stdout.fnmatch_lines(["*1 thread leak in call: thread 'slow-exit'*"])


def test_marker_repeat_fails_on_growth_and_passes_a_cache(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_repeat.py",
        """
        import functools
        import pytest

        HISTORY = []

        @functools.lru_cache(maxsize=None)
        def table():
            return [bytes(1000) for _ in range(100)]

        @pytest.mark.leakwatch(repeat=4)
        def test_grows_every_call():
            HISTORY.append(bytearray(100_000))

        @pytest.mark.leakwatch(repeat=4)
        def test_fills_a_cache_once():
            table()

        @pytest.mark.leakwatch(repeat=1)
        def test_bad_repeat():
            pass
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_grows_every_call": {"FAILED"},
        "test_fills_a_cache_once": {"PASSED"},
        "test_bad_repeat": {"ERROR"},
    }
    result.stdout.fnmatch_lines(
        ["*heap leak in call: heap grows*", "*growing with every repeated call*"]
    )


# -- the fixture ---------------------------------------------------------------------------


def test_the_leakwatch_fixture_watches_and_checks(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_fixture.py",
        """
        import socket
        import pytest
        import leakwatch as lw_api

        KEEP = []

        def test_watch_catches_a_leak(leakwatch):
            with pytest.raises(lw_api.LeakError) as info:
                with leakwatch.watch():
                    KEEP.append(socket.socket())
            assert info.value.report.label == "test_fixture.py::test_watch_catches_a_leak"
            KEEP.pop().close()

        def test_watch_clean_block(leakwatch):
            with leakwatch.watch() as w:
                socket.socket().close()
            assert w.report.clean

        def test_check_finds_growth(leakwatch):
            grow = lambda: KEEP.append(bytearray(50_000))
            report = leakwatch.check(grow, repeat=4, on_leak="report")
            assert report.by_kind("heap")
            assert leakwatch.reports == [report]
            KEEP.clear()

        def test_check_raises_and_warns_as_leakwatch_check_does(leakwatch):
            grow = lambda: KEEP.append(bytearray(50_000))
            with pytest.raises(lw_api.LeakError) as info:
                leakwatch.check(grow, repeat=4)
            assert info.value.report.label.startswith("test_fixture.py::test_check_raises")
            assert info.value.report.label.endswith(".<lambda>)")
            with pytest.warns(lw_api.LeakWarning) as caught:
                leakwatch.check(grow, repeat=4, on_leak="warn")
            assert [w.filename for w in caught] == [__file__]  # the test's line
            assert len(leakwatch.reports) == 2 and not leakwatch.reports[0].clean
            KEEP.clear()
        """,
    )
    result = run(lw)  # the fixture works without --leakwatch
    names = [
        "test_watch_catches_a_leak",
        "test_watch_clean_block",
        "test_check_finds_growth",
        "test_check_raises_and_warns_as_leakwatch_check_does",
    ]
    assert outcomes(result) == {name: {"PASSED"} for name in names}
    assert outcomes(run(lw, "--leakwatch")) == outcomes(result)


# -- where verdicts land when another plugin runs the protocol -------------------------------


def test_with_another_protocol_owner_leaks_land_on_teardown(lw: pytest.Pytester) -> None:
    write(
        lw,
        "conftest.py",
        """
        def pytest_runtest_protocol(item, nextitem):
            return None  # like a plugin that runs tests itself only sometimes
        """,
    )
    write(
        lw,
        "test_other.py",
        """
        import socket
        KEEP = []

        def test_leaky():
            KEEP.append(socket.socket())

        def test_clean():
            pass
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {"test_leaky": {"PASSED", "ERROR"}, "test_clean": {"PASSED"}}
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaky*", "*1 fd leak in call*"])
