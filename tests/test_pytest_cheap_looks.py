"""The plugin's cheap looks cannot hide a leak.

Within a test, the marks that end its setup and its call count the open
descriptors instead of listing them, and a test's first look is the
previous test's last while Python made no descriptor and as many are open.
C code opening a descriptor while Python closes another in the same phase
leaves the count unchanged: that descriptor is then placed a phase late,
never missed, because every test's last look lists and ``fstat``s them all.
Beside each leak, its twin that closes what C code opened passes.

Threads likewise: a test's first look is the previous test's last while
Python started no thread since and the OS counts as many; every test's last
look lists them all.
"""

from __future__ import annotations

import pytest
from support.plugin_runs import line_of, outcomes, prepare, run, write


@pytest.fixture
def lw(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


SWAPS = """
import ctypes, os
import pytest

libc = ctypes.CDLL(None)
KEPT = []

@pytest.fixture
def pipe():
    return os.pipe()

def test_swaps_python_descriptors_for_c_ones(pipe):
    os.close(pipe[0])  # Python closes two: no creation, no event
    os.close(pipe[1])
    KEPT.append(libc.dup(0))  # C code opens two: as many open as before
    KEPT.append(libc.dup(0))

def test_swaps_and_closes_the_c_ones(pipe):
    os.close(pipe[0])
    os.close(pipe[1])
    first, second = libc.dup(0), libc.dup(0)
    os.close(first)
    os.close(second)

def test_c_code_opens_two_in_a_quiet_test():
    KEPT.append(libc.dup(0))
    KEPT.append(libc.dup(0))

def test_after_the_leaks():
    pass
"""


def test_a_c_made_descriptor_is_found_whatever_was_counted(lw: pytest.Pytester) -> None:
    write(lw, "test_swaps.py", SWAPS)
    result = run(lw, "--leakwatch", "-p", "no:randomly")
    got = outcomes(result)
    text = result.stdout.str()
    # The swap left as many descriptors open as the fixture's pipe made: the
    # mark ending the call counted the same, and what C code opened was
    # still found, and charged to the test that made it.  The first of a
    # signature no hook saw made is a first use (information, a library's
    # one-time set-up); the next test making more while those live is growth.
    assert "test_swaps_python_descriptors_for_c_ones: device /dev/null (fds" in text, text
    assert got["test_swaps_python_descriptors_for_c_ones"] == {"PASSED"}, text
    # A quiet test's first look was the previous test's last: what C code
    # opened in it is its own (growth: it fails), and not the next test's.
    assert got["test_c_code_opens_two_in_a_quiet_test"] == {"FAILED"}, text
    assert "test_c_code_opens_two_in_a_quiet_test (call) x2: device /dev/null" in text, text
    assert got["test_swaps_and_closes_the_c_ones"] == {"PASSED"}, text
    assert got["test_after_the_leaks"] == {"PASSED"}, text
    assert "test_after_the_leaks" not in text.split("= leakwatch =")[1].split("short test")[0]


THREADS = """
import _thread, threading
import pytest

NEVER = threading.Event()

@pytest.fixture
def worker():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="worker")
    thread.start()
    yield stop, thread
    stop.set()
    thread.join()

def test_quiet_first():
    pass

def test_ends_its_worker_and_starts_a_raw_thread(worker):
    stop, thread = worker
    stop.set()
    thread.join()
    _thread.start_new_thread(NEVER.wait, ())  # <- raw: as many threads as before

def test_quiet_between():
    pass

def test_starts_a_thread_after_a_quiet_test():
    threading.Thread(target=NEVER.wait, name="late", daemon=True).start()  # <- late

def test_quiet_last():
    pass
"""


def test_a_thread_is_found_in_its_own_test_whatever_the_first_look_reused(
    lw: pytest.Pytester,
) -> None:
    path = write(lw, "test_threads.py", THREADS)
    result = run(lw, "--leakwatch", "-p", "no:randomly")
    assert outcomes(result) == {
        "test_quiet_first": {"PASSED"},
        "test_ends_its_worker_and_starts_a_raw_thread": {"FAILED"},
        "test_quiet_between": {"PASSED"},
        "test_starts_a_thread_after_a_quiet_test": {"FAILED"},
        "test_quiet_last": {"PASSED"},
    }, result.stdout.str()
    for marker in ("# <- raw", "# <- late"):
        line = line_of(path, marker)
        result.stdout.fnmatch_lines([f"*1 thread leak in call: *test_threads.py:{line}*"])
