"""Global state that grows per call carries the line that made each new entry.

``check()`` runs its judged calls under tracemalloc, which knows where each
new ``sys.path`` entry, ``atexit`` callback or logging handler was allocated.
Each grower is paired with a function doing the same once (silent).
"""

from __future__ import annotations

import atexit
import io
import logging
import sys
from collections.abc import Callable, Iterator

import pytest
from support import created_at, marker_line, of_kind

import leakwatch

HERE = __file__
LOGGER = "leakwatch.tests.state-origin"


def here(marker: str) -> tuple[str, int]:
    return HERE, marker_line(HERE, f"# <- creates: {marker}")


class Conn:
    def close(self) -> None:
        pass


_n = [0]


def grow_path() -> None:
    _n[0] += 1
    sys.path.append(f"/nonexistent/leakwatch-{_n[0]}")  # <- creates: sys.path


def path_once() -> None:
    if "/nonexistent/leakwatch-once" not in sys.path:
        sys.path.append("/nonexistent/leakwatch-once")


_CONNS: list[Conn] = []  # to unregister their callbacks afterwards


def grow_atexit() -> None:
    conn = Conn()
    _CONNS.append(conn)
    atexit.register(conn.close)  # <- creates: atexit


_ONCE = Conn()


def atexit_once() -> None:
    atexit.unregister(_ONCE.close)
    atexit.register(_ONCE.close)


def grow_handler() -> None:
    logger = logging.getLogger(LOGGER)
    logger.addHandler(logging.StreamHandler(io.StringIO()))  # <- creates: handler


_HANDLER = logging.StreamHandler(io.StringIO())


def handler_once() -> None:
    logging.getLogger(LOGGER).addHandler(_HANDLER)  # a second add is a no-op


@pytest.fixture(autouse=True)
def restore() -> Iterator[None]:
    path = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = path
        for conn in [*_CONNS, _ONCE]:
            atexit.unregister(conn.close)  # equal bound methods: same object, same function
        _CONNS.clear()
        logger = logging.getLogger(LOGGER)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()


@pytest.mark.parametrize(
    ("grows", "once", "probe", "marker"),
    [
        (grow_path, path_once, "sys.path", "sys.path"),
        (grow_atexit, atexit_once, "atexit", "atexit"),
        (grow_handler, handler_once, "logging.handlers", "handler"),
    ],
    ids=["sys.path", "atexit", "logging.handlers"],
)
def test_growing_state_names_the_line_that_made_the_entry(
    grows: Callable[[], None], once: Callable[[], None], probe: str, marker: str
) -> None:
    report = leakwatch.check(grows, on_leak="report")
    found = [leak for leak in of_kind(report, "state") if leak.details.get("probe") == probe]
    assert len(found) == 1, str(report)
    assert created_at(found[0]) == here(marker)
    assert found[0].origin[-1].lineno == here(marker)[1]  # the user's line last

    quiet = leakwatch.check(once, on_leak="report")
    assert of_kind(quiet, "state") == [], str(quiet)
