"""Ignore rules, and the shipped list of known library leaks.

A rule says "this leftover is expected, and here is why".  In a config file::

    [[tool.leakwatch.ignore]]
    reason = "the pool keeps one warm connection by design"
    kind = "fd"
    function = "myapp.pool.*"

or in code: ``leakwatch.ignore(reason="...", kind="thread", thread_name="poller-*")``.

Every matcher given must match (AND); each is a glob (``fnmatch``, case-sensitive,
``*`` also crosses ``/`` and ``.``)::

    kind         the kind, exactly: fd, thread, task, process, tempfile, heap, native, state
    function     a frame of the creation stack (the origin and the library
                 frames below the user's line): connect, myapp.pool.connect,
                 myapp.pool:connect and /srv/myapp/pool.py:connect all name it
    module       a frame of the creation stack: its dotted module or its file name
    current      a frame of the current stack (a thread's stack, a task's
                 suspended_at), named as for function; or the thread's target
    thread_name  the thread's name
    task_name    the task's name, or its coroutine's qualified name
    path         the file, directory or device path (fd, tempfile)
    address      a socket's local or remote host:port
    cmdline      a child process's command line, joined with spaces

A frame's module is derived from its file name: the longest ``sys.path`` entry
it lies below, ``.py`` and ``__init__`` dropped, slashes made dots; else the
file's stem.  :func:`apply_rules` splits leaks into kept and ignored (copies,
with ``details["ignored_because"]``) and counts hits per rule, so that
:func:`unmatched` can name the rules that matched nothing in a whole run.

Known library leaks (``known_leaks.toml``) are rules with a ``link`` to the
upstream explanation: see :mod:`leakwatch._rules.known`.  This module must
not decide what fails: the policy does.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leakwatch._base.frames import Frame
from leakwatch._base.model import KINDS, Leak
from leakwatch._report.errors import ConfigError
from leakwatch._rules.reading import suggest

__all__ = [
    "IgnoreRule",
    "Texts",
    "apply_rules",
    "ignore",
    "module_of",
    "unmatched",
]


@dataclass(frozen=True)
class IgnoreRule:
    """A reason and globs on a leak's kind, stacks and details; all must match."""

    reason: str
    kind: str | None = None
    function: str | None = None
    module: str | None = None
    current: str | None = None
    thread_name: str | None = None
    task_name: str | None = None
    path: str | None = None
    address: str | None = None
    cmdline: str | None = None
    #: Where the rule was written, for messages; not part of its identity.
    source: str = field(default="leakwatch.ignore()", compare=False)

    def __post_init__(self) -> None:
        def fail(message: str) -> ConfigError:
            return ConfigError(f"leakwatch: {self.source}: {message}")

        if not isinstance(self.reason, str) or not self.reason.strip():
            raise fail("an ignore rule needs a non-empty 'reason'")
        if self.kind is not None and self.kind not in KINDS:
            raise fail(f"'kind' must be one of {', '.join(KINDS)}, got {self.kind!r}")
        for name in MATCHERS:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise fail(f"{name!r} must be a non-empty glob string, got {value!r}")
        if self.kind is None and not any(getattr(self, name) for name in MATCHERS):
            raise fail("an ignore rule needs a 'kind' or a matcher: " + ", ".join(MATCHERS))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str) -> IgnoreRule:
        """A rule from a config table; unknown keys are a :class:`ConfigError`."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"leakwatch: {source}: an ignore rule must be a table")
        allowed = ("reason", "kind", *MATCHERS)
        for key in data:
            if key not in allowed:
                hint = suggest(str(key), allowed)
                raise ConfigError(f"leakwatch: {source}: unknown key {key!r}{hint}")
        if "reason" not in data:
            raise ConfigError(f"leakwatch: {source}: an ignore rule needs a non-empty 'reason'")
        return cls(**dict(data), source=source)

    def to_dict(self) -> dict[str, str]:
        data = {"reason": self.reason, "kind": self.kind}
        data.update({name: getattr(self, name) for name in MATCHERS})
        return {key: value for key, value in data.items() if value is not None}

    def __str__(self) -> str:
        globs = " ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "reason")
        return f"{globs} ({self.reason}) [{self.source}]"

    def matches(self, leak: Leak, texts: Texts | None = None) -> bool:
        """Whether every glob matches; ``texts``: the leak's, shared by the
        rules asked about it (else worked out for this rule alone)."""
        if self.kind is not None and leak.kind != self.kind:
            return False
        if texts is None:
            texts = Texts(leak)
        for name in MATCHERS:
            glob = getattr(self, name)
            # Most rules fail on their first matcher.
            if glob is not None and not any(map(_glob(glob), texts(name))):
                return False
        return True


@functools.lru_cache(maxsize=1024)
def _glob(glob: str) -> Callable[[str], object]:
    """``fnmatch.fnmatchcase`` against ``glob``, compiled once for every text tried."""
    return re.compile(fnmatch.translate(glob)).match


class Texts:
    """A leak's candidate texts for each matcher, worked out on first use and
    kept for the other rules asked about the same leak (a policy asks some
    twenty: each frame's module name costs a walk of ``sys.path``)."""

    __slots__ = ("_leak", "_made")

    def __init__(self, leak: Leak) -> None:
        self._leak = leak
        self._made: dict[str, tuple[str, ...]] = {}

    def __call__(self, matcher: str) -> tuple[str, ...]:
        made = self._made.get(matcher)
        if made is None:
            made = self._made[matcher] = tuple(_CANDIDATES[matcher](self._leak))
        return made


#: The matcher fields of a rule, in the order they are tried.
MATCHERS = tuple(
    f.name for f in dataclasses.fields(IgnoreRule) if f.name not in ("reason", "kind", "source")
)


def ignore(reason: str, **matchers: str) -> IgnoreRule:
    """An ignore rule for ``watch(ignore=[...])`` and friends, checked at once.

    ``matchers`` are those of :class:`IgnoreRule`: ``kind``, ``function``,
    ``module``, ``current``, ``thread_name``, ``task_name``, ``path``,
    ``address``, ``cmdline``.
    """
    return IgnoreRule.from_mapping({"reason": reason, **matchers}, "leakwatch.ignore()")


def apply_rules(
    leaks: Sequence[Leak], rules: Sequence[IgnoreRule]
) -> tuple[list[Leak], list[Leak], dict[IgnoreRule, int]]:
    """Split ``leaks`` into (kept, ignored, hits).

    Ignored leaks are copies with ``details["ignored_because"]`` set to the
    first matching rule's reason.  ``hits`` has every rule, with the number of
    leaked things (``Leak.count``) it matched; a rule shadowed by an earlier
    one still counts, so it is not reported as stale.
    """
    hits = dict.fromkeys(rules, 0)
    kept: list[Leak] = []
    ignored: list[Leak] = []
    for leak in leaks:
        texts = Texts(leak)
        matched = [rule for rule in hits if rule.matches(leak, texts)]
        for rule in matched:
            hits[rule] += leak.count
        if matched:
            ignored.append(_annotated(leak, "ignored_because", matched[0].reason))
        else:
            kept.append(leak)
    return kept, ignored, hits


def unmatched(rules: Sequence[IgnoreRule], hits: Mapping[IgnoreRule, int]) -> list[IgnoreRule]:
    """The rules that matched nothing: stale, worth deleting.  Sum ``hits`` over a run first."""
    return [rule for rule in dict.fromkeys(rules) if not hits.get(rule)]


def module_of(filename: str, path: Sequence[str] | None = None) -> str:
    """The dotted module a file name stands for, given ``path`` (default ``sys.path``).

    ``/venv/site-packages/urllib3/connection.py`` -> ``urllib3.connection``;
    a file below no entry -> its stem; ``<frozen os>`` -> ``os``.
    """
    entries = tuple(sys.path if path is None else path)
    # The cwd is part of the key because "" in sys.path means the cwd.
    return _module_of(filename, entries, os.getcwd())


@functools.lru_cache(maxsize=4096)
def _module_of(filename: str, path_entries: tuple[str, ...], cwd: str) -> str:
    if filename.startswith("<frozen ") and filename.endswith(">"):
        return filename[len("<frozen ") : -1]
    if filename.startswith("<"):  # <string>, <stdin>: nothing to derive
        return filename
    full = os.path.normpath(os.path.join(cwd, filename))
    best = ""
    for entry in path_entries:
        root = os.path.join(os.path.normpath(os.path.join(cwd, entry)), "")
        if full.startswith(root) and len(root) > len(best):
            best = root
    stem = os.path.splitext(os.path.basename(full))[0]
    if stem == "__init__":  # a package stands for its directory
        stem = os.path.basename(os.path.dirname(full)) or stem
    if not best:
        return stem
    parts = os.path.splitext(full[len(best) :])[0].split(os.sep)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts) if all(p.isidentifier() for p in parts) else stem


def _names(filename: str, function: str) -> Iterator[str]:
    module = module_of(filename)
    yield function
    yield f"{module}.{function}"
    yield f"{module}:{function}"
    yield f"{filename}:{function}"
    yield f"{os.path.basename(filename)}:{function}"


def _frame_names(origin: Sequence[Frame]) -> Iterator[str]:
    for frame in origin:
        yield from _names(frame.filename, frame.function)


def _frame_modules(origin: Sequence[Frame]) -> Iterator[str]:
    for frame in origin:
        yield module_of(frame.filename)
        yield frame.filename


def _current_names(details: Mapping[str, Any]) -> Iterator[str]:
    stack = details.get("stack") or details.get("suspended_at") or ()
    for frame in stack:
        if isinstance(frame, Frame):
            yield from _names(frame.filename, frame.function)
        elif isinstance(frame, Mapping):
            yield from _names(str(frame.get("filename", "")), str(frame.get("function", "?")))
    yield from _texts(details, "target")


def _texts(details: Mapping[str, Any], *keys: str) -> tuple[str, ...]:
    return tuple(str(details[k]) for k in keys if details.get(k) is not None)


def _cmdline(details: Mapping[str, Any]) -> tuple[str, ...]:
    cmdline = details.get("cmdline")
    if isinstance(cmdline, (list, tuple)):
        return (" ".join(str(part) for part in cmdline),)
    return () if cmdline is None else (str(cmdline),)


def _thread_names(leak: Leak) -> tuple[str, ...]:
    return _texts(leak.details, "name") if leak.kind == "thread" else ()


def _task_names(leak: Leak) -> tuple[str, ...]:
    return _texts(leak.details, "name", "coroutine") if leak.kind == "task" else ()


#: For each matcher, the texts of a leak its glob is tried against.
_CANDIDATES: dict[str, Callable[[Leak], Iterable[str]]] = {
    # The whole creation stack: a rule naming a library function must match
    # although the frames below the user's line are kept apart from the origin.
    "function": lambda leak: _frame_names(leak.creation_stack),
    "module": lambda leak: _frame_modules(leak.creation_stack),
    "current": lambda leak: _current_names(leak.details),
    "thread_name": _thread_names,
    "task_name": _task_names,
    "path": lambda leak: _texts(leak.details, "path"),
    "address": lambda leak: _texts(leak.details, "laddr", "raddr"),
    "cmdline": lambda leak: _cmdline(leak.details),
}


def _annotated(leak: Leak, key: str, note: str, **more: Any) -> Leak:
    return dataclasses.replace(leak, details={**leak.details, key: note, **more})
