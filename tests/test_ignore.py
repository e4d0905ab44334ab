"""Ignore rules, each matcher against a near miss, and the known library leaks."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path
from typing import Any

import pytest

from leakwatch._base.frames import Frame
from leakwatch._base.model import Leak
from leakwatch._report.errors import ConfigError
from leakwatch._rules import ignore as ignore_module
from leakwatch._rules.ignore import IgnoreRule, apply_rules, ignore, module_of, unmatched
from leakwatch._rules.known import apply_known, load_known_leaks, version_in
from leakwatch._rules.policy import Policy

ROOT = "/srv/app"  # a sys.path entry for the tests below; the files need not exist


@pytest.fixture(autouse=True)
def app_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(ROOT)


def frame(relpath: str, function: str, lineno: int = 10) -> Frame:
    return Frame(f"{ROOT}/{relpath}", lineno, function, "x = make()")


def leak(kind: str, *frames: Frame, count: int = 1, **details: Any) -> Leak:
    return Leak(kind=kind, title=f"a {kind}", count=count, origin=frames, details=details)


def stack(relpath: str, function: str) -> list[dict[str, Any]]:
    return [{"filename": f"{ROOT}/{relpath}", "lineno": 3, "function": function, "line": ""}]


POOL = frame("myapp/pool.py", "connect")
POOLING = frame("myapp/pooling.py", "connect")
USER = frame("tests/test_app.py", "test_fetch")

# (rule matchers, a leak that matches, a near miss that must not)
CASES: dict[str, tuple[dict[str, str], Leak, Leak]] = {
    "kind": ({"kind": "thread"}, leak("thread"), leak("task")),
    "function-module-glob": (
        {"function": "myapp.pool.*"},
        leak("fd", frame("main.py", "main"), POOL),
        leak("fd", frame("main.py", "main"), POOLING),
    ),
    "function-plain-name": (
        {"function": "connect"},
        leak("fd", POOL),
        leak("fd", frame("myapp/pool.py", "connector")),
    ),
    "function-file-colon": (
        {"function": "pool.py:connect"},
        leak("fd", POOL),
        leak("fd", POOLING),
    ),
    "function-module-colon": (
        {"function": "myapp.pool:conn*"},
        leak("fd", POOL),
        leak("fd", frame("myapp/pool.py", "open")),
    ),
    "module-dotted": (
        {"module": "myapp.*"},
        leak("fd", POOL),
        leak("fd", frame("other/x.py", "f")),
    ),
    "module-filename": (
        {"module": "*/vendor/*"},
        leak("fd", frame("vendor/lib.py", "f")),
        leak("fd", frame("vendors/lib.py", "f")),
    ),
    # Below the user's line, in details["library_frames"] (as a report stores them).
    "function-in-library-frames": (
        {"function": "urllib3.*"},
        leak("fd", USER, library_frames=[frame("urllib3/connection.py", "connect").to_dict()]),
        leak("fd", USER, library_frames=[frame("urllib4/connection.py", "connect").to_dict()]),
    ),
    "module-in-library-frames": (
        {"module": "multiprocessing.queues"},
        leak("fd", USER, library_frames=[frame("multiprocessing/queues.py", "__init__").to_dict()]),
        leak("fd", USER, library_frames=[frame("multiprocessing/context.py", "Queue").to_dict()]),
    ),
    # Reports written before library frames were dicts held "file:line in function".
    "function-in-old-library-frames": (
        {"function": "urllib3.connection.connect"},
        leak("fd", USER, library_frames=[f"{ROOT}/urllib3/connection.py:398 in connect"]),
        leak("fd", USER, library_frames=[f"{ROOT}/urllib3/connection.py:398 in _new_conn"]),
    ),
    "current-stack": (
        {"current": "myapp.poller._loop"},
        leak("thread", stack=stack("myapp/poller.py", "_loop")),
        leak("thread", stack=stack("myapp/poller.py", "_loop2")),
    ),
    "current-suspended-at": (
        {"current": "*.fetch"},
        leak("task", suspended_at=stack("myapp/http.py", "fetch")),
        leak("task", suspended_at=stack("myapp/http.py", "fetch_all")),
    ),
    "current-target": (
        {"current": "myapp.poller.run"},
        leak("thread", target="myapp.poller.run"),
        leak("thread", target="myapp.poller.runner"),
    ),
    "thread-name": (
        {"thread_name": "poller-*"},
        leak("thread", name="poller-1"),
        leak("thread", name="pollster-1"),
    ),
    "thread-name-not-a-task": (
        {"thread_name": "poller-*"},
        leak("thread", name="poller-1"),
        leak("task", name="poller-1"),
    ),
    "task-name": ({"task_name": "ws-*"}, leak("task", name="ws-7"), leak("task", name="http-7")),
    "task-coroutine": (
        {"task_name": "Client._heartbeat"},
        leak("task", name="Task-3", coroutine="Client._heartbeat"),
        leak("task", name="Task-3", coroutine="Client._heartbeat_once"),
    ),
    "path": (
        {"path": "*/cache/*.db"},
        leak("fd", path="/var/app/cache/index.db", type="file"),
        leak("fd", path="/var/app/cache/index.db-wal", type="file"),
    ),
    "address-remote": (
        {"address": "127.0.0.1:8080"},
        leak("fd", laddr="127.0.0.1:50123", raddr="127.0.0.1:8080", type="socket"),
        leak("fd", laddr="127.0.0.1:50123", raddr="127.0.0.1:8081", type="socket"),
    ),
    "address-local": (
        {"address": "*:5432"},
        leak("fd", laddr="0.0.0.0:5432", type="socket"),
        leak("fd", laddr="0.0.0.0:54321", type="socket"),
    ),
    "cmdline": (
        {"cmdline": "* -m http.server *"},
        leak("process", cmdline=["python", "-m", "http.server", "8000"]),
        leak("process", cmdline=["python", "-m", "http.client", "8000"]),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_matcher_matches_and_a_near_miss_does_not(name: str) -> None:
    matchers, hit, near_miss = CASES[name]
    rule = IgnoreRule("because", **matchers)
    assert rule.matches(hit)
    assert not rule.matches(near_miss)


def test_a_matcher_with_nothing_to_look_at_does_not_match() -> None:
    assert not IgnoreRule("r", path="*").matches(leak("fd", type="socket"))
    assert not IgnoreRule("r", function="*").matches(leak("fd"))  # no origin


def test_all_matchers_must_match() -> None:
    rule = IgnoreRule("r", kind="thread", thread_name="poller-*", function="myapp.pool.*")
    assert rule.matches(leak("thread", POOL, name="poller-2"))
    assert not rule.matches(leak("thread", POOL, name="worker-2"))
    assert not rule.matches(leak("thread", POOLING, name="poller-2"))
    assert not rule.matches(leak("task", POOL, name="poller-2"))


def test_module_names_come_from_the_longest_sys_path_entry() -> None:
    path = ["/srv", "/srv/app", ""]
    assert module_of("/srv/app/myapp/pool.py", path) == "myapp.pool"
    assert module_of("/srv/app/myapp/__init__.py", path) == "myapp"
    assert module_of("/srv/other-app/x.py", path) == "x"  # not an importable name
    assert module_of("/nowhere/pkg/tool.py", ["/srv"]) == "tool"
    assert module_of("/nowhere/pkg/__init__.py", ["/srv"]) == "pkg"
    assert module_of("<frozen importlib._bootstrap>") == "importlib._bootstrap"
    assert module_of("<string>") == "<string>"
    assert module_of(sys.modules["json"].__file__ or "") == "json"


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_rule_needs_a_reason(reason: str) -> None:
    with pytest.raises(ConfigError, match="needs a non-empty 'reason'"):
        IgnoreRule(reason, kind="fd")


def test_from_mapping_names_its_source() -> None:
    with pytest.raises(ConfigError, match=r"^leakwatch: ci.toml rule 3: an ignore rule needs"):
        IgnoreRule.from_mapping({"kind": "fd"}, "ci.toml rule 3")
    with pytest.raises(
        ConfigError, match=r"ci.toml: unknown key 'thread' \(did you mean 'thread_name'\?\)"
    ):
        IgnoreRule.from_mapping({"reason": "r", "thread": "x"}, "ci.toml")
    with pytest.raises(ConfigError, match="'kind' must be one of"):
        IgnoreRule.from_mapping({"reason": "r", "kind": "socket"}, "ci.toml")
    with pytest.raises(ConfigError, match="'path' must be a non-empty glob string, got 3"):
        IgnoreRule.from_mapping({"reason": "r", "path": 3}, "ci.toml")
    with pytest.raises(ConfigError, match="needs a 'kind' or a matcher"):
        IgnoreRule.from_mapping({"reason": "everything"}, "ci.toml")
    rule = IgnoreRule.from_mapping({"reason": "r", "kind": "fd", "path": "/dev/*"}, "ci.toml")
    assert rule == IgnoreRule("r", kind="fd", path="/dev/*")
    assert rule.source == "ci.toml"


def test_ignore_builds_the_same_rule() -> None:
    assert ignore(reason="pool", kind="fd", function="myapp.pool.*") == IgnoreRule(
        "pool", kind="fd", function="myapp.pool.*"
    )
    with pytest.raises(ConfigError, match=r"leakwatch.ignore\(\): an ignore rule needs"):
        ignore(reason="", kind="fd")
    with pytest.raises(ConfigError, match=r"unknown key 'thread' \(did you mean 'thread_name'\?\)"):
        ignore(reason="poller", thread="poller-*")


def test_apply_rules_splits_marks_copies_and_counts() -> None:
    pool = IgnoreRule("pool by design", kind="fd", function="myapp.pool.*")
    broad = IgnoreRule("any fd in myapp", kind="fd", module="myapp.*")
    stale = IgnoreRule("old poller", thread_name="poller-*")
    pooled = leak("fd", POOL, count=3)
    other = leak("fd", POOLING)
    thread = leak("thread", name="worker-1")

    kept, ignored, hits = apply_rules([pooled, other, thread], [pool, broad, stale])

    assert kept == [thread]
    assert [i.details["ignored_because"] for i in ignored] == ["pool by design", "any fd in myapp"]
    assert ignored[0].count == 3 and ignored[0].origin == pooled.origin
    assert "ignored_because" not in pooled.details  # the input is left as it was
    assert hits == {pool: 3, broad: 4, stale: 0}  # a shadowed rule still counts
    assert unmatched([pool, broad, stale], hits) == [stale]


def test_a_leaks_texts_serve_every_rule_asked_about_it_and_no_other_leak(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worked_out: list[Leak] = []
    names_of = ignore_module._CANDIDATES["function"]
    monkeypatch.setitem(
        ignore_module._CANDIDATES,
        "function",
        lambda leak: worked_out.append(leak) or names_of(leak),
    )
    rules = [
        IgnoreRule(glob, kind="fd", function=glob)
        for glob in ("nothing.*", "myapp.pooling.*", "other.*", "myapp.pool.*")
    ]
    pooling, pool = leak("fd", POOLING), leak("fd", POOL)

    kept, ignored, hits = apply_rules([pooling, pool], rules)

    assert worked_out == [pooling, pool]  # once each, for four rules
    assert kept == []
    assert [i.details["ignored_because"] for i in ignored] == ["myapp.pooling.*", "myapp.pool.*"]
    assert list(hits.values()) == [0, 1, 0, 1]  # neither leak took the other's names
    worked_out.clear()
    policy = Policy(tuple(rules[:1]), known=False)
    assert not policy.expected(pooling) and worked_out == [pooling]
    assert Policy(tuple(rules[3:]), known=False).expected(pool)


def test_unmatched_over_a_whole_run() -> None:
    a, b = IgnoreRule("a", kind="fd"), IgnoreRule("b", kind="task")
    _, _, first = apply_rules([leak("fd")], [a, b])
    _, _, second = apply_rules([leak("thread")], [a, b])
    total = {rule: first[rule] + second[rule] for rule in (a, b)}
    assert unmatched([a, b], total) == [b]
    assert unmatched([a, b], {}) == [a, b]


# --- known library leaks ---------------------------------------------------


def test_the_shipped_list_loads_and_every_entry_justifies_itself() -> None:
    known = load_known_leaks(applicable_only=False)
    assert len(known) >= 10
    assert len({k.id for k in known}) == len(known)
    for entry in known:
        assert entry.reason.strip(), entry.id
        assert entry.link.startswith("https://"), entry.id
        assert entry.rule.kind is not None, entry.id
    applicable = load_known_leaks()
    assert {k.id for k in applicable} <= {k.id for k in known}
    assert "pytest-tmp-path" in {k.id for k in applicable}  # pytest is installed here


def test_the_resource_tracker_is_known_and_a_plain_child_is_not() -> None:
    known = load_known_leaks()
    tracker = leak(
        "process",
        cmdline=[sys.executable, "-c", "from multiprocessing.resource_tracker import main;main(5)"],
    )
    child = leak("process", cmdline=[sys.executable, "-c", "import time; time.sleep(9)"])
    kept, matched = apply_known([tracker, child], known)
    assert kept == [child]
    assert len(matched) == 1
    note = matched[0].details["known_because"]
    assert "resource tracker" in note
    assert "https://docs.python.org/3/library/multiprocessing.html" in note
    assert matched[0].details["known_leak"] == "multiprocessing-resource-tracker"


def known_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "known.toml"
    path.write_text('schema = "leakwatch.known/1"\n' + body, encoding="utf-8")
    return path


def entry(id: str, **bounds: str) -> str:
    lines = [f'\n[[known]]\nid = "{id}"\nkind = "thread"\nthread_name = "{id}"']
    lines += [f'{key} = "{value}"' for key, value in bounds.items()]
    lines += ['reason = "r"', 'link = "https://example.org/issue"']
    return "\n".join(lines) + "\n"


def test_version_bounds_decide_which_entries_apply(tmp_path: Path) -> None:
    major = int(importlib.metadata.version("pytest").split(".")[0])
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    path = known_file(
        tmp_path,
        entry("inside", package="pytest", versions=f">={major},<{major + 1}")
        + entry("above", package="pytest", versions=f">={major + 1}")
        + entry("below", package="pytest", versions=f"<{major}")
        + entry("any-version", package="pytest")
        + entry("not-installed", package="leakwatch-no-such-distribution")
        + entry("this-python", python=f"=={running}.*")
        + entry("old-python", python="<3.0"),
    )
    ids = {k.id for k in load_known_leaks(path)}
    assert ids == {"inside", "any-version", "this-python"}
    assert len(load_known_leaks(path, applicable_only=False)) == 7


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[[known]]\nid = "x"\nkind = "fd"\nreason = "r"\n',
            "known #1 (x): needs a non-empty 'link'",
        ),
        ('[[known]]\nid = "x"\nkind = "fd"\nreason = "r"\nlink = "http://a"\n', "https:// URL"),
        (entry("x", package="p", versions="~~1"), "not a version bound: '~~1'"),
        (entry("x", versions=">=1"), "'versions' needs a 'package'"),
        (entry("x") + entry("x"), "duplicate id 'x'"),
        (entry("x").replace('reason = "r"', 'reason = "r"\ncolor = "x"'), "unknown key 'color'"),
    ],
)
def test_a_bad_known_list_is_one_line_naming_the_file(
    tmp_path: Path, body: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_known_leaks(known_file(tmp_path, body))
    assert str(info.value).startswith(f"leakwatch: {tmp_path / 'known.toml'}")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("version", "spec", "expected"),
    [
        ("2.2.9", ">=1.0,<2.3", True),
        ("2.3", ">=1.0,<2.3", False),
        ("2.3.0", "<2.3", False),
        ("0.9", ">=1.0,<2.3", False),
        ("2.3rc1", "<2.3", True),
        ("2.3rc1", ">=2.3", False),
        ("2.3.post1", ">2.3", True),
        ("2.3", "==2.3.0", True),
        ("2.3.1", "!=2.3.1", False),
        ("1.4.7", "~=1.4.2", True),
        ("1.5.0", "~=1.4.2", False),
        ("1.4.1", "~=1.4.2", False),
        ("2.0.1", "==2.*", True),
        ("3.0", "==2.*", False),
        ("3.12.4", "!=3.12.*", False),
        ("3.11.2+local", "<=3.11.2", True),
        ("not-a-version", ">=0", False),
    ],
)
def test_version_in(version: str, spec: str, expected: bool) -> None:
    assert version_in(version, spec) is expected


def test_a_bad_spec_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a version bound"):
        version_in("1.0", ">= one")
    with pytest.raises(ValueError, match=r"'\.\*' only goes with"):
        version_in("1.0", ">=1.*")
