"""ASGIMiddleware is an ASGI 3 application to every server, and invisible to the app.

Its ``__call__`` is a plain function (an unsampled request gets the app's
own coroutine back, no frame added), so what servers ask -- is
``app.__call__`` a coroutine function? -- is checked here the way each asks
it, on every Python the suite runs on, and with a real uvicorn server.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
import uvicorn
from asgiref.compatibility import guarantee_single_callable
from starlette._utils import is_async_callable
from support.service import get, get_json, marker_line, running, script_json

from leakwatch._base.pyversion import mark_coroutine_function
from leakwatch.service import ASGIMiddleware

SCRIPT = "service_timers.py"


async def _app(scope: Any, receive: Any, send: Any) -> None:
    pass


def _hypercorn_is_asgi(app: Any) -> bool:
    """hypercorn.utils.is_asgi, as hypercorn 0.17 writes it: inspect only."""
    if inspect.iscoroutinefunction(app):
        return True
    return callable(app) and inspect.iscoroutinefunction(app.__call__)


@pytest.mark.parametrize("sample", [0.0, 1.0])
def test_every_server_takes_the_middleware_for_asgi3(sample: float) -> None:
    mw = ASGIMiddleware(_app, sample=sample)
    mw.monitor.settle = 0.0
    assert asyncio.iscoroutinefunction(mw.__call__)
    assert inspect.iscoroutinefunction(mw.__call__)
    assert asyncio.iscoroutinefunction(ASGIMiddleware.__call__)
    config = uvicorn.Config(mw, lifespan="off")
    config.load()
    assert config.interface == "asgi3"
    assert is_async_callable(mw)  # Starlette's check (Mount, middleware)
    assert guarantee_single_callable(mw) is mw  # asgiref's (Django, channels)
    assert _hypercorn_is_asgi(mw)


def test_mark_coroutine_function_is_seen_by_asyncio_everywhere() -> None:
    def plain() -> Any:
        return _app({}, None, None)

    assert not asyncio.iscoroutinefunction(plain)
    marked = mark_coroutine_function(plain)
    assert marked is plain and asyncio.iscoroutinefunction(marked)
    coro = marked()
    coro.close()


class Mine(Exception):
    pass


@pytest.mark.parametrize("sample", [0.0, 1.0])
def test_return_values_and_exceptions_are_the_apps_own(sample: float) -> None:
    raised = Mine("mine", 3)
    returned = object()

    async def app(scope: Any, receive: Any, send: Any) -> Any:
        if scope.get("path") == "/raise":
            raise raised
        return returned

    async def send(message: Any) -> None:
        pass

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    mw = ASGIMiddleware(app, sample=sample)
    mw.monitor.settle = 0.0
    scope = {"type": "http", "method": "GET", "path": "/ok", "root_path": ""}
    assert asyncio.run(mw(scope, receive, send)) is returned
    assert asyncio.run(mw.__call__(scope, receive, send)) is returned
    with pytest.raises(Mine) as info:
        asyncio.run(mw({**scope, "path": "/raise"}, receive, send))
    assert info.value is raised and info.value.args == ("mine", 3)
    lifespan = {"type": "lifespan"}
    assert asyncio.run(mw(lifespan, receive, send)) is returned  # never sampled


@pytest.mark.parametrize("sample", ["0", "1"])
def test_a_real_uvicorn_serves_through_it_and_sees_the_apps_exception(sample: str) -> None:
    with running(SCRIPT, SAMPLE=sample) as base:
        assert get(base + "/interface")[1] == "asgi3"
        assert get(base + "/ready")[:2] == (200, "ready")
        assert get(base + "/boom")[0] == 500
        seen = get_json(base + "/seen")
    assert seen == [{"raised": "Boom", "args": ["boom", 7], "same": True}]


def test_a_request_started_inside_a_sampled_ones_response_carries_no_tag() -> None:
    # uvicorn starts a pipelined request from inside the previous response's
    # send, so its task is made in that request's context.  Only the first
    # is sampled; the other two must not run under its tag (what they make
    # would be charged to its route).
    assert script_json("service_pipelined.py") == {
        "seen": [["/a", True], ["/b", False], ["/c", False]]
    }


def test_what_the_servers_send_makes_is_the_servers_even_called_from_the_apps_code() -> None:
    # uvicorn schedules its keep-alive timer inside send: an app that calls
    # send itself has its own frame under that timer's creation, and the
    # timer was charged to every route of it.  Behind the middleware's own
    # send, it is the server's; the app's own timer is still found.
    line = marker_line("service_send_machinery.py", "APP-TIMER")
    assert script_json("service_send_machinery.py") == {
        "routes": {"/leaky": {"leaky_requests": 1, "lines": [line]}},
        "clean": ["/clean"],
    }
