"""The text report a person reads: a pure function of a Report.

::

    leakwatch: 2 leaks in tests/test_api.py::test_upload

      fd      socket 127.0.0.1:50123 -> 127.0.0.1:8080 (fd 7)              x1
              created at app/client.py:40 in connect
                  s = socket.create_connection(addr)
              held by app.client.POOL['main'] -> Conn._sock

      fd      socket 127.0.0.1:8080 -> 127.0.0.1:50124 (fd 9)               x1
              accepted in thread 'server' at socketserver.py:507 in get_request
                  return self.socket.accept()
              thread started at tests/conftest.py:40 in server
                  thread.start()

User frames come first; stdlib and site-packages frames are folded (shown
with ``verbose``).  Control characters, lone surrogates and bidirectional
overrides from paths, thread names and reprs are shown escaped (``\\x1b``),
never sent to the terminal: see :func:`escape`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from leakwatch._base.frames import read_library_frames, short_path
from leakwatch._base.paths import is_user_file
from leakwatch._base.wording import plural

if TYPE_CHECKING:
    from leakwatch._base.frames import Frame
    from leakwatch._base.model import Leak
    from leakwatch._report.report import Report

_INDENT = " " * 11
# C0 and C1 controls but the newline, DEL, lone surrogates (undecodable bytes
# in a path), and the format characters that reorder or hide text on screen.
_UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` safe to print: unsafe characters as ``\\x1b`` / ``\\udcff`` escapes.

    Newlines are kept (the caller's own layout); nothing else changes, so
    escaping twice is escaping once.
    """
    return _UNSAFE.sub(_escaped, text)


_HOW_TO_TRACE = {
    "heap": "creation stacks need tracemalloc: leakwatch starts it inside watched blocks",
    "task": "task creation sites need coroutine origin tracking, on inside watched blocks",
}


def format_frames(
    origin: Sequence[Frame], *, verbose: bool = False, verb: str = "created at"
) -> list[str]:
    """Creation stack lines: the innermost user frame first, then its callers."""
    if not origin:
        return []
    users = [i for i, f in enumerate(origin) if is_user_file(f.filename)]
    lines: list[str] = []
    if verbose or not users:
        shown = list(range(len(origin)))[::-1][:12]
    else:
        shown = users[::-1][:4]
    first = True
    for i in shown:
        f = origin[i]
        lead = verb if first else "called from"
        lines.append(f"{_INDENT}{lead} {short_path(f.filename)}:{f.lineno} in {f.function}")
        if f.line:
            lines.append(f"{_INDENT}    {f.line}")
        first = False
    hidden = len(origin) - len(shown)
    if hidden > 0 and not verbose:
        innermost = origin[-1]
        if users and users[-1] != len(origin) - 1:
            via = f"{short_path(innermost.filename)}:{innermost.lineno} in {innermost.function}"
            lines.insert(2 if origin[users[-1]].line else 1, f"{_INDENT}    -> {via}")
        them = "it" if hidden == 1 else "them"
        lines.append(f"{_INDENT}({plural(hidden, 'library frame')} folded; -v shows {them})")
    return lines


def library_path(filename: str) -> str:
    """A library file as a person names it: ``socketserver.py``, ``urllib3/connection.py``.

    Relative to the current directory when below it, else to the longest
    ``sys.path`` entry it lies below; else as it is.
    """
    short = short_path(filename)
    if short != filename:
        return short
    best = ""
    for entry in sys.path:
        root = os.path.join(os.path.abspath(entry or "."), "")
        if filename.startswith(root) and len(root) > len(best):
            best = root
    return filename[len(best) :] if best else filename


def _library_lines(leak: Leak, verbose: bool) -> list[str]:
    tail = [f"{library_path(f.filename)}:{f.lineno} in {f.function}" for f in leak.library_frames]
    if not tail:
        return []
    if verbose:
        return [f"{_INDENT}    -> {t}" for t in tail]
    return [
        f"{_INDENT}    -> {tail[0]}"
        + (f" (+{plural(len(tail) - 1, 'library frame')})" if len(tail) > 1 else "")
    ]


def _made_in_thread_lines(leak: Leak) -> list[str]:
    """``accepted in thread 'server' at socketserver.py:507 in get_request``."""
    name = leak.details.get("made_in_thread")
    made_at = read_library_frames({"library_frames": leak.details.get("made_at")})
    if name is None or not made_at:
        return []
    verb = "accepted" if any(f.function == "accept" for f in made_at) else "made"
    who = f"thread {name!r}" if name else "another thread"
    at = made_at[0]
    where = f"{library_path(at.filename)}:{at.lineno} in {at.function}"
    lines = [f"{_INDENT}{verb} in {who} at {where}"]
    if at.line:
        lines.append(f"{_INDENT}    {at.line}")
    return lines


def format_leak(leak: Leak, *, verbose: bool = False) -> list[str]:
    count = f"x{leak.count}"
    head = f"  {leak.kind:<9}{leak.title}"
    lines = [f"{head}  {count}" if len(head) > 70 else f"{head:<72}{count}"]
    made = _made_in_thread_lines(leak)
    if leak.origin and made:
        # Made by another thread: where it was made first, then the user's
        # line, which started that thread (not the line that made it).
        lines.extend(made)
        lines.extend(format_frames(leak.origin, verbose=verbose, verb="thread started at"))
        if verbose:
            lines.append(f"{_INDENT}library frames, the thread's own last:")
            lines.extend(_library_lines(leak, verbose))
    elif leak.origin:
        frames = format_frames(leak.origin, verbose=verbose)
        # The library calls below the creating line go right under it.
        at = 2 if frames[1:2] and not frames[1].lstrip().startswith("called from") else 1
        frames[at:at] = _library_lines(leak, verbose)
        lines.extend(frames)
    else:
        why = leak.details.get("origin_note") or _HOW_TO_TRACE.get(leak.kind)
        lines.append(f"{_INDENT}creation not seen" + (f": {why}" if why else ""))
    details = leak.details
    if details.get("native_frames") or details.get("native_note"):
        from leakwatch._report.native import text_lines

        lines.extend(text_lines(details, verbose=verbose))
    if details.get("held_by"):
        lines.append(f"{_INDENT}held by {details['held_by']}")
    if details.get("owned_by") and not details.get("benign"):
        lines.append(f"{_INDENT}part of {details['owned_by']}")
    if "made_in_thread" in details and not made:
        name = details["made_in_thread"]
        who = f"thread {name!r}" if name else "another thread, ended since"
        lines.append(f"{_INDENT}made in {who}, not the test's own")
    stack = details.get("stack") or details.get("suspended_at")
    if stack and verbose:
        lines.append(f"{_INDENT}now at:")
        for fr in stack[-6:]:
            lines.append(
                f"{_INDENT}  {short_path(fr['filename'])}:{fr['lineno']} in {fr['function']}"
            )
    for key in ("ignored_because", "known_because", "benign", "first_made_by"):
        if details.get(key):
            lines.append(f"{_INDENT}{key.replace('_', ' ')}: {details[key]}")
    if leak.count > 1 and verbose:
        for title in details.get("items", [])[1:10]:
            lines.append(f"{_INDENT}also: {title}")
    return [escape(line) for line in lines]


def location(leak: Leak) -> str:
    """``file.py:LINE`` of the innermost user frame of the leak's origin."""
    frames = [f for f in leak.origin if is_user_file(f.filename)] or list(leak.origin)
    if not frames:
        return ""
    frame = frames[-1]
    return f"{short_path(frame.filename)}:{frame.lineno}"


def created_at(leak: Leak) -> str:
    """``, created at file.py:LINE`` for a one-line form, or nothing.

    Named, never a bare "at": a title may say where a thread waits or a task
    is suspended, and a second "at" would read as the same place."""
    where = location(leak)
    if not where:
        return ""
    if leak.details.get("made_at"):  # the user's line started the thread that made it
        name = leak.details.get("made_in_thread")
        thread = f"thread {name!r}" if name else "a thread"
        return f", made in {thread} started at {where}"
    return f", created at {where}"


def format_report(report: Report, *, verbose: bool = False, color: bool = False) -> str:
    where = f" in {report.label}" if report.label else ""
    total = sum(leak.count for leak in report.leaks)
    if report.leaks:
        head = f"leakwatch: {plural(total, 'leak')}{where}"
    else:
        head = f"leakwatch: no leaks{where}"
    if report.block_failed:
        why = report.stats.get("not_judged") or "it raised"
        head += f" ({why}: reported, not judged)"
    lines = [head]
    for leak in report.leaks:
        lines.append("")
        lines.extend(format_leak(leak, verbose=verbose))
    sections = (
        ("known library leaks (not failing)", report.known),
        ("ignored by rules", report.ignored),
        ("in the baseline (not failing)", report.baselined),
        ("information (not judged a leak)", report.info),
    )
    for title, leaks in sections:
        if not leaks:
            continue
        lines += ["", f"  {title}:"]
        for leak in leaks[: None if verbose else 5]:
            lines.extend(format_leak(leak, verbose=verbose))
        if not verbose and len(leaks) > 5:
            lines.append(f"  ... {len(leaks) - 5} more (-v shows them)")
    for note in report.notes:
        lines.append(f"  note: {note}")
    return escape("\n".join(lines))
