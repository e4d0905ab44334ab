"""Native frames in the text and HTML reports: pure functions of a leak's details.

``details["native_frames"]`` holds the allocation's native stack, innermost
first (``malloc`` called by the extension's function, called by the
interpreter); ``details["native_shown"]`` how many of them are the
extension's own, shown by default.  The interpreter frames below them are
folded (text: ``-v`` shows them; HTML: a fold).

Must not read memray or the allocator: only the details it is given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_INDENT = " " * 11
_MAX = 40


def _frames(details: Mapping[str, Any]) -> tuple[list[tuple[str, str, str]], int]:
    raw = details.get("native_frames") or []
    frames = []
    for f in raw if isinstance(raw, Sequence) else ():
        if isinstance(f, Mapping):
            frames.append(
                (str(f.get("function", "?")), str(f.get("filename", "?")), str(f.get("lineno", "")))
            )
        else:
            frames.append(
                (
                    str(getattr(f, "function", "?")),
                    str(getattr(f, "filename", "?")),
                    str(getattr(f, "lineno", "")),
                )
            )
    shown = details.get("native_shown")
    return frames, int(shown) if isinstance(shown, int) and shown > 0 else len(frames)


def _where(filename: str, lineno: str) -> str:
    if filename in ("", "?", "<unknown>"):
        return "?"
    name = os.path.basename(filename) or filename
    return f"{name}:{lineno}" if lineno not in ("", "0") else name


def text_lines(details: Mapping[str, Any], *, verbose: bool = False) -> list[str]:
    """Lines under a leak's origin: the native frames, then how to see more."""
    frames, shown = _frames(details)
    lines: list[str] = []
    if frames:
        count = len(frames) if verbose else shown
        lines.append(f"{_INDENT}native frames (innermost first):")
        for function, filename, lineno in frames[: min(count, _MAX)]:
            lines.append(f"{_INDENT}    {function} at {_where(filename, lineno)}")
        hidden = len(frames) - count
        if hidden > 0:
            what = (
                "interpreter frame folded; -v shows it"
                if hidden == 1
                else ("interpreter frames folded; -v shows them")
            )
            lines.append(f"{_INDENT}    ({hidden} {what})")
    note = details.get("native_note")
    if note:
        lines.append(f"{_INDENT}{note}")
    return lines


def html(details: Mapping[str, Any], escape: Callable[[Any], str]) -> str:
    """The native frames as a stack, the interpreter's folded."""
    frames, shown = _frames(details)
    note = details.get("native_note")
    out = ""
    if frames:

        def row(f: tuple[str, str, str], cls: str) -> str:
            function, filename, lineno = f
            loc = f"{filename}:{lineno}" if lineno not in ("", "0") else filename
            return (
                f'<li class="{cls}"><span class="fn">{escape(function)}</span> '
                f'<span class="loc">{escape(loc)}</span></li>'
            )

        rows = "".join(
            row(f, "user here" if i == 0 else "user") for i, f in enumerate(frames[:shown])
        )
        rest = frames[shown:_MAX]
        folded = ""
        if rest:
            inner = "".join(row(f, "lib") for f in rest)
            folded = (
                f'<details class="fold"><summary>{len(frames) - shown} interpreter frames</summary>'
                f'<ol class="stack">{inner}</ol></details>'
            )
        out = f'<h3>Native frames</h3><ol class="stack">{rows}</ol>{folded}'
    if note:
        out += f'<p class="dim">{escape(note)}</p>'
    return out
