"""Global-state probes against the real registries.

Every test changes a real interpreter registry and puts it back in a
``finally``; each leak-like change is paired with a look-alike that must stay
silent (restored, fetched again, lazy import, warm-up).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import io
import json
import logging
import os
import signal
import socket
import sys
import threading
import tracemalloc
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from leakwatch._base.model import Resource
from leakwatch._probes import state
from leakwatch._probes.state_values import StateSnapshot

assert json  # imported above so that importing it again is a no-op


def _by_probe(resources: list[Resource]) -> dict[str, Resource]:
    found = {str(r.details["probe"]): r for r in resources}
    assert len(found) == len(resources), "one Resource per registry"
    return found


def _only(resources: list[Resource], probe: str) -> Resource:
    found = _by_probe(resources)
    assert probe in found, f"{probe} not in {sorted(found)}"
    return found[probe]


def _changes(*actions: Callable[[], object]) -> list[Resource]:
    """What running ``actions`` in order changed."""
    before = state.snapshot()
    for action in actions:
        action()
    return state.diff(before, state.snapshot())


def _series(fn: Callable[[], object], calls: int = 3, warmup: bool = False) -> list[StateSnapshot]:
    """A snapshot before the first judged call and after each one (the repeat rule)."""
    if warmup:
        fn()
    snaps = [state.snapshot()]
    for _ in range(calls):
        fn()
        snaps.append(state.snapshot())
    return snaps


@pytest.fixture
def logger_name(request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"leakwatch-test-{request.node.name}"
    try:
        yield name
    finally:
        lg = logging.Logger.manager.loggerDict.pop(name, None)
        if isinstance(lg, logging.Logger):
            for h in list(lg.handlers):
                lg.removeHandler(h)
                h.close()


@pytest.fixture
def tracing() -> Iterator[None]:
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start(25)
    try:
        yield
    finally:
        if started:
            tracemalloc.stop()


# -- the probes themselves -------------------------------------------------------


def test_nothing_done_nothing_seen() -> None:
    # Two snapshots in a row: the probes must not change what they read.
    state.snapshot()
    assert _changes(lambda: None) == []


def test_snapshot_is_plain_data() -> None:
    snap = state.snapshot()
    assert {"sys.modules", "sys.path", "os.environ", "logging.handlers"} <= set(snap.readings)
    for reading in snap.readings.values():
        assert all(type(n) is str for n in reading.names)
        assert all(type(t) is str for t in reading.texts.values())
        assert all(type(t) is int for t in reading.tokens.values())
        assert type(reading.size) is int
    assert state.sizes(snap)["sys.modules"] == len(sys.modules)


def test_a_failing_probe_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> state.Raw:
        raise RuntimeError("probe bug")

    monkeypatch.setattr(
        state, "PROBES", (*state.PROBES, state.RegistryProbe("broken", "x", broken))
    )
    snap = state.snapshot()
    assert "broken" not in snap.readings
    assert "sys.path" in snap.readings


def test_signals_are_read_in_the_main_thread_only() -> None:
    snaps: list[StateSnapshot] = []
    t = threading.Thread(target=lambda: snaps.append(state.snapshot()))
    t.start()
    t.join()
    assert "signal" not in snaps[0].readings
    assert "sys.path" in snaps[0].readings
    assert "signal" in state.snapshot().readings


def test_is_growth() -> None:
    assert state.is_growth([3, 4, 5, 6])
    assert not state.is_growth([3, 4, 4, 5])
    assert not state.is_growth([3, 3, 3])
    assert not state.is_growth([6, 5, 4])
    assert not state.is_growth([3])


# -- sys.modules, sys.path, import machinery -------------------------------------


def test_module_added_is_seen_and_reimport_is_silent() -> None:
    try:
        res = _only(
            _changes(lambda: sys.modules.setdefault("lw_fake", types.ModuleType("x"))),
            "sys.modules",
        )
    finally:
        del sys.modules["lw_fake"]
    assert res.title == "sys.modules: +1 module 'lw_fake'"
    assert res.kind == "state" and res.key == res.group == "sys.modules"
    assert res.details["added"] == ["'lw_fake'"]
    assert _changes(lambda: importlib.import_module("json")) == []


def test_lists_are_capped() -> None:
    names = [f"lw_many_{i:02d}" for i in range(25)]
    try:
        res = _only(_changes(lambda: sys.modules.update(dict.fromkeys(names, json))), "sys.modules")
    finally:
        for name in names:
            del sys.modules[name]
    assert res.details["counts"] == {"added": 25, "removed": 0, "changed": 0}
    assert len(res.details["added"]) == 20
    assert (
        res.title == "sys.modules: +25 modules 'lw_many_00', 'lw_many_01', 'lw_many_02' (+22 more)"
    )


def test_sys_path_entry_seen_and_append_then_remove_silent() -> None:
    try:
        res = _only(_changes(lambda: sys.path.append("/tmp/lw-x")), "sys.path")
    finally:
        sys.path.remove("/tmp/lw-x")
    assert res.title == "sys.path: +1 entry '/tmp/lw-x'"
    assert res.details["added"] == ["'/tmp/lw-x'"] and res.origin == ()
    assert (
        _changes(lambda: sys.path.append("/tmp/lw-y"), lambda: sys.path.remove("/tmp/lw-y")) == []
    )


def test_sys_path_growing_every_call_is_growth() -> None:
    try:
        snaps = _series(lambda: sys.path.append("/tmp/lw-grow"))
    finally:
        while "/tmp/lw-grow" in sys.path:
            sys.path.remove("/tmp/lw-grow")
    res = _only(state.growing(snaps), "sys.path")
    assert res.details["growth_per_call"] == 1
    assert res.details["added"] == ["'/tmp/lw-grow'"] * 3
    assert res.title.startswith("sys.path: +1 entry per call; +3 entries '/tmp/lw-grow'")


def test_lazy_import_grows_once_and_is_not_growth(tmp_path: Path) -> None:
    (tmp_path / "lw_lazy_mod.py").write_text("VALUE = 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        snaps = _series(lambda: importlib.import_module("lw_lazy_mod"))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("lw_lazy_mod", None)
        sys.path_importer_cache.pop(str(tmp_path), None)
    series = [state.sizes(s)["sys.modules"] for s in snaps]
    assert series[1] == series[0] + 1 and series[1:] == [series[1]] * 3
    assert "sys.modules" not in _by_probe(state.growing(snaps))


class _Finder:
    __slots__ = ()  # 3.11's tracemalloc can't trace instances with a managed __dict__

    def find_spec(self, *args: Any) -> None:
        return None


def _path_hook(path: str) -> Any:
    raise ImportError


def test_meta_path_and_path_hooks(tracing: None) -> None:
    finder = _Finder()  # origin line
    try:
        found = _by_probe(
            _changes(
                lambda: sys.meta_path.append(finder), lambda: sys.path_hooks.append(_path_hook)
            )
        )
    finally:
        sys.meta_path.remove(finder)
        sys.path_hooks.remove(_path_hook)
    assert found["sys.meta_path"].title.endswith(f"+1 finder {__name__}._Finder object")
    assert found["sys.path_hooks"].title.endswith(f"+1 hook {__name__}._path_hook")
    origin = found["sys.meta_path"].origin
    assert any(f.filename == __file__ and f.line.endswith("# origin line") for f in origin)


# -- atexit, logging, warnings ---------------------------------------------------


def _noop() -> None:
    pass


def test_atexit_callback_listed_and_unregistered_silent(tracing: None) -> None:
    def on_exit() -> None:  # origin line
        pass

    try:
        res = _only(_changes(lambda: atexit.register(on_exit)), "atexit")
    finally:
        atexit.unregister(on_exit)
    assert res.title == f"atexit: +1 callback {__name__}.{on_exit.__qualname__}"
    assert res.details["added"] == [f"{__name__}.{on_exit.__qualname__}"]
    assert any(f.filename == __file__ and f.line.endswith("# origin line") for f in res.origin)
    assert _changes(lambda: atexit.register(_noop), lambda: atexit.unregister(_noop)) == []


def test_atexit_registered_every_call_is_growth() -> None:
    registered: list[Callable[..., None]] = []

    def register_one() -> None:
        registered.append(_hook_factory())
        atexit.register(registered[-1])

    try:
        snaps = _series(register_one)
        fresh = _series(lambda: atexit.unregister(atexit.register(_noop)))
    finally:
        for cb in registered:
            atexit.unregister(cb)
    res = _only(state.growing(snaps), "atexit")
    assert res.details["growth_per_call"] == 1
    assert state.growing(fresh) == []


def test_logger_fetched_twice_is_added_once(logger_name: str) -> None:
    first = _only(_changes(lambda: logging.getLogger(logger_name)), "logging.loggers")
    assert first.title == f"logging.loggers: +1 logger {logger_name!r}"
    assert _changes(lambda: logging.getLogger(logger_name)) == []


def _make_handler() -> logging.Handler:
    return logging.StreamHandler(io.StringIO())  # origin line


def test_handler_added_is_seen_with_origin(logger_name: str, tracing: None) -> None:
    lg = logging.getLogger(logger_name)
    res = _only(_changes(lambda: lg.addHandler(_make_handler())), "logging.handlers")
    assert res.title.startswith("logging.handlers: +1 handler <StreamHandler")
    assert res.title.endswith(f"on logger {logger_name!r}")
    assert any(f.filename == __file__ and f.line.endswith("# origin line") for f in res.origin)
    handler = lg.handlers[0]
    removed = _only(_changes(lambda: lg.removeHandler(handler)), "logging.handlers")
    handler.close()
    assert removed.title.startswith("logging.handlers: -1 handler <StreamHandler")


def test_handler_added_every_call_is_growth(logger_name: str) -> None:
    snaps = _series(lambda: logging.getLogger(logger_name).addHandler(logging.NullHandler()))
    res = _only(state.growing(snaps), "logging.handlers")
    assert res.details["growth_per_call"] == 1
    assert res.details["counts"]["added"] == 3
    assert "logging.loggers" not in _by_probe(state.growing(snaps))  # fetched 4 times, made once


def test_logger_fetched_every_call_is_not_growth(logger_name: str) -> None:
    snaps = _series(lambda: logging.getLogger(logger_name), warmup=True)
    assert state.growing(snaps) == []


def test_root_level_and_disable() -> None:
    root, old_disable = logging.getLogger(), logging.Logger.manager.disable
    old = root.level
    try:
        found = _by_probe(
            _changes(lambda: root.setLevel(logging.DEBUG + 1), lambda: logging.disable())
        )
    finally:
        root.setLevel(old)
        logging.disable(old_disable)
    title = found["logging.levels"].title
    assert f"root: {logging.getLevelName(old)} -> Level 11" in title
    assert "logging.disable: " in title and "-> CRITICAL" in title


def test_warning_filter_added_is_seen_and_catch_warnings_silent() -> None:
    saved = warnings.filters[:]
    try:
        res = _only(
            _changes(
                lambda: warnings.filterwarnings("ignore", "lw-msg", DeprecationWarning, "lw_mod")
            ),
            "warnings.filters",
        )
    finally:
        warnings.filters[:] = saved  # type: ignore[index]  # typeshed says Sequence
        warnings._filters_mutated()  # type: ignore[attr-defined]
    assert res.title == "warnings.filters: +1 filter ignore:lw-msg:DeprecationWarning:lw_mod"

    def in_context() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.filterwarnings("ignore", "x", UserWarning)

    assert "warnings.filters" not in _by_probe(_changes(in_context))


def test_warning_registry_grows_once_per_location() -> None:
    mod = types.ModuleType("lw_warnmod")
    exec("import warnings\ndef f():\n    warnings.warn('lw registry', UserWarning)\n", mod.__dict__)
    sys.modules["lw_warnmod"] = mod
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("default")
            s0 = state.snapshot()
            mod.f()
            s1 = state.snapshot()
            mod.f()  # same place: already in the registry
            s2 = state.snapshot()
    finally:
        del sys.modules["lw_warnmod"]
    n = state.sizes(s0)["__warningregistry__"]
    res = _only(state.diff(s0, s1), "__warningregistry__")
    assert res.title == f"__warningregistry__: +1 entry ({n} -> {n + 1}) in 'lw_warnmod'"
    assert res.details["added"] == ["lw_warnmod=1"]
    assert state.diff(s1, s2) == []


# -- signals, environment, process settings --------------------------------------


def _on_signal(signum: int, frame: object) -> None:
    pass


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 here")
def test_signal_handler_changed_and_restored_silent() -> None:
    old = signal.signal(signal.SIGUSR1, _on_signal)
    try:
        res = _only(_changes(lambda: signal.signal(signal.SIGUSR1, old)), "signal")
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert res.title.startswith(f"signal: SIGUSR1: {__name__}._on_signal -> ")

    def set_and_restore() -> None:
        signal.signal(signal.SIGUSR1, signal.signal(signal.SIGUSR1, _on_signal))

    assert _changes(set_and_restore) == []


def test_environment_added_changed_removed_and_restored() -> None:
    key = "LW_TEST_VAR"
    try:
        added = _only(_changes(lambda: os.environ.__setitem__(key, "v1")), "os.environ")
        changed = _only(_changes(lambda: os.environ.__setitem__(key, "v2")), "os.environ")
        removed = _only(_changes(lambda: os.environ.pop(key)), "os.environ")
    finally:
        os.environ.pop(key, None)
    assert added.title == "os.environ: +1 variable LW_TEST_VAR='v1'"
    assert changed.title == "os.environ: LW_TEST_VAR: 'v1' -> 'v2'"
    assert removed.title == "os.environ: -1 variable LW_TEST_VAR='v2'"

    def set_and_restore() -> None:
        os.environ["HOME"] = "/elsewhere"
        os.environ.pop(key, None)
        os.environ[key] = "tmp"
        del os.environ[key]

    home = os.environ.get("HOME")
    try:
        before = state.snapshot()
        set_and_restore()
    finally:
        if home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = home
    assert state.diff(before, state.snapshot()) == []


def test_pytest_current_test_is_not_the_programs_doing() -> None:
    old = os.environ.get("PYTEST_CURRENT_TEST")
    try:
        assert _changes(lambda: os.environ.__setitem__("PYTEST_CURRENT_TEST", "x (teardown)")) == []
    finally:
        if old is None:
            os.environ.pop("PYTEST_CURRENT_TEST", None)
        else:
            os.environ["PYTEST_CURRENT_TEST"] = old


def test_secrets_are_hidden() -> None:
    key = "LW_TEST_API_TOKEN"
    try:
        before = state.snapshot()
        os.environ[key] = "hunter2-secret"
        mid = state.snapshot()
        os.environ[key] = "hunter3-secret"
        after = state.snapshot()
    finally:
        os.environ.pop(key, None)
    added, changed = (
        _only(state.diff(before, mid), "os.environ"),
        _only(state.diff(mid, after), "os.environ"),
    )
    assert added.title == f"os.environ: +1 variable {key}=<hidden>"
    assert changed.title == f"os.environ: {key}: <hidden> (replaced)"
    for thing in (added, changed, mid, after):
        assert "hunter" not in repr(thing)


def test_cwd_changed(tmp_path: Path) -> None:
    old = os.getcwd()
    try:
        os.chdir(tmp_path)
        new = os.getcwd()
        res = _only(_changes(lambda: os.chdir(old)), "cwd")
    finally:
        os.chdir(old)
    assert res.title == f"cwd: {new!r} -> {old!r}" and res.origin == ()


def _hook_factory() -> Callable[..., None]:
    def hook(*args: object) -> None:
        pass

    return hook


def test_hooks_replaced_even_by_a_look_alike() -> None:
    old_sys, old_threading = sys.excepthook, threading.excepthook
    try:
        sys.excepthook = _hook_factory()
        threading.excepthook = _hook_factory()
        before = state.snapshot()
        sys.excepthook = _hook_factory()  # same name, another object
        res = _only(state.diff(before, state.snapshot()), "hooks")
    finally:
        sys.excepthook, threading.excepthook = old_sys, old_threading
    assert res.title == f"hooks: sys.excepthook: {__name__}._hook_factory.<locals>.hook (replaced)"


def test_stdout_replaced() -> None:
    old = sys.stdout
    try:
        res = _only(_changes(lambda: setattr(sys, "stdout", io.StringIO())), "sys.stdio")
    finally:
        sys.stdout = old
    assert res.title.startswith("sys.stdio: sys.stdout: ")
    assert res.title.endswith(" -> _io.StringIO object")


class _Policy(asyncio.DefaultEventLoopPolicy):
    pass


def test_event_loop_policy_custom_seen_default_silent() -> None:
    old = asyncio.get_event_loop_policy()
    try:
        res = _only(_changes(lambda: asyncio.set_event_loop_policy(_Policy())), "asyncio.policy")
        asyncio.set_event_loop_policy(None)
        assert _changes(lambda: asyncio.run(asyncio.sleep(0))) == []
    finally:
        asyncio.set_event_loop_policy(old)
    assert res.title == f"asyncio.policy: default -> {__name__}._Policy"


def test_socket_timeout_and_recursion_limit() -> None:
    old_timeout, old_limit = socket.getdefaulttimeout(), sys.getrecursionlimit()
    try:
        found = _by_probe(
            _changes(
                lambda: socket.setdefaulttimeout(7.5),
                lambda: sys.setrecursionlimit(old_limit + 10),
            )
        )
    finally:
        socket.setdefaulttimeout(old_timeout)
        sys.setrecursionlimit(old_limit)
    assert found["socket.defaulttimeout"].title == f"socket.defaulttimeout: {old_timeout!r} -> 7.5"
    assert (
        found["sys.recursionlimit"].title == f"sys.recursionlimit: {old_limit} -> {old_limit + 10}"
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="umask is read from /proc")
def test_umask_changed() -> None:
    old = os.umask(0o027)
    try:
        res = _only(_changes(lambda: os.umask(0o077)), "umask")
    finally:
        os.umask(old)
    assert res.title == "umask: 0027 -> 0077"


def test_a_warning_registry_reset_to_its_version_only_is_silent() -> None:
    # warnings resets a module's registry to {"version": N} when the filters
    # change: that is no entry at all, and must not read as "+0 entries".
    module = types.ModuleType("leakwatch_registry_probe")
    before = state.snapshot()
    sys.modules[module.__name__] = module
    try:
        module.__warningregistry__ = {"version": 7}
        assert _registry_changes(before) == []
        module.__warningregistry__ = {"version": 7, ("msg", UserWarning, 1): True}
        assert len(_registry_changes(before)) == 1
    finally:
        del sys.modules[module.__name__]


def _registry_changes(before: StateSnapshot) -> list[Resource]:
    return [r for r in state.diff(before, state.snapshot()) if r.key == "__warningregistry__"]
