"""How leakwatch words things for people, the one place each is done.

::

    format_size(512)          -> "512 B"
    format_size(11_544_951)   -> "11.0 MiB"   (the unit picked per value)
    format_size(-3 * 1024)    -> "-3.0 KiB"
    plural(2, "leak")         -> "2 leaks"
    plural(3, "entry")        -> "3 entries"
    noun("key", 2)            -> "keys"       (the word alone)
    one_line(exc)             -> "ValueError: bad value"  (type and message)
    message_line(exc)         -> "bad value"  (the message's words on one line)
    number(value)             -> a finite float, or None for anything else

A heap in the KiB range never reads "0.0 MiB".  Must not know where a size,
a count or a value came from.
"""

from __future__ import annotations

import math
from typing import Any

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def format_size(size: float, digits: int = 1) -> str:
    """``size`` bytes with the largest binary unit that keeps it at 1 or more,
    with ``digits`` after the point (bytes are whole)."""
    sign, n = ("-" if size < 0 else ""), abs(float(size))
    if round(n) < 1024:
        return f"{sign}{n:.0f} B"
    for unit in _UNITS:
        n /= 1024
        # 1023.96 KiB shows as 1.0 MiB, not "1024.0 KiB".
        if round(n, digits) < 1024 or unit == _UNITS[-1]:
            return f"{sign}{n:.{digits}f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def noun(word: str, n: float) -> str:
    """``word``, or its plural when ``n`` is not one (a consonant's y: -ies)."""
    if abs(n) == 1:
        return word
    if word.endswith("y") and word[-2:-1] not in tuple("aeiou"):
        return word[:-1] + "ies"
    return word + "s"


def plural(n: int, word: str) -> str:
    """``n`` and its noun: "1 leak", "2 leaks"."""
    return f"{n} {noun(word, n)}"


def one_line(exc: BaseException) -> str:
    """The exception's type and its message on one line ("ValueError: bad
    value"), or its type's name alone when it has no message or its text fails."""
    message = _message(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def message_line(exc: BaseException) -> str:
    """The exception's message with its words on one line, or its type's name."""
    return _message(exc) or type(exc).__name__


def _message(exc: BaseException) -> str:
    try:
        return " ".join(str(exc).split())
    except Exception:
        return ""


def number(value: Any) -> float | None:
    """A number read back from a document: a finite int or float (never a
    bool) as a float, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
