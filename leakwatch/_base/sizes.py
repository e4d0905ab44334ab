"""Sizes for people: the one formatter every text, title and page uses.

::

    format_size(512)          -> "512 B"
    format_size(11_544_951)   -> "11.0 MiB"
    format_size(-3 * 1024)    -> "-3.0 KiB"

The unit is picked per value (B, KiB, MiB, GiB, TiB), so a heap in the KiB
range never reads "0.0 MiB".  Must not know where a size came from.
"""

from __future__ import annotations

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
