"""A pytest plugin that plants known leaks in a function an outside suite runs.

Loaded by ``plant.py`` as ``-p planted`` (this folder on ``PYTHONPATH``) and
configured by the environment:

``FIELD_PLANT``
    ``module:Qualname=kind`` -- the function to wrap (a module-level function
    or a class's method, sync or async) and the kind of leak: ``socket`` (a
    UDP socket appended to a module list), ``thread`` (a daemon thread
    waiting 60 s on an event nothing sets), ``task`` (a task sleeping an hour,
    kept in a module set; only where an asyncio loop runs in the calling
    thread), ``timer`` (``call_later(3600, ...)`` on the running asyncio
    loop, else a daemon ``threading.Timer(3600, ...)``, kept in a module
    list) or ``tempdir`` (``mkdtemp`` never removed).
``FIELD_PLANT_LOG``
    a file each planted leak is recorded in (written at the end), one JSON
    line: the test that was running (its setup to its teardown), the kind,
    the thread, and the line that made it.

Only the first call in each test's window leaks, whichever thread makes it;
calls made while a wider fixture is being set up, or between tests, plant
nothing (what a fixture makes is the fixture's).  Wrapped after collection,
before any fixture runs, so servers that look their handlers up then get the
wrapper.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import json
import os
import socket
import tempfile
import threading

import pytest

#: What the planted leaks are held by: module globals, never released.
SOCKETS: list[socket.socket] = []
TASKS: set[asyncio.Task[None]] = set()
TIMERS: list[object] = []

_state = {"test": None, "wide_setup": 0}
_leaked: set[str] = set()
_lock = threading.Lock()


#: The leaks planted, kept in memory and written at the end: no file I/O in
#: the watched code (a suite may forbid blocking calls in its event loop).
_planted: list[dict[str, object]] = []


def _log(kind: str, line: int) -> None:
    record = {
        "test": _state["test"],
        "kind": kind,
        "thread": threading.current_thread().name,
        "file": __file__,
        "line": line,
    }
    with _lock:
        _planted.append(record)


def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ.get("FIELD_PLANT_LOG")
    if path and _planted:
        with open(path, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(record) + "\n" for record in _planted)


def _line() -> int:
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def _claim() -> str | None:
    """The running test, if its window has not leaked yet (then it has)."""
    test = _state["test"]
    if test is None or _state["wide_setup"]:
        return None
    with _lock:
        if test in _leaked:
            return None
        _leaked.add(test)
    return test


def _plant(kind: str) -> None:
    if kind == "task":
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop here: nothing planted, not counted
    if _claim() is None:
        return
    if kind == "socket":
        SOCKETS.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        _log(kind, _line() - 1)  # the line above made it
    elif kind == "thread":
        never = threading.Event()
        threading.Thread(target=never.wait, args=(60,), daemon=True).start()
        _log(kind, _line() - 1)  # the line above made it
    elif kind == "task":
        TASKS.add(loop.create_task(asyncio.sleep(3600)))
        _log(kind, _line() - 1)  # the line above made it
    elif kind == "timer":
        try:
            TIMERS.append(asyncio.get_running_loop().call_later(3600, _never))
            _log(kind, _line() - 1)  # the line above made it
        except RuntimeError:  # no loop here: a thread's timer
            timer = threading.Timer(3600, _never)
            timer.daemon = True
            timer.start()
            TIMERS.append(timer)
            _log(kind, _line() - 2)  # the start made it
    elif kind == "tempdir":
        tempfile.mkdtemp(prefix="planted-")
        _log(kind, _line() - 1)  # the line above made it


def _never() -> None:
    """A planted timer's callback: it never comes due within a suite."""


def _wrap(func, kind: str):  # type: ignore[no-untyped-def]
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def planted_async(*args, **kwargs):  # type: ignore[no-untyped-def]
            _plant(kind)
            return await func(*args, **kwargs)

        return planted_async

    @functools.wraps(func)
    def planted(*args, **kwargs):  # type: ignore[no-untyped-def]
        _plant(kind)
        return func(*args, **kwargs)

    return planted


def _install(spec: str) -> None:
    target, _, kind = spec.partition("=")
    module_name, _, qualname = target.partition(":")
    if kind not in ("socket", "thread", "task", "timer", "tempdir") or not qualname:
        raise pytest.UsageError(f"FIELD_PLANT={spec!r}: want module:Qualname=kind")
    owner = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    raw = inspect.getattr_static(owner, name)
    if isinstance(raw, (staticmethod, classmethod)):
        wrapped = type(raw)(_wrap(raw.__func__, kind))
    else:
        wrapped = _wrap(getattr(owner, name), kind)
    setattr(owner, name, wrapped)


def pytest_collection_finish(session: pytest.Session) -> None:
    spec = os.environ.get("FIELD_PLANT")
    if spec:
        _install(spec)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    _state["test"] = item.nodeid
    try:
        return (yield)
    finally:
        _state["test"] = None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(fixturedef, request):  # type: ignore[no-untyped-def]
    wide = fixturedef.scope != "function"
    if wide:
        _state["wide_setup"] += 1
    try:
        return (yield)
    finally:
        if wide:
            _state["wide_setup"] -= 1
