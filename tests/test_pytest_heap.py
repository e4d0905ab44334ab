"""The plugin's heap check: objects that should die with their test, growing across tests.

Each run holds the leak and its look-alikes side by side: a fixture whose
values pile up in a registry fails from the third test on, while a cached
object handed out every time, a holder that keeps only the last value, and
fresh values that die all pass.
"""

from __future__ import annotations

import pytest
from support.plugin_runs import line_of, outcomes, prepare, run, write


@pytest.fixture
def lw(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


FIXTURES = """
import functools
import pytest

REGISTRY = []
LAST = {}

class Client:
    def __init__(self):
        REGISTRY.append(self)

class Conn:
    pass

@pytest.fixture
def client():  # LEAKY FIXTURE
    yield Client()

@functools.lru_cache(maxsize=None)
def shared():
    return Conn()

@pytest.fixture
def cached():
    return shared()

@pytest.fixture
def last():
    LAST["conn"] = conn = Conn()
    return conn

@pytest.fixture
def fresh():
    return Conn()

@pytest.mark.parametrize("i", range(4))
def test_registry(i, client):
    pass

@pytest.mark.parametrize("i", range(4))
def test_cache(i, cached):
    pass

@pytest.mark.parametrize("i", range(4))
def test_last(i, last):
    pass

@pytest.mark.parametrize("i", range(4))
def test_fresh(i, fresh, tmp_path, monkeypatch):
    pass

BACKENDS = [Conn(), Conn(), Conn(), Conn()]

@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param

def test_param(backend):
    pass
"""


def test_fixture_values_piling_up_fail_from_the_third_test(lw: pytest.Pytester) -> None:
    path = write(lw, "test_fixtures.py", FIXTURES)
    result = run(lw, "--leakwatch", "--leakwatch-kinds=fd,heap")
    found = outcomes(result)
    assert found["test_registry[0]"] == {"PASSED"}
    assert found["test_registry[1]"] == {"PASSED"}
    assert found["test_registry[2]"] == {"PASSED", "ERROR"}
    assert found["test_registry[3]"] == {"PASSED", "ERROR"}
    for name in ("test_cache", "test_last", "test_fresh", "test_param"):
        for i in range(4):
            param = f"backend{i}" if name == "test_param" else i
            assert found[f"{name}[{param}]"] == {"PASSED"}, (name, i, found)
    line = line_of(path, "LEAKY FIXTURE")
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_registry[[]2[]]*",
            "*1 heap leak in setup: fixture 'client' value test_fixtures.Client outlived its "
            f"test (3 of its values alive), created at test_fixtures.py:{line}*",
            "*like values of earlier tests: growth across tests*",
            "*held by test_fixtures.REGISTRY[[]2[]]*",
        ]
    )


def test_heap_is_off_with_the_default_kinds(lw: pytest.Pytester) -> None:
    write(lw, "test_fixtures.py", FIXTURES)
    result = run(lw, "--leakwatch")
    assert set().union(*outcomes(result).values()) == {"PASSED"}


def test_unittest_instances_kept_by_a_registry_fail(lw: pytest.Pytester) -> None:
    path = write(
        lw,
        "test_cases.py",
        """
        import unittest

        HANDLERS = []

        class TestSubscribes(unittest.TestCase):  # LEAKY CLASS
            def setUp(self):
                HANDLERS.append(self.on_event)

            def on_event(self):
                pass

            def test_a(self): pass
            def test_b(self): pass
            def test_c(self): pass

        class TestUnsubscribes(unittest.TestCase):
            def setUp(self):
                HANDLERS.append(self.on_event)
                self.addCleanup(HANDLERS.remove, self.on_event)

            def on_event(self):
                pass

            def test_d(self): pass
            def test_e(self): pass
            def test_f(self): pass
            def test_g(self): pass
        """,
    )
    result = run(lw, "--leakwatch", "--leakwatch-kinds=all")
    found = outcomes(result)
    assert found == {
        "test_a": {"PASSED"},
        "test_b": {"PASSED"},
        "test_c": {"PASSED", "ERROR"},
        **{name: {"PASSED"} for name in ("test_d", "test_e", "test_f", "test_g")},
    }, found
    line = line_of(path, "LEAKY CLASS")
    result.stdout.fnmatch_lines(
        [
            "*unittest test_cases.TestSubscribes instance outlived its test (3 instances alive)"
            f", created at test_cases.py:{line}*",
            "*held by test_cases.HANDLERS[[]2[]] -> bound method TestSubscribes.on_event*",
        ]
    )


def test_marker_allows_heap_and_failed_tests_are_not_judged(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_marked.py",
        """
        import pytest

        KEPT = []

        class Thing:
            pass

        @pytest.fixture
        def thing():
            KEPT.append(Thing())
            return KEPT[-1]

        @pytest.mark.leakwatch(allow=["heap"])
        @pytest.mark.parametrize("i", range(3))
        def test_allowed(i, thing):
            pass

        @pytest.mark.parametrize("i", range(2))
        def test_failing(i, thing):
            assert False, "fails on its own"

        def test_judged(thing):
            pass
        """,
    )
    result = run(lw, "--leakwatch", "--leakwatch-kinds=heap")
    found = outcomes(result)
    assert found["test_allowed[2]"] == {"PASSED"}
    assert found["test_failing[0]"] == {"FAILED"}
    assert found["test_failing[1]"] == {"FAILED"}
    # The allowed tests' values count towards the growth, the failed tests'
    # are not looked at; the judged test is charged with its own value only.
    assert found["test_judged"] == {"PASSED", "ERROR"}
    result.stdout.fnmatch_lines(["*1 heap leak in setup: fixture 'thing'*(4 of its values alive)*"])


def test_heap_on_traces_nothing_per_test(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_tracing.py",
        """
        import tracemalloc
        import pytest

        def test_not_traced():
            assert not tracemalloc.is_tracing()

        CALLS = []

        @pytest.mark.leakwatch(repeat=2)
        def test_traced_only_while_repeated():
            CALLS.append(tracemalloc.is_tracing())
            if len(CALLS) == 4:  # the real call, a warm-up, two judged calls
                assert CALLS == [False, True, True, True], CALLS
        """,
    )
    result = run(lw, "--leakwatch", "--leakwatch-kinds=all")
    assert outcomes(result) == {
        "test_not_traced": {"PASSED"},
        "test_traced_only_while_repeated": {"PASSED"},
    }


def test_async_fixture_values_are_watched_too(lw: pytest.Pytester) -> None:
    write(
        lw,
        "test_async_values.py",
        """
        import pytest
        import pytest_asyncio

        KEPT = []

        class Session:
            pass

        @pytest_asyncio.fixture
        async def session():
            KEPT.append(Session())
            yield KEPT[-1]

        @pytest_asyncio.fixture
        async def fresh():
            yield Session()

        @pytest.mark.asyncio
        @pytest.mark.parametrize("i", range(3))
        async def test_kept(i, session):
            pass

        @pytest.mark.asyncio
        @pytest.mark.parametrize("i", range(3))
        async def test_fresh(i, fresh):
            pass
        """,
    )
    result = run(lw, "--leakwatch", "--leakwatch-kinds=heap")
    found = outcomes(result)
    assert found["test_kept[2]"] == {"PASSED", "ERROR"}
    assert {found[f"test_kept[{i}]"] == {"PASSED"} for i in (0, 1)} == {True}
    assert {found[f"test_fresh[{i}]"] == {"PASSED"} for i in range(3)} == {True}
    result.stdout.fnmatch_lines(["*fixture 'session' value test_async_values.Session outlived*"])
