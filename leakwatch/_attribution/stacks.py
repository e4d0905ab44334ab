"""Creation stacks: captured cheaply as raw tuples, turned into Frames only for leaks.

A raw stack is a tuple of ``(filename, lineno, function)`` triples, innermost
first, exactly as the frames were walked.  Formatting (source lines, dropping
leakwatch's own frames, folding stdlib) happens only for what leaked.

Must not keep a frame object: only plain strings and ints leave it.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import itertools
import linecache
import sys
import threading
from collections.abc import Iterable, Sequence
from types import CodeType, FrameType
from typing import Any

from leakwatch._base.frames import Frame, Origin
from leakwatch._base.paths import PACKAGE_DIR, is_own, is_user_file

RawFrame = tuple[str, int, str]


RawStack = tuple[RawFrame, ...]


DEFAULT_DEPTH = 32


#: The code of a frame past which a stack is the host's machinery, never the
#: user's (see :func:`stop_at`).
_stop: CodeType | None = None


def stop_at(code: CodeType | None) -> CodeType | None:
    """Stop every capture at a frame running ``code``, and keep none past it;
    return the code it stopped at before (to put back).

    The pytest plugin passes pluggy's hook dispatcher: whatever a test or a
    fixture makes, the frames past the innermost dispatch are pytest's own
    runner (twenty and more of them), read for every record and never shown.
    ``leakwatch run`` passes the function that runs the program: whatever
    started leakwatch (a console script, ``python -m``, a CI wrapper) is not
    the program's, and a stack that named it would not match the same leak's
    stack on another machine.
    """
    global _stop
    previous, _stop = _stop, code
    return previous


def capture(frame: FrameType | None = None, limit: int = DEFAULT_DEPTH) -> RawStack:
    """Walk the current stack (innermost first), skipping leakwatch's frames."""
    f: FrameType | None = frame if frame is not None else sys._getframe(1)
    out: list[RawFrame] = []
    stop = _stop
    while f is not None and len(out) < limit:
        code = f.f_code
        if code is stop:
            break
        filename = code.co_filename
        if not filename.startswith(PACKAGE_DIR):
            out.append((filename, f.f_lineno, code.co_name))
        f = f.f_back
    return tuple(out)


#: module name -> whether its code is the user's (None: leakwatch's own), for
#: :func:`user_code_inside`; bounded.
_user_modules: dict[str, bool | None] = {}
_UNKNOWN: Any = object()


def user_code_inside(frame: FrameType | None, limit: int = DEFAULT_DEPTH) -> bool:
    """Whether the user's code runs on the stack from ``frame`` down to the
    first of leakwatch's frames under it (in a service, the middleware's:
    where a sampled request began), reading no line number.

    A frame is judged by its module (its globals' ``__name__``), not by its
    code object: reading ``frame.f_code`` raises an audit event, and with
    leakwatch's audit hook installed that is a call into Python per frame
    (it doubled the walk).  Code that runs in globals that are not its
    module's own (``exec`` in a namespace of its own) is judged by its code.

    Every sampled request's server timer is asked this (a walk of a dozen
    and more frames of the server and the framework), so the walk is two
    plain loops that read each frame's module name straight from the table
    of known modules; the first module not in it, or a namespace that is not
    a module's, sends the rest of the walk through :func:`_walk`, which
    classifies it and fills the table.
    """
    if limit < 1:
        return False
    known = _user_modules
    f = frame
    n = 0
    entered = False  # past leakwatch's own frames at the top (hooks, wrappers)
    try:
        user = known[f.f_globals["__name__"]]  # type: ignore[union-attr]
        while user is None:
            f = f.f_back  # type: ignore[union-attr]
            user = known[f.f_globals["__name__"]]  # type: ignore[union-attr]
        entered = True
        if user is not False:
            return user is True
        for n in range(1, limit):  # noqa: B007 (frames looked at: read in the except)
            f = f.f_back  # type: ignore[union-attr]
            user = known[f.f_globals["__name__"]]  # type: ignore[union-attr]
            if user is not False:  # the user's, or leakwatch's own under it
                return user is True
        return False
    except (KeyError, TypeError, AttributeError):
        # A module not in the table yet, a namespace that is not a module's
        # (no ``__name__``, or not a string), or the stack's end (``None``).
        return _walk(f, limit, n, entered)


def _walk(f: FrameType | None, limit: int, n: int, entered: bool) -> bool:
    """:func:`user_code_inside` from frame ``f`` on, ``n`` frames counted
    already, classifying modules the table does not know yet."""
    known = _user_modules
    while f is not None and n < limit:
        g = f.f_globals
        name = g.get("__name__")
        if name.__class__ is not str:
            name = ""  # no module's namespace: asked of the code below
        user = known.get(name, _UNKNOWN)
        if user is _UNKNOWN:
            module = sys.modules.get(name) if name else None
            if module is not None and getattr(module, "__dict__", None) is g:
                user = _module_kind(module)
                if len(known) >= 4096:
                    known.clear()
                known[name] = user
            else:  # not a module's own namespace: ask the code itself
                filename = f.f_code.co_filename
                user = None if is_own(filename) else is_user_file(filename)
        if user is None:  # leakwatch's own frame
            if entered:
                return False
        else:
            entered = True
            n += 1
            if user:
                return True
        f = f.f_back
    return False


def _module_kind(module: object) -> bool | None:
    """None for leakwatch's own modules (as :func:`capture` tells its own
    frames), else whether the module is the user's."""
    filename = getattr(module, "__file__", None)
    if not isinstance(filename, str):
        return False
    return None if is_own(filename) else is_user_file(filename)


def stack_of_frame(frame: FrameType | None, limit: int = DEFAULT_DEPTH) -> RawStack:
    """The raw stack of a live frame (say, where a thread is blocked)."""
    return capture(frame, limit) if frame is not None else ()


def has_user_frame(raw: RawStack) -> bool:
    return any(is_user_file(f[0]) for f in raw)


def during_import(raw: RawStack) -> bool:
    """Created while a module was being imported: one-time initialisation."""
    return any(f[0].startswith("<frozen importlib._bootstrap") for f in raw)


def to_origin(raw: RawStack, parent: RawStack = (), thread: str = "") -> Origin:
    """Frames oldest first, creating line last, with source lines.

    ``parent`` is the stack that started the thread or task this stack ran
    in; it is put in front when the stack itself never reaches user code, so
    a socket opened inside a library's worker thread still points at the
    user's line that started the worker.  The first frame of the thread's
    own stack is then marked (``Frame.thread``: the thread's name, ``thread``,
    "" when not known), so a report can tell "made in thread 'server' at
    socketserver.py" from "thread started at conftest.py".
    """
    glued = bool(parent) and not has_user_frame(raw)
    before = _frames(reversed(parent)) if glued else []
    own = _frames(reversed(raw))
    if glued and own:
        own[0] = dataclasses.replace(own[0], thread=thread)
    return tuple(before + own)


def _frames(raw: Iterable[RawFrame]) -> list[Frame]:
    return [
        Frame(filename, lineno, function, source_line(filename, lineno))
        for filename, lineno, function in raw
        if not is_own(filename) and not filename.startswith("<frozen importlib")
    ]


def thread_name(ident: int, started: Iterable[threading.Thread] = ()) -> str:
    """The name of thread ``ident``: a running thread, else one of ``started``; else ""."""
    if ident:
        for thread in itertools.chain(threading.enumerate(), started):
            if thread.ident == ident:
                return thread.name
    return ""


#: Source lines leakwatch read, by file: its own, never left in ``linecache``
#: (bounded; the oldest file goes first).
_SOURCES: dict[str, list[str]] = {}
_SOURCES_MAX = 256


def source_lines(filename: str) -> list[str]:
    """The lines of ``filename`` as ``linecache`` finds them (a path, a
    module's loader), leaving ``linecache`` as it was.

    A file that is in ``linecache``'s cache is checked again (one ``os.stat``)
    every time a traceback is taken that passes through it, and asyncio in
    debug mode takes one for every callback and task: leakwatch reading a
    report's lines through it would slow the watched program from then on.
    """
    lines = _SOURCES.get(filename)
    if lines is not None:
        return lines
    cache = linecache.cache
    entry = cache.get(filename)
    if entry is not None and len(entry) == 4:  # the host's own, read: share it
        return entry[2]
    lines = linecache.getlines(filename)
    if cache.get(filename) is not entry:  # read now, for leakwatch alone
        if entry is None:
            cache.pop(filename, None)
        else:
            cache[filename] = entry  # the lazy entry the host had
    if len(_SOURCES) >= _SOURCES_MAX:
        del _SOURCES[next(iter(_SOURCES))]
    _SOURCES[filename] = lines
    return lines


def source_line(filename: str, lineno: int) -> str:
    """Line ``lineno`` of ``filename``, stripped ("" when not known)."""
    lines = source_lines(filename)
    return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""


def tracemalloc_origin(frames: Iterable[tuple[str, int]]) -> Origin:
    """A tracemalloc traceback (most recent first) as an origin (oldest first)."""
    raw = tuple((fn, ln, enclosing_function(fn, ln)) for fn, ln in frames)
    return to_origin(raw)


def coroutine_origin(cr_origin: Sequence[tuple[str, int, str]] | None) -> Origin:
    """``coroutine.cr_origin`` (innermost first) as an origin."""
    return to_origin(tuple(cr_origin or ()))


def user_frames(origin: Sequence[Frame]) -> list[Frame]:
    return [f for f in origin if is_user_file(f.filename)]


@functools.lru_cache(maxsize=256)
def _function_spans(filename: str) -> tuple[tuple[int, int, str], ...]:
    source = "".join(source_lines(filename))
    if not source:
        return ()
    try:
        tree = ast.parse(source, filename)
    except (SyntaxError, ValueError):
        return ()
    spans: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    spans.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return tuple(spans)


def enclosing_function(filename: str, lineno: int) -> str:
    """The innermost function around a line (tracemalloc gives no names)."""
    best = "<module>"
    best_size = sys.maxsize
    for start, end, name in _function_spans(filename):
        if start <= lineno <= end and end - start < best_size:
            best, best_size = name.rsplit(".", 1)[-1], end - start
    return best
