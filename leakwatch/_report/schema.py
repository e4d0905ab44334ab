"""The shape of a saved report, checked once where it is read back.

``leakwatch report FILE`` renders what ``leakwatch run --json`` wrote; a file
edited by hand, truncated or written by something else must be one clear
line and exit 2, never a traceback from deep inside a renderer.  So the
document is checked here, whole, before anything renders it: every value a
renderer reads has the type it expects, numbers are finite and of sane
size, nesting is shallow.  Keys leakwatch does not know are left alone
(within the depth and number limits), so newer files still render.

:func:`problem` returns the first problem as ``where: what`` (``leaks[3].count:
expected an integer, got a string``), or None for a good document.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from leakwatch._report.text import escape

#: Deeper than any report leakwatch writes (details hold a few levels).
MAX_DEPTH = 64
#: Integers beyond this are not counts, sizes or line numbers leakwatch writes.
MAX_INT = 2**63
_LEAK_LISTS = ("leaks", "info", "ignored", "known", "baselined")
_DETAIL_TEXT = (
    "held_by",
    "origin_note",
    "ignored_because",
    "known_because",
    "benign",
    "owned_by",
)
_SERIES = ("t", "rss", "fds", "threads", "tasks", "children")


class _Bad(Exception):
    pass


def problem(data: dict[str, Any]) -> str | None:
    """The first way ``data`` is not the leakwatch document its ``schema`` names, or None.

    A document without a schema leakwatch knows is checked as a report.
    """
    try:
        _values(data)
        {
            "leakwatch.session/1": _session,
            "leakwatch.baseline/1": _baseline,
            "leakwatch.requests/1": _requests,
        }.get(str(data.get("schema")), _report)(data)
    except _Bad as bad:
        return str(bad)
    return None


def _name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _fail(where: str, expected: str, value: Any) -> _Bad:
    return _Bad(f"{where or 'the document'}: expected {expected}, got {_name(value)}")


def _values(data: Any) -> None:
    """Depth, integer size and finite numbers over the whole document, without recursion."""
    todo: list[tuple[Any, str, int]] = [(data, "", 0)]
    while todo:
        value, where, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise _Bad(f"{where}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        if isinstance(value, int):
            if abs(value) > MAX_INT:
                raise _Bad(f"{where}: integer out of range")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _Bad(f"{where}: number out of range")
        elif isinstance(value, list):
            todo.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value))
        elif isinstance(value, dict):
            todo.extend((v, _join(where, str(k)), depth + 1) for k, v in value.items())
        else:
            raise _fail(where, "JSON data", value)


def _join(where: str, key: str) -> str:
    """A path into the document, on one line whatever the key holds."""
    if not key.isidentifier():
        key = f"[{escape(repr(key))}]"
        return f"{where}{key}"
    return f"{where}.{key}" if where else key


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _opt(data: dict[str, Any], key: str, where: str, ok: Callable[[Any], bool], what: str) -> Any:
    value = data.get(key)
    if value is not None and not ok(value):
        raise _fail(_join(where, key), what, value)
    return value


def _str(value: Any) -> bool:
    return isinstance(value, str)


def _list_of(data: dict[str, Any], key: str, where: str, each: Callable[[Any, str], None]) -> None:
    value = _opt(data, key, where, lambda v: isinstance(v, list), "a list")
    for i, item in enumerate(value or ()):
        each(item, f"{_join(where, key)}[{i}]")


def _text_item(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise _fail(where, "a string", value)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, "an object", value)
    return value


def _or_empty(value: Any) -> Any:
    return {} if value is None else value


def _report(data: dict[str, Any]) -> None:
    _opt(data, "label", "", _str, "a string")
    _opt(data, "block_failed", "", lambda v: isinstance(v, bool), "true or false")
    for key in _LEAK_LISTS:
        _list_of(data, key, "", _leak)
    _list_of(data, "notes", "", _text_item)
    stats = _object(_or_empty(data.get("stats")), "stats")
    _opt(stats, "trace_mode", "stats", _str, "a string")
    _opt(stats, "growth_measured", "stats", _str, "a string")
    _list_of(stats, "trace_windows", "stats", _window)
    if data.get("program") is not None:
        _program(_object(data["program"], "program"))
    if data.get("timeseries") is not None:
        series = _object(data["timeseries"], "timeseries")
        for key in _SERIES:
            _list_of(series, key, "timeseries", _sample)
    _list_of(data, "growth", "", _site)


def _session(data: dict[str, Any]) -> None:
    def test(value: Any, where: str) -> None:
        entry = _object(value, where)
        if not isinstance(entry.get("nodeid"), str):
            raise _fail(_join(where, "nodeid"), "a string", entry.get("nodeid"))
        for key in ("phase", "judged", "fixture", "scope"):
            _opt(entry, key, where, _str, "a string")
        for key in (*_LEAK_LISTS, "collected", "first_use"):
            _list_of(entry, key, where, _leak)

    _list_of(data, "tests", "", test)
    _object(_or_empty(data.get("summary")), "summary")
    _object(_or_empty(data.get("settings")), "settings")
    _list_of(data, "unmatched_ignore_rules", "", lambda v, w: None)


def _baseline(data: dict[str, Any]) -> None:
    entries = _object(_or_empty(data.get("entries")), "entries")
    for scope, rows in entries.items():
        at = _join("entries", scope)
        if not isinstance(rows, list):
            raise _fail(at, "a list", rows)
        for i, row in enumerate(rows):
            entry = _object(row, f"{at}[{i}]")
            if not isinstance(entry.get("signature"), str):
                raise _fail(_join(f"{at}[{i}]", "signature"), "a string", entry.get("signature"))
            for key in ("kind", "title"):
                _opt(entry, key, f"{at}[{i}]", _str, "a string")


def _requests(data: dict[str, Any]) -> None:
    def route(value: Any, where: str) -> None:
        entry = _object(value, where)
        for key in ("route", "method"):
            _opt(entry, key, where, _str, "a string")
        _opt(entry, "requests", where, lambda v: _is_int(v) and v >= 0, "a count")
        _list_of(entry, "leaks", where, _leak)

    _list_of(data, "routes", "", route)


def _leak(value: Any, where: str) -> None:
    leak = _object(value, where)
    for key in ("kind", "title"):
        if not isinstance(leak.get(key), str):
            raise _fail(_join(where, key), "a string", leak.get(key))
    _opt(leak, "count", where, lambda v: _is_int(v) and v >= 0, "a count (an integer >= 0)")
    _opt(leak, "size", where, lambda v: _is_int(v) and v >= 0, "a size in bytes or null")
    _list_of(leak, "origin", where, _frame)
    details = _object(_or_empty(leak.get("details")), _join(where, "details"))
    at = _join(where, "details")
    for key in _DETAIL_TEXT:
        _opt(details, key, at, _str, "a string")
    _list_of(details, "library_frames", at, _frame_or_text)
    _list_of(details, "items", at, _text_item)
    for key in ("stack", "suspended_at"):
        _list_of(details, key, at, _frame)


def _frame_or_text(value: Any, where: str) -> None:
    """A library frame: a frame object, or ``"file:line in function"`` as
    reports written before frames were stored whole had it."""
    if isinstance(value, str):
        _text_item(value, where)
    else:
        _frame(value, where)


def _frame(value: Any, where: str) -> None:
    frame = _object(value, where)
    if not isinstance(frame.get("filename"), str):
        raise _fail(_join(where, "filename"), "a string", frame.get("filename"))
    if not _is_path(frame["filename"]):
        raise _Bad(f"{_join(where, 'filename')}: not a file name")
    if not _is_int(frame.get("lineno")):
        raise _fail(_join(where, "lineno"), "an integer", frame.get("lineno"))
    _opt(frame, "function", where, _str, "a string")
    _opt(frame, "line", where, _str, "a string")


def _is_path(text: str) -> bool:
    """A name the OS could have given (undecodable bytes as surrogate escapes, no NUL)."""
    try:
        return b"\0" not in os.fsencode(text)
    except (UnicodeError, ValueError):
        return False


def _window(value: Any, where: str) -> None:
    if not (isinstance(value, list) and len(value) == 2 and all(map(_is_num, value))):
        raise _fail(where, "a [start, end] pair of seconds", value)


def _program(program: dict[str, Any]) -> None:
    _list_of(program, "argv", "program", _text_item)
    _opt(program, "exit_status", "program", _is_int, "an integer")
    _opt(program, "duration", "program", _is_num, "seconds")
    for key in ("ended_by", "python", "executable", "cwd"):
        _opt(program, key, "program", _str, "a string")


def _sample(value: Any, where: str) -> None:
    if value is not None and not _is_num(value):
        raise _fail(where, "a number or null", value)


def _site(value: Any, where: str) -> None:
    site = _object(value, where)
    for key in ("filename", "function", "line"):
        _opt(site, key, where, _str, "a string")
    _opt(site, "lineno", where, _is_int, "an integer")
    for key in ("growth", "early_size"):
        _opt(site, key, where, _is_num, "a number")
