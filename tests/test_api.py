"""The public contract of ``watch``, ``check``, ``check_async``, the report
and its JSON shape, and the three policies (raise, warn, report)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import sys
import threading
import traceback
import tracemalloc
import warnings
import weakref
from typing import Any

import pytest
from support import created_at, marker_line, of_kind

import leakwatch

OWN_DIR = os.path.dirname(os.path.abspath(leakwatch.__file__))


class Boom(Exception):
    pass


class Abort(BaseException):
    """Not an Exception: must pass through just the same."""


def _raise(exc: BaseException) -> None:
    raise exc  # <- api: raises


# -- watch as context manager and decorator ----------------------------------------


def test_watch_sync_context_manager_sets_a_report() -> None:
    with leakwatch.watch(on_leak="report") as w:
        assert w.report is None  # not judged yet
    assert isinstance(w.report, leakwatch.Report)
    assert w.report.clean and w.report.leaks == []
    assert w.report.block_failed is False


def test_watch_async_context_manager_sets_a_report(listener: socket.socket) -> None:
    async def main() -> tuple[leakwatch.Report | None, socket.socket]:
        async with leakwatch.watch(on_leak="report") as w:
            conn = socket.create_connection(listener.getsockname())
        return w.report, conn

    report, conn = asyncio.run(main())
    try:
        assert isinstance(report, leakwatch.Report)
        assert [leak.kind for leak in report.leaks] == ["fd"]
    finally:
        conn.close()


def test_watch_reused_twice_gives_each_block_its_own_report(listener: socket.socket) -> None:
    w = leakwatch.watch(on_leak="report")
    conn = None
    try:
        with w:
            conn = socket.create_connection(listener.getsockname())
        assert of_kind(w.report, "fd")
        with w:
            pass
        assert w.report is not None and w.report.clean
    finally:
        if conn is not None:
            conn.close()


def test_decorated_sync_function_returns_its_value_and_fails_on_a_leak(
    listener: socket.socket,
) -> None:
    kept: list[socket.socket] = []

    @leakwatch.watch(on_leak="raise")
    def clean(a: int, *, b: int) -> tuple[int, int]:
        return a, b

    @leakwatch.watch(on_leak="raise")
    def leaky() -> str:
        kept.append(socket.create_connection(listener.getsockname()))
        return "done"

    try:
        assert clean(1, b=2) == (1, 2)
        assert clean.__name__ == "clean"
        with pytest.raises(leakwatch.LeakError) as info:
            leaky()
        assert of_kind(info.value.report, "fd")
        assert clean(3, b=4) == (3, 4), "each call has its own watch"
    finally:
        for s in kept:
            s.close()


def test_decorated_async_function_returns_its_value_and_fails_on_a_leak(
    listener: socket.socket,
) -> None:
    kept: list[socket.socket] = []

    @leakwatch.watch(on_leak="raise")
    async def clean(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    @leakwatch.watch(on_leak="raise")
    async def leaky() -> None:
        kept.append(socket.create_connection(listener.getsockname()))

    assert asyncio.iscoroutinefunction(clean)
    try:
        assert asyncio.run(clean(21)) == 42
        with pytest.raises(leakwatch.LeakError) as info:
            asyncio.run(leaky())
        assert of_kind(info.value.report, "fd")
    finally:
        for s in kept:
            s.close()


# -- the block's own outcome passes through untouched ------------------------------


def test_block_return_value_passes_through_decorator() -> None:
    sentinel = object()

    @leakwatch.watch()
    def give() -> object:
        return sentinel

    assert give() is sentinel


@pytest.mark.parametrize("exc_type", [Boom, Abort, KeyboardInterrupt])
def test_exception_passes_through_unchanged(exc_type: type[BaseException]) -> None:
    err = exc_type("original")
    with pytest.raises(exc_type) as info, leakwatch.watch(on_leak="raise") as w:
        _raise(err)
    assert info.value is err
    frames = traceback.extract_tb(err.__traceback__)
    assert (frames[-1].filename, frames[-1].lineno) == (
        __file__,
        marker_line(__file__, "# <- api: raises"),
    )
    assert w.report is not None and w.report.block_failed is True


def test_leaking_block_that_raised_is_reported_not_masked(listener: socket.socket) -> None:
    err = Boom("the block's own failure")
    conn: list[socket.socket] = []
    try:
        with pytest.raises(Boom) as info, leakwatch.watch(on_leak="raise") as w:
            conn.append(socket.create_connection(listener.getsockname()))
            _raise(err)
        assert info.value is err
        assert not isinstance(info.value, leakwatch.LeakError)
        assert w.report is not None and w.report.block_failed is True
        assert w.report.to_dict()["block_failed"] is True
    finally:
        for s in conn:
            s.close()


def test_leaking_async_block_that_raised_is_not_masked(listener: socket.socket) -> None:
    err = Boom("async failure")
    conn: list[socket.socket] = []

    @leakwatch.watch(on_leak="raise")
    async def leaky_and_failing() -> None:
        conn.append(socket.create_connection(listener.getsockname()))
        _raise(err)

    try:
        with pytest.raises(Boom) as info:
            asyncio.run(leaky_and_failing())
        assert info.value is err
    finally:
        for s in conn:
            s.close()


def test_leaking_block_that_raised_warns_nothing(listener: socket.socket) -> None:
    conn: list[socket.socket] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", leakwatch.LeakWarning)
            with pytest.raises(Boom), leakwatch.watch(on_leak="warn"):
                conn.append(socket.create_connection(listener.getsockname()))
                _raise(Boom())
    finally:
        for s in conn:
            s.close()


# -- policies ----------------------------------------------------------------------


def test_leak_error_is_an_assertion_error_carrying_the_report(listener: socket.socket) -> None:
    assert issubclass(leakwatch.LeakError, AssertionError)
    conn = None
    try:
        with pytest.raises(AssertionError) as info, leakwatch.watch() as w:  # "raise" by default
            conn = socket.create_connection(listener.getsockname())
        assert isinstance(info.value, leakwatch.LeakError)
        assert info.value.report is w.report
        assert of_kind(info.value.report, "fd")
        assert "fd" in str(info.value)
    finally:
        if conn is not None:
            conn.close()


def test_warn_policy_emits_a_leak_warning_with_the_report(listener: socket.socket) -> None:
    conn = None
    try:
        with pytest.warns(leakwatch.LeakWarning) as record, leakwatch.watch(on_leak="warn") as w:
            conn = socket.create_connection(listener.getsockname())
        (warning,) = [r for r in record if isinstance(r.message, leakwatch.LeakWarning)]
        assert warning.message.report is w.report  # type: ignore[union-attr]
        assert of_kind(w.report, "fd")
    finally:
        if conn is not None:
            conn.close()


def test_report_policy_neither_raises_nor_warns(listener: socket.socket) -> None:
    conn = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with leakwatch.watch(on_leak="report") as w:
                conn = socket.create_connection(listener.getsockname())
        assert w.report is not None and not w.report.clean
    finally:
        if conn is not None:
            conn.close()


def test_clean_block_under_raise_policy_is_quiet(listener: socket.socket) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with (
            leakwatch.watch(on_leak="raise") as w,
            socket.create_connection(listener.getsockname()) as conn,
        ):
            conn.sendall(b"x")
    assert w.report is not None and w.report.clean, str(w.report)


# -- the report --------------------------------------------------------------------


def test_to_dict_has_the_contract_shape(listener: socket.socket) -> None:
    conn = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            conn = socket.create_connection(listener.getsockname())  # <- api: dict shape
        data = w.report.to_dict()  # type: ignore[union-attr]
        assert json.loads(json.dumps(data)) == data, "plain JSON data"
        assert data["schema"] == "leakwatch.report/1"
        (leak,) = data["leaks"]
        assert set(leak) == {"kind", "title", "count", "size", "origin", "details"}
        assert leak["kind"] == "fd" and leak["count"] == 1 and leak["size"] is None
        assert isinstance(leak["title"], str) and isinstance(leak["details"], dict)
        assert leak["origin"], "the creation was seen"
        for frame in leak["origin"]:
            assert set(frame) == {"filename", "lineno", "function", "line"}
        last_user = [f for f in leak["origin"] if f["filename"] == __file__][-1]
        assert last_user["lineno"] == marker_line(__file__, "# <- api: dict shape")
        assert last_user["function"] == "test_to_dict_has_the_contract_shape"
        assert last_user["line"].startswith("conn = socket.create_connection(")
    finally:
        if conn is not None:
            conn.close()


def test_same_origin_leaks_are_grouped_with_a_count(listener: socket.socket) -> None:
    conns: list[socket.socket] = []
    try:
        with leakwatch.watch(on_leak="report") as w:
            for _ in range(3):
                conns.append(socket.create_connection(listener.getsockname()))  # <- api: x3
            conns.append(socket.create_connection(listener.getsockname()))  # <- api: x1
        fds = of_kind(w.report, "fd")
        by_line = {created_at(leak)[1]: leak.count for leak in fds}
        assert by_line == {
            marker_line(__file__, "# <- api: x3"): 3,
            marker_line(__file__, "# <- api: x1"): 1,
        }
        (three,) = [leak for leak in fds if leak.count == 3]
        assert len(three.details["items"]) == 3
    finally:
        for s in conns:
            s.close()


def test_leakwatch_frames_never_appear_in_origins(listener: socket.socket, tmp_path: Any) -> None:
    import subprocess
    import tempfile
    import threading

    conn = None
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    proc = None
    made: tuple[int, str] | None = None
    ends: tuple[int, int] | None = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            conn = socket.create_connection(listener.getsockname())
            ends = os.pipe()
            t.start()
            proc = subprocess.Popen(["sleep", "30"])
            made = tempfile.mkstemp(prefix="lw-own-")
        report = w.report
        assert report is not None
        assert {leak.kind for leak in report.leaks} >= {"fd", "thread", "process", "tempfile"}
        for leak in report.leaks:
            assert leak.origin, leak.title
            for frame in leak.origin:
                assert not frame.filename.startswith(OWN_DIR), (leak.title, frame)
    finally:
        stop.set()
        t.join()
        if conn is not None:
            conn.close()
        if ends is not None:
            os.close(ends[0])
            os.close(ends[1])
        if proc is not None:
            proc.kill()
            proc.wait()
        if made is not None:
            os.close(made[0])
            os.unlink(made[1])


def test_text_report_names_kind_title_and_file_line(listener: socket.socket) -> None:
    conn = None
    try:
        with leakwatch.watch(on_leak="report") as w:
            conn = socket.create_connection(listener.getsockname())  # <- api: text
        text = str(w.report)
        (leak,) = w.report.leaks  # type: ignore[union-attr]
        assert "1 leak" in text
        assert "fd" in text
        assert leak.title in text
        line = marker_line(__file__, "# <- api: text")
        assert f"{os.path.basename(__file__)}:{line}" in text
        assert "conn = socket.create_connection(" in text
    finally:
        if conn is not None:
            conn.close()


def test_clean_report_text_says_so() -> None:
    with leakwatch.watch(on_leak="report") as w:
        pass
    assert "no leaks" in str(w.report)


def test_nested_watches_each_report_what_their_block_left(listener: socket.socket) -> None:
    conns: list[socket.socket] = []
    try:
        with leakwatch.watch(on_leak="report") as outer:
            with leakwatch.watch(on_leak="report") as inner:
                conns.append(socket.create_connection(listener.getsockname()))  # <- api: inner
            conns.append(socket.create_connection(listener.getsockname()))  # <- api: outer
        inner_line = marker_line(__file__, "# <- api: inner")
        outer_line = marker_line(__file__, "# <- api: outer")
        assert [created_at(leak)[1] for leak in of_kind(inner.report, "fd")] == [inner_line]
        assert sorted(created_at(leak)[1] for leak in of_kind(outer.report, "fd")) == [
            inner_line,
            outer_line,
        ]
    finally:
        for s in conns:
            s.close()


# -- the detector itself leaves nothing behind ---------------------------------------


def _global_state() -> tuple[int, bool]:
    return sys.get_coroutine_origin_tracking_depth(), tracemalloc.is_tracing()


def test_watch_and_check_restore_global_state_even_when_the_block_raises() -> None:
    before = _global_state()  # (0, False) unless an outer watch (pytest --leakwatch) is on
    with leakwatch.watch(on_leak="report", kinds=("fd", "task", "heap", "state")):
        assert _global_state()[0] > 0, "task origins are tracked inside a watch"
    assert _global_state() == before
    with pytest.raises(Boom), leakwatch.watch(kinds=("task", "heap")):
        _raise(Boom())
    assert _global_state() == before
    calls = []

    def fails_on_third_call() -> None:
        calls.append(1)
        if len(calls) == 3:
            _raise(Boom())

    with pytest.raises(Boom):
        leakwatch.check(fails_on_third_call)
    assert _global_state() == before
    leakwatch.check(calls.append, 1, on_leak="report")
    assert _global_state() == before


def test_report_holds_no_reference_to_the_leaked_objects(listener: socket.socket) -> None:
    """Plain data only: once the program lets go, the leaked objects die.

    The watch runs in a helper frame that returns first: on CPython 3.11-3.12
    reading a running frame's locals (for "held by") leaves a snapshot on that
    frame until it returns, which is CPython's doing, not the report's.
    """
    stop = threading.Event()

    def leak_and_report() -> tuple[
        leakwatch.watch, weakref.ref[socket.socket], weakref.ref[threading.Thread]
    ]:
        conn = t = None
        try:
            with leakwatch.watch(on_leak="report") as w:
                conn = socket.create_connection(listener.getsockname())
                t = threading.Thread(target=stop.wait, name="held-weakly")
                t.start()
            return w, weakref.ref(conn), weakref.ref(t)
        finally:
            stop.set()
            if t is not None:
                t.join()
            if conn is not None:
                conn.close()

    w, sock_ref, thread_ref = leak_and_report()
    gc.collect()
    assert w.report is not None
    assert {leak.kind for leak in w.report.leaks} == {"fd", "thread"}
    assert sock_ref() is None, gc.get_referrers(sock_ref())
    assert thread_ref() is None, gc.get_referrers(thread_ref())
    assert json.dumps(w.report.to_dict())


# -- check and check_async -----------------------------------------------------------


def test_check_calls_fn_warmup_plus_repeat_times_with_its_arguments() -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def fn(*args: Any, **kwargs: Any) -> None:
        calls.append((args, kwargs))

    report = leakwatch.check(fn, 1, "two", repeat=3, warmup=2, on_leak="report", key="value")
    assert isinstance(report, leakwatch.Report)
    assert calls == [((1, "two"), {"key": "value"})] * 5


def test_check_defaults_and_zero_warmup() -> None:
    calls: list[int] = []
    leakwatch.check(calls.append, 0, on_leak="report")
    assert calls == [0] * 6  # warmup=1, repeat=5
    calls.clear()
    leakwatch.check(calls.append, 0, repeat=2, warmup=0, on_leak="report")
    assert calls == [0, 0]


def test_check_async_awaits_fn_warmup_plus_repeat_times() -> None:
    calls: list[tuple[Any, ...]] = []

    async def fn(a: int, *, b: int) -> None:
        await asyncio.sleep(0)
        calls.append((a, b))

    report = asyncio.run(leakwatch.check_async(fn, 1, b=2, repeat=4, warmup=3, on_leak="report"))
    assert isinstance(report, leakwatch.Report)
    assert calls == [(1, 2)] * 7


def test_check_passes_the_function_exception_through() -> None:
    err = Boom("from fn")
    calls = []

    def fn() -> None:
        calls.append(1)
        if len(calls) == 3:
            _raise(err)

    with pytest.raises(Boom) as info:
        leakwatch.check(fn, repeat=5, warmup=1)
    assert info.value is err
    assert len(calls) == 3


def test_check_reports_a_leaked_resource(listener: socket.socket) -> None:
    conns: list[socket.socket] = []
    try:
        with pytest.raises(leakwatch.LeakError) as info:
            leakwatch.check(
                lambda: conns.append(socket.create_connection(listener.getsockname())), repeat=3
            )
        fds = of_kind(info.value.report, "fd")
        assert sum(leak.count for leak in fds) == 3, "the judged calls' sockets; not the warm-up's"
    finally:
        for s in conns:
            s.close()
