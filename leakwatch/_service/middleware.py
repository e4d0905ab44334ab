"""ASGI and WSGI middleware: watch a sample of requests for what they leave alive.

``ASGIMiddleware(app, sample=0.01)`` and ``WSGIMiddleware(app, sample=0.01)``
wrap an application.  A request not sampled costs one random draw, and
the application's call is returned as it is (for ASGI, its coroutine: the
middleware adds no frame to the request's stack).  A sampled one is tagged
(a context variable, set only for it), served exactly as without the
middleware, and handed to the judge once its response is done
(:mod:`leakwatch._service.judge`); the judge never delays the response.

A sampled ASGI request's app gets the server's ``send`` behind a frame of
the middleware's (it passes every message and exception through): what
``send`` makes is the server's, whoever called it.

Nothing changes what the service returns: status, headers, body and
exceptions are the application's own.  A WSGI response's iterable is wrapped
only for a sampled request (so the body, produced while it is iterated,
runs tagged); the wrapper passes ``close()`` on as PEP 3333 asks.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from leakwatch._attribution import tags as _tags
from leakwatch._base.pyversion import mark_coroutine_function
from leakwatch._service.judge import Monitor, Ticket, monitor
from leakwatch._service.routes import asgi_route_parts, wsgi_route

#: Set in the scope (environ) of a request the debug pages answer: not judged.
DEBUG_PAGE = "leakwatch.debug_page"


def check_sample(sample: Any) -> float:
    """The sample rate as a float in [0, 1], or one clear error."""
    if isinstance(sample, bool) or not isinstance(sample, (int, float)) or not 0 <= sample <= 1:
        raise ValueError(f"leakwatch: sample must be a number from 0 to 1, got {sample!r}")
    return float(sample)


class _Sampling:
    def __init__(self, app: Any, sample: float) -> None:
        self.app = app
        self.sample = check_sample(sample)
        self.monitor: Monitor = monitor()


class ASGIMiddleware(_Sampling):
    """Watch a sample of HTTP requests of an ASGI application for leftovers.

    A request not sampled is the application's own call, returned as it is
    (its coroutine, awaited by the server): no frame of the middleware's
    stays on its stack.  Servers tell ASGI 3 from ASGI 2 by asking whether
    ``app.__call__`` is a coroutine function (uvicorn, Starlette, asgiref
    through ``asyncio.iscoroutinefunction``; hypercorn through
    ``inspect.iscoroutinefunction``): the class's ``__call__`` is marked as
    one, and ``app.__call__`` read on an instance is an ``async def`` that
    does the same, which every one of them recognises on every Python.
    """

    def __init__(self, app: Any, sample: float = 0.01) -> None:
        super().__init__(app, sample)
        # What a server inspects.  Calling the instance never reads it: Python
        # looks the __call__ of a call up on the class.
        vars(self)["__call__"] = self._call

    @mark_coroutine_function
    def __call__(self, scope: Any, receive: Any, send: Any) -> Awaitable[None]:
        rate = self.sample
        if (rate < 1.0 and (rate <= 0.0 or random.random() >= rate)) or scope.get("type") != "http":
            if _tags.request_tag.get():
                # Not this request's tag: a server that starts the next
                # request from inside the last one's response (uvicorn, for
                # pipelined requests) made this task in a sampled request's
                # context.  Called in the request's own task, so it is that
                # task's context that is cleared.
                _tags.request_tag.set(0)
            return self.app(scope, receive, send)  # type: ignore[no-any-return]
        return self._watched(scope, receive, send)

    async def _call(self, scope: Any, receive: Any, send: Any) -> None:
        """``__call__`` as a coroutine function: what ``app.__call__`` reads as."""
        return await type(self).__call__(self, scope, receive, send)

    async def _watched(self, scope: Any, receive: Any, send: Any) -> None:
        """A sampled request, served tagged and judged once its response is done."""
        ticket = self.monitor.begin(str(scope.get("method", "")), "", sys._getframe(1))
        if ticket is None:
            return await self.app(scope, receive, send)  # type: ignore[no-any-return]
        token = _tags.request_tag.set(ticket.tag)

        async def sent(message: Any) -> Any:
            # The server's ``send``, behind a frame of leakwatch's: what it
            # makes (uvicorn's keep-alive timer, the next pipelined request's
            # task) is the server's whoever called it, as a WSGI server's
            # ``start_response`` is behind ``start``.  The walk that tells
            # the user's creations from the server's stops here, not at the
            # app's first frame (uvicorn's timer cost a walk through every
            # frame of Starlette's), and a raw ASGI app that calls ``send``
            # itself is not charged with the server's keep-alive timer.
            return await send(message)

        try:
            return await self.app(scope, receive, sent)  # type: ignore[no-any-return]
        finally:
            _tags.request_tag.reset(token)
            ticket.parts = asgi_route_parts(scope)  # named by the judge
            self.monitor.end(ticket, judge=not scope.get(DEBUG_PAGE))


class WSGIMiddleware(_Sampling):
    """Watch a sample of requests of a WSGI application for leftovers."""

    def __init__(self, app: Any, sample: float = 0.01) -> None:
        super().__init__(app, sample)

    def __call__(self, environ: Any, start_response: Callable[..., Any]) -> Iterable[bytes]:
        rate = self.sample
        if rate < 1.0 and (rate <= 0.0 or random.random() >= rate):
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        ticket = self.monitor.begin(str(environ.get("REQUEST_METHOD", "")), "", sys._getframe(1))
        if ticket is None:
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        token = _tags.request_tag.set(ticket.tag)

        def start(*args: Any) -> Any:
            # The route while the framework still knows it (Flask forgets
            # its request when the app returns, before the body is sent).
            ticket.route = wsgi_route(environ)
            return start_response(*args)

        try:
            body: Any = self.app(environ, start)
        except BaseException:
            _tags.request_tag.reset(token)
            self._end(ticket, environ)
            raise
        _tags.request_tag.reset(token)
        wrapper = environ.get("wsgi.file_wrapper")
        result: Iterable[bytes] = body
        if isinstance(body, (list, tuple)) or (
            isinstance(wrapper, type) and isinstance(body, wrapper)
        ):
            # Made already (no code runs as it is sent), or a file the server
            # may send its own way: returned as it is.
            self._end(ticket, environ)
            return result
        kind = _SizedBody if hasattr(body, "__len__") else _Body
        return kind(body, ticket, lambda: self._end(ticket, environ))

    def _end(self, ticket: Ticket, environ: Any) -> None:
        ticket.route = ticket.route or wsgi_route(environ)
        self.monitor.end(ticket, judge=not environ.get(DEBUG_PAGE))


class _Body:
    """A sampled request's response iterable: iterated tagged, ended once at close()."""

    def __init__(self, body: Iterable[bytes], ticket: Ticket, end: Callable[[], None]) -> None:
        self._body = body
        self._tag = ticket.tag
        self._end: Callable[[], None] | None = end
        self._it: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        token = _tags.request_tag.set(self._tag)
        try:
            if self._it is None:
                self._it = iter(self._body)
            return next(self._it)
        finally:
            _tags.request_tag.reset(token)

    def close(self) -> None:
        token = _tags.request_tag.set(self._tag)
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            _tags.request_tag.reset(token)
            end, self._end = self._end, None
            if end is not None:
                end()

    def __del__(self) -> None:
        # A server that never calls close(): the request still gets judged.
        end, self._end = getattr(self, "_end", None), None
        if end is not None:
            try:
                end()
            except Exception:
                pass


class _SizedBody(_Body):
    """A body with a length keeps it (wsgiref sets Content-Length from it)."""

    def __len__(self) -> int:
        return len(self._body)  # type: ignore[arg-type]
