"""The right test, whatever thread: a leak is charged to the test that caused it.

A request handler that a module- or session-scoped server runs in its own
thread (a ``TestClient`` portal, a uvicorn or WSGI server thread), a pool
thread the test used, a task on a loop that shuts down with the test: each
leak fails the test whose request made it, at the handler's line.  Beside
each, what the wider fixture's own machinery keeps (the connection its
keep-alive client holds, per-connection handler threads, its worker pool)
stays silent, and so do the clean twins.
"""

from __future__ import annotations

import pytest
from support.plugin_runs import line_of, outcomes, prepare, read_json, run, write

pytest.importorskip("starlette")
pytest.importorskip("httpx")


@pytest.fixture
def lw(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


APP = """
import asyncio, socket, subprocess, tempfile, threading
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

SOCKS = []
BG = set()
CHILDREN = []

async def forever():
    await asyncio.sleep(3600)

async def leak_thread(request):
    never = threading.Event()
    threading.Thread(target=never.wait, args=(30,), daemon=True).start()  # <- thread
    return PlainTextResponse("ok")

async def leak_socket(request):
    SOCKS.append(socket.socket())  # <- socket
    return PlainTextResponse("ok")

async def leak_task(request):
    BG.add(asyncio.get_running_loop().create_task(forever()))  # <- task
    return PlainTextResponse("ok")

async def leak_tempdir(request):
    tempfile.mkdtemp()  # <- tempdir
    return PlainTextResponse("ok")

def leak_sync_socket(request):
    SOCKS.append(socket.socket())  # <- sync socket
    return PlainTextResponse("ok")

async def clean(request):
    s = socket.socket()
    s.close()
    return PlainTextResponse("ok")

def clean_sync(request):
    return PlainTextResponse("ok")

def leak_process(request):
    CHILDREN.append(subprocess.Popen(["sleep", "3"]))  # <- process
    return PlainTextResponse("ok")

app = Starlette(routes=[
    Route("/leak-thread", leak_thread), Route("/leak-socket", leak_socket),
    Route("/leak-task", leak_task), Route("/leak-tempdir", leak_tempdir),
    Route("/leak-sync-socket", leak_sync_socket), Route("/clean", clean),
    Route("/clean-sync", clean_sync), Route("/leak-process", leak_process),
])
"""


def test_a_module_scoped_testclients_handler_leaks_fail_the_test_that_sent_the_request(
    lw: pytest.Pytester,
) -> None:
    app = write(lw, "app.py", APP)
    write(
        lw,
        "test_client.py",
        """
        import pytest
        from starlette.testclient import TestClient
        from app import app

        @pytest.fixture(scope="module")
        def client():
            with TestClient(app) as c:
                yield c

        def test_clean_first(client): client.get("/clean")
        def test_leaks_a_thread(client): client.get("/leak-thread")
        def test_leaks_a_socket(client): client.get("/leak-socket")
        def test_clean(client): client.get("/clean")
        def test_leaks_a_task(client): client.get("/leak-task")
        def test_clean_sync(client): client.get("/clean-sync")
        def test_leaks_from_a_sync_endpoint(client): client.get("/leak-sync-socket")
        def test_clean_sync_again(client): client.get("/clean-sync")
        def test_leaks_a_tempdir(client): client.get("/leak-tempdir")
        def test_leaks_a_process(client): client.get("/leak-process")
        def test_last(client): client.get("/clean")
        """,
    )
    result = run(lw, "--leakwatch", "--leakwatch-json=out.json")
    assert outcomes(result) == {
        "test_clean_first": {"PASSED"},
        "test_leaks_a_process": {"FAILED"},
        "test_leaks_a_thread": {"FAILED"},
        "test_leaks_a_socket": {"FAILED"},
        "test_clean": {"PASSED"},
        "test_leaks_a_task": {"FAILED"},
        "test_clean_sync": {"PASSED"},
        "test_leaks_from_a_sync_endpoint": {"FAILED"},
        "test_clean_sync_again": {"PASSED"},
        "test_leaks_a_tempdir": {"FAILED"},
        "test_last": {"PASSED"},
    }, result.stdout.str()
    data = read_json(lw.path / "out.json")
    by_test = {
        entry["nodeid"].rsplit("::", 1)[-1]: entry for entry in data["tests"] if entry["leaks"]
    }
    expected = {
        "test_leaks_a_thread": ("thread", "# <- thread"),
        "test_leaks_a_socket": ("fd", "# <- socket"),
        "test_leaks_a_task": ("task", "# <- task"),
        "test_leaks_from_a_sync_endpoint": ("fd", "# <- sync socket"),
        "test_leaks_a_tempdir": ("tempfile", "# <- tempdir"),
        "test_leaks_a_process": ("process", "# <- process"),
    }
    assert set(by_test) == set(expected), "no fixture and no other test is charged"
    for name, (kind, marker) in expected.items():
        (leak,) = by_test[name]["leaks"]
        assert leak["kind"] == kind
        assert by_test[name]["phase"] == "call"
        assert leak["origin"][-1]["lineno"] == line_of(app, marker), name
        # The handler ran in the portal's thread (or a worker it started).
        assert "made_in_thread" in leak["details"], name
    result.stdout.fnmatch_lines(["*made in thread 'asyncio-portal-*', not the test's own"])


def test_a_session_servers_thread_handler_leaks_and_its_keep_alive_machinery(
    lw: pytest.Pytester,
) -> None:
    # A WSGI server in a session fixture's thread, one handler thread per
    # connection, and a keep-alive client in another session fixture: the
    # handler thread that serves the kept connection and the connection
    # itself are the fixtures'; what a handler leaks is the test's.
    write(
        lw,
        "test_wsgi.py",
        """
        import http.client, socket, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from wsgiref.simple_server import WSGIRequestHandler, make_server
        import pytest

        SOCKS = []

        def leak(path):
            if path == "/leak-socket":
                SOCKS.append(socket.socket())  # <- handler socket
            elif path == "/leak-thread":
                never = threading.Event()
                waiter = threading.Thread(target=never.wait, args=(30,), daemon=True)
                waiter.start()  # <- handler thread

        class KeepAlive(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # one handler thread per kept connection
            def do_GET(self):
                leak(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            def log_message(self, *args): pass

        def app(environ, start_response):
            leak(environ["PATH_INFO"])
            start_response("200 OK", [("Content-Length", "2")])
            return [b"ok"]

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args): pass

        def serve(srv, name):
            thread = threading.Thread(target=srv.serve_forever, name=name)
            thread.start()
            return thread

        @pytest.fixture(scope="session")
        def server():
            # Threaded, keep-alive: the handler runs in a per-connection thread.
            srv = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
            srv.daemon_threads = True
            thread = serve(srv, "http-server")
            yield srv.server_address
            srv.shutdown()
            thread.join(5)
            srv.server_close()

        @pytest.fixture(scope="session")
        def wsgi():
            # Single-threaded: the handler runs in the server's own thread.
            srv = make_server("127.0.0.1", 0, app, handler_class=Quiet)
            thread = serve(srv, "wsgi-server")
            yield srv.server_address
            srv.shutdown()
            thread.join(5)
            srv.server_close()

        @pytest.fixture(scope="session")
        def conn(server):
            c = http.client.HTTPConnection(*server)
            yield c
            c.close()

        def get(conn, path):
            conn.request("GET", path)
            response = conn.getresponse()
            assert response.read() == b"ok"

        def fetch(addr, path):
            c = http.client.HTTPConnection(*addr)
            try:
                get(c, path)
            finally:
                c.close()

        def test_first_request_opens_the_kept_connection(conn): get(conn, "/")
        def test_leaks_a_socket_in_the_handler(conn): get(conn, "/leak-socket")
        def test_again(conn): get(conn, "/")
        def test_leaks_a_thread_in_the_handler(conn): get(conn, "/leak-thread")
        def test_one_shot_connection(server): fetch(server, "/")
        def test_pool_thread_keeps_its_connection(server):
            from concurrent.futures import ThreadPoolExecutor
            def call():
                c = http.client.HTTPConnection(*server)
                get(c, "/")  # <- pool client
                SOCKS.append(c)
            with ThreadPoolExecutor(1) as ex:
                ex.submit(call).result()
        def test_wsgi_clean(wsgi): fetch(wsgi, "/")
        def test_wsgi_leaks_a_socket(wsgi): fetch(wsgi, "/leak-socket")
        def test_wsgi_leaks_a_thread(wsgi): fetch(wsgi, "/leak-thread")
        def test_last(conn, wsgi):
            get(conn, "/")
            fetch(wsgi, "/")
            for kept in SOCKS:  # the server's end of the pool client's connection ends too
                kept.close()
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_first_request_opens_the_kept_connection": {"PASSED"},
        "test_leaks_a_socket_in_the_handler": {"FAILED"},
        "test_again": {"PASSED"},
        "test_leaks_a_thread_in_the_handler": {"FAILED"},
        "test_one_shot_connection": {"PASSED"},
        "test_pool_thread_keeps_its_connection": {"FAILED"},
        "test_wsgi_clean": {"PASSED"},
        "test_wsgi_leaks_a_socket": {"FAILED"},
        "test_wsgi_leaks_a_thread": {"FAILED"},
        "test_last": {"PASSED"},
    }, result.stdout.str()
    path = lw.path / "test_wsgi.py"
    socket_line = line_of(path, "<- handler socket")
    thread_line = line_of(path, "<- handler thread")
    for _ in range(2):  # once per server
        result.stdout.fnmatch_lines(
            [f"leakwatch: 1 fd leak in call: socket * at test_wsgi.py:{socket_line}"]
        )
        result.stdout.fnmatch_lines(
            [f"leakwatch: 1 thread leak in call: thread * at test_wsgi.py:{thread_line}"]
        )
    # The client a pool thread of the test kept, not the server's end of it.
    result.stdout.fnmatch_lines(
        [
            "leakwatch: 1 fd leak in call: socket 127.0.0.1:* -> 127.0.0.1:* at test_wsgi.py:*",
            "*created at test_wsgi.py:* in get",
            f"*called from test_wsgi.py:{line_of(path, '<- pool client')} in call",
        ]
    )
    assert "ERROR" not in result.stdout.str(), "no fixture is charged with a test's leak"


def test_a_worker_thread_the_test_used_made_the_leak(lw: pytest.Pytester) -> None:
    path = write(
        lw,
        "test_pool.py",
        """
        import asyncio, socket, threading
        from concurrent.futures import ThreadPoolExecutor
        import pytest

        SOCKS = []

        def opener():
            SOCKS.append(socket.socket())  # <- opener

        def closer():
            socket.socket().close()

        def test_pool():
            with ThreadPoolExecutor(2) as ex:
                ex.submit(opener).result()

        def test_thread_joined():
            t = threading.Thread(target=opener)
            t.start()
            t.join()

        @pytest.mark.asyncio
        async def test_to_thread():
            await asyncio.to_thread(opener)

        def test_clean_pool():
            with ThreadPoolExecutor(2) as ex:
                ex.submit(closer).result()

        @pytest.mark.asyncio
        async def test_clean_to_thread():
            await asyncio.to_thread(closer)
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_pool": {"FAILED"},
        "test_thread_joined": {"FAILED"},
        "test_to_thread": {"FAILED"},
        "test_clean_pool": {"PASSED"},
        "test_clean_to_thread": {"PASSED"},
    }, result.stdout.str()
    line = line_of(path, "# <- opener")
    for _ in range(3):
        result.stdout.fnmatch_lines(
            [f"leakwatch: 1 fd leak in call: socket * at test_pool.py:{line}"]
        )
    text = result.stdout.str()
    assert "created in setup" not in text and "fixture" not in text.split("= leakwatch =")[-1]


def test_tasks_left_on_a_loop_that_shuts_down_with_the_test(lw: pytest.Pytester) -> None:
    write(lw, "app.py", APP)
    path = write(
        lw,
        "test_shutdown.py",
        """
        import asyncio
        import pytest
        from starlette.testclient import TestClient
        from app import app, forever

        @pytest.fixture
        def client():
            with TestClient(app) as c:
                yield c

        def test_function_scoped_client_parks_a_task(client):
            client.get("/leak-task")

        def test_function_scoped_client_clean(client):
            client.get("/clean")

        def test_asyncio_run_leaves_a_task():
            async def main():
                asyncio.get_running_loop().create_task(forever())  # <- run
            asyncio.run(main())

        def test_asyncio_run_cancels_its_own():
            async def main():
                task = asyncio.get_running_loop().create_task(forever())
                task.cancel()
            asyncio.run(main())

        def test_loop_closed_with_a_pending_task():
            loop = asyncio.new_event_loop()
            loop.create_task(forever())  # <- closed
            loop.close()
        """,
    )
    result = run(lw, "--leakwatch", "-W", "ignore::RuntimeWarning")
    assert outcomes(result) == {
        "test_function_scoped_client_parks_a_task": {"FAILED"},
        "test_function_scoped_client_clean": {"PASSED"},
        "test_asyncio_run_leaves_a_task": {"FAILED"},
        "test_asyncio_run_cancels_its_own": {"PASSED"},
        "test_loop_closed_with_a_pending_task": {"FAILED"},
    }, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "leakwatch: 1 task leak in call: task * running forever(), *still pending when its"
            f" loop shut down, created at test_shutdown.py:{line_of(path, '# <- run')}",
            "  (created in call and still pending when its loop shut down)",
        ]
    )
    result.stdout.fnmatch_lines(
        [f"leakwatch: 1 task leak in call: * at test_shutdown.py:{line_of(path, '# <- closed')}"]
    )
    app = lw.path / "app.py"
    result.stdout.fnmatch_lines(
        [f"leakwatch: 1 task leak in call: * at app.py:{line_of(app, '# <- task')}"]
    )


def test_a_function_scoped_servers_in_flight_tasks_are_finished_by_its_teardown(
    lw: pytest.Pytester,
) -> None:
    # An async test server fixture whose per-connection task is still pending
    # when the test returns; the fixture's teardown closes it.  Not a leak,
    # and no settle wait for it -- beside a test that leaks a task of its own.
    path = write(
        lw,
        "test_inflight.py",
        """
        import asyncio
        import pytest
        import pytest_asyncio

        class Server:
            def __init__(self):
                self.handlers = set()

            async def on_connect(self, reader, writer):
                task = asyncio.current_task()
                self.handlers.add(task)
                try:
                    while await reader.readline():
                        writer.write(b"ok\\n")
                        await writer.drain()
                finally:
                    self.handlers.discard(task)
                    writer.close()

        @pytest_asyncio.fixture
        async def server():
            # Like an async framework's test client factory: connections the
            # test opens are closed by the fixture's teardown.
            srv = Server()
            tcp = await asyncio.start_server(srv.on_connect, "127.0.0.1", 0)
            opened = []

            async def connect():
                reader, writer = await asyncio.open_connection(*tcp.sockets[0].getsockname())
                opened.append(writer)
                return reader, writer

            yield srv, connect
            for writer in opened:
                writer.close()
                await writer.wait_closed()
            while srv.handlers:  # the server's side sees the client go
                await asyncio.sleep(0.001)
            tcp.close()
            await tcp.wait_closed()

        @pytest.mark.asyncio
        async def test_talks_and_leaves_the_connection_to_the_fixture(server):
            srv, connect = server
            reader, writer = await connect()
            writer.write(b"hi\\n")
            assert await reader.readline() == b"ok\\n"
            assert srv.handlers  # in flight when the test returns

        @pytest.mark.asyncio
        async def test_leaks_its_own_task(server):
            asyncio.get_running_loop().create_task(asyncio.sleep(3600))  # <- own
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_talks_and_leaves_the_connection_to_the_fixture": {"PASSED"},
        "test_leaks_its_own_task": {"FAILED"},
    }, result.stdout.str()
    result.stdout.fnmatch_lines(
        [f"leakwatch: 1 task leak in call: * at test_inflight.py:{line_of(path, '# <- own')}"]
    )


def test_a_session_scoped_uvicorn_servers_handler_leaks_fail_the_test(
    lw: pytest.Pytester,
) -> None:
    pytest.importorskip("uvicorn")
    app = write(lw, "app.py", APP)
    write(
        lw,
        "test_uvicorn.py",
        """
        import socket, threading, time
        import httpx
        import pytest
        import uvicorn
        from app import app

        @pytest.fixture(scope="session")
        def base_url():
            config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error")
            server = uvicorn.Server(config)
            thread = threading.Thread(target=server.run, name="uvicorn")
            thread.start()
            deadline = time.monotonic() + 30  # a server that cannot start fails, never hangs
            while not server.started:
                assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.01)
            port = server.servers[0].sockets[0].getsockname()[1]
            yield f"http://127.0.0.1:{port}"
            server.should_exit = True
            thread.join(10)

        @pytest.fixture(scope="session")
        def client(base_url):
            with httpx.Client(base_url=base_url) as c:  # keep-alive across tests
                yield c

        def test_clean_first(client): client.get("/clean")
        def test_leaks_a_socket(client): client.get("/leak-socket")
        def test_clean(client): client.get("/clean")
        def test_leaks_a_task(client): client.get("/leak-task")
        def test_leaks_a_thread(client): client.get("/leak-thread")
        def test_leaks_from_a_sync_endpoint(client): client.get("/leak-sync-socket")
        def test_clean_sync(client): client.get("/clean-sync")
        def test_leaks_a_tempdir(client): client.get("/leak-tempdir")
        def test_one_shot_client(base_url): httpx.get(base_url + "/clean")
        def test_last(client): client.get("/clean")
        """,
    )
    result = run(lw, "--leakwatch", "--leakwatch-json=out.json")
    assert outcomes(result) == {
        "test_clean_first": {"PASSED"},
        "test_leaks_a_socket": {"FAILED"},
        "test_clean": {"PASSED"},
        "test_leaks_a_task": {"FAILED"},
        "test_leaks_a_thread": {"FAILED"},
        "test_leaks_from_a_sync_endpoint": {"FAILED"},
        "test_clean_sync": {"PASSED"},
        "test_leaks_a_tempdir": {"FAILED"},
        "test_one_shot_client": {"PASSED"},
        "test_last": {"PASSED"},
    }, result.stdout.str()
    data = read_json(lw.path / "out.json")
    lines = {
        entry["nodeid"].rsplit("::", 1)[-1]: [
            leak["origin"][-1]["lineno"] for leak in entry["leaks"]
        ]
        for entry in data["tests"]
        if entry["leaks"]
    }
    assert lines == {
        "test_leaks_a_socket": [line_of(app, "# <- socket")],
        "test_leaks_a_task": [line_of(app, "# <- task")],
        "test_leaks_a_thread": [line_of(app, "# <- thread")],
        "test_leaks_from_a_sync_endpoint": [line_of(app, "# <- sync socket")],
        "test_leaks_a_tempdir": [line_of(app, "# <- tempdir")],
    }


def test_a_failing_test_lists_every_leak_it_made_of_every_kind(lw: pytest.Pytester) -> None:
    path = write(
        lw,
        "test_all_kinds.py",
        """
        import asyncio, socket, threading
        import pytest

        KEEP = []

        @pytest.mark.asyncio
        async def test_leaks_a_task_a_socket_and_a_thread():
            KEEP.append(asyncio.get_running_loop().create_task(asyncio.sleep(3600)))  # <- task
            KEEP.append(socket.socket())  # <- socket
            never = threading.Event()
            waiter = threading.Thread(target=never.wait, args=(30,), daemon=True)
            waiter.start()  # <- thread

        @pytest.mark.asyncio
        async def test_clean():
            await asyncio.sleep(0)
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {
        "test_leaks_a_task_a_socket_and_a_thread": {"FAILED"},
        "test_clean": {"PASSED"},
    }, result.stdout.str()
    result.stdout.fnmatch_lines(["leakwatch: 3 leaks (fd, thread, task) in call: *"])
    for marker in ("# <- task", "# <- socket", "# <- thread"):
        result.stdout.fnmatch_lines([f"*created at test_all_kinds.py:{line_of(path, marker)} *"])


def test_connections_a_class_scoped_server_keeps_are_not_its_first_tests(
    lw: pytest.Pytester,
) -> None:
    # A class-scoped server (set up inside the class's first test) keeps each
    # connection it accepts, where no search through the fixture's world sees
    # it (a callback's closure); the connection was accepted from the
    # fixture's listener, so it is the fixture's -- for the first test too.
    write(
        lw,
        "test_class_server.py",
        """
        import socket, threading
        import pytest

        KEPT = []

        class TestAgainstAServer:
            @classmethod
            def setup_class(cls):
                cls.srv = socket.create_server(("127.0.0.1", 0))
                def serve():
                    while True:
                        try:
                            conn, _ = cls.srv.accept()
                        except OSError:
                            return
                        conn.sendall(b"hi")
                        KEPT.append(lambda conn=conn: conn)  # closed at teardown
                        del conn
                cls.thread = threading.Thread(target=serve, name="keeper", daemon=True)
                cls.thread.start()

            @classmethod
            def teardown_class(cls):
                cls.srv.shutdown(socket.SHUT_RDWR)  # wakes accept()
                cls.srv.close()
                cls.thread.join(5)  # first: it may not have kept the last one yet
                for get in KEPT:
                    get().close()

            def talk(self):
                with socket.create_connection(self.srv.getsockname()) as c:
                    assert c.recv(2) == b"hi"

            def test_first(self):
                self.talk()

            def test_second(self):
                self.talk()
        """,
    )
    result = run(lw, "--leakwatch")
    assert outcomes(result) == {"test_first": {"PASSED"}, "test_second": {"PASSED"}}, (
        result.stdout.str()
    )


ARGLESS = """
import socketserver
import threading

import pytest

KEPT = []


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        pass


@pytest.fixture(scope="session")
def server():
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever)  # no arguments: holds ()
    thread.start()
    yield srv.server_address
    srv.shutdown()
    srv.server_close()
    thread.join()


def never():
    pass


def test_thread_without_arguments(server):
    t = threading.Thread(target=threading.Event().wait, daemon=True)
    t.start()  # <- thread
    KEPT.append(t)


def test_timer(server):
    t = threading.Timer(3600, never)
    t.daemon = True
    t.start()  # <- timer
    KEPT.append(t)


def test_thread_that_ends(server):
    t = threading.Thread(target=never)
    t.start()
    t.join()
"""


def test_a_thread_started_without_arguments_is_the_tests_not_the_servers(
    lw: pytest.Pytester,
) -> None:
    # Every thread started without arguments holds the interpreter's one empty
    # tuple, as the session server's own thread does: that says nothing of
    # whom it works for.
    path = write(lw, "test_argless.py", ARGLESS)
    result = run(lw, "--leakwatch", "--leakwatch-settle=0.3", "-rfE")
    assert outcomes(result) == {
        "test_thread_without_arguments": {"FAILED"},
        "test_timer": {"FAILED"},
    }, result.stdout.str()
    result.stdout.fnmatch_lines(
        [f"*1 thread leak in call: *, created at test_argless.py:{line_of(path, '# <- thread')}"]
    )
    result.stdout.fnmatch_lines(
        [f"*1 timer leak in call: *, created at test_argless.py:{line_of(path, '# <- timer')}"]
    )
    assert "session fixture 'server'" not in result.stdout.str()


KEEPALIVE = """
import asyncio, socket, struct, threading, time
import pytest

KEEP = []


class State:
    def __init__(self):
        self.connections = set()


class Proto(asyncio.Protocol):
    # uvicorn's shape: a keep-alive timer per connection, bound to the
    # connection's protocol, cancelled when the peer closes cleanly and left
    # to fire when it resets.
    def __init__(self, state, loop):
        self.state, self.loop = state, loop

    def connection_made(self, transport):
        self.transport = transport
        self.state.connections.add(self)
        self.keepalive = self.loop.call_later(60, self.expire)

    def data_received(self, data):
        if data == b"leak":
            self.loop.call_later(3600, KEEP.append, data)  # <- handler's timer
        self.transport.write(b"ok")

    def connection_lost(self, exc):
        self.state.connections.discard(self)
        if exc is None:
            self.keepalive.cancel()

    def expire(self):
        self.transport.close()


@pytest.fixture(scope="session")
def server():
    loop, state, ready, box = asyncio.new_event_loop(), State(), threading.Event(), {}

    def run():
        make = loop.create_server(lambda: Proto(state, loop), "127.0.0.1", 0)
        box["srv"] = loop.run_until_complete(make)
        ready.set()
        loop.run_forever()
        box["srv"].close()
        loop.run_until_complete(box["srv"].wait_closed())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield box["srv"].sockets[0].getsockname(), state
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def talk(server, msg, reset=False):
    addr, state = server
    c = socket.create_connection(addr)
    c.sendall(msg)
    assert c.recv(2) == b"ok"
    if reset:  # close with a reset: the server's timer stays scheduled
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    deadline = time.monotonic() + 10
    while state.connections and time.monotonic() < deadline:
        time.sleep(0.01)  # the server has let the connection go


def test_reset_connection(server):
    talk(server, b"hi", reset=True)


def test_clean_connection(server):
    talk(server, b"hi")


def test_handler_leaves_a_timer(server):
    talk(server, b"leak")
"""


def test_a_servers_timer_bound_to_its_connection_is_the_servers(lw: pytest.Pytester) -> None:
    # The keep-alive timer of a connection the session server has already let
    # go of is reachable from the fixture's world only through the loop's
    # queue; its callback is bound to a protocol that refers to the server's
    # state, so it works for the server (as a thread whose target does).  The
    # timer a request handler schedules calling a module list's method is
    # the test's that sent the request.
    path = write(lw, "test_keepalive.py", KEEPALIVE)
    for _ in range(2):
        result = run(lw, "--leakwatch", "-rfE")
        assert outcomes(result) == {"test_handler_leaves_a_timer": {"FAILED"}}, result.stdout.str()
        result.stdout.fnmatch_lines(
            [
                "*1 timer leak in call: timer calling *append(*, created at "
                f"test_keepalive.py:{line_of(path, '# <- handler')}*"
            ]
        )
        assert "expire" not in result.stdout.str()
