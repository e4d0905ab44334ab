"""The HTML report's safe pieces: escaping, numbers read from untrusted data, cards.

The data may come from a saved JSON file, so nothing in it is trusted: every
string goes through :func:`esc` and every number through
:func:`~leakwatch._base.wording.number`, and
every list is capped (``MAX_*``).  Must not know the page's layout.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from leakwatch._base.wording import format_size, number
from leakwatch._report.text import escape

#: Caps that keep the page of a pathological run small enough to open.
MAX_ROWS = 200


MAX_FRAMES = 40


MAX_ITEMS = 50


MAX_POINTS = 600


MAX_TEXT = 2000


_MIB = 1024 * 1024


def card(title: str, body: str) -> str:
    return f'<section><h2>{title}</h2><div class="card">{body}</div></section>\n'


def _kv(mapping: Mapping[Any, Any]) -> str:
    rows = list(mapping.items())
    cells = "".join(
        f"<dt>{esc(k)}</dt><dd><code>{esc(_text(v))}</code></dd>" for k, v in rows[:MAX_ROWS]
    )
    return f'<dl class="kv">{cells}</dl>{_more(len(rows), "entries")}'


def _more(total: int, what: str, cap: int = MAX_ROWS) -> str:
    return f'<p class="more">+{total - cap:,} more {what} not shown</p>' if total > cap else ""


def _text(value: Any) -> str:
    """A details value as text: strings as they are, the rest as JSON; capped."""
    text = value if isinstance(value, str) else json.dumps(value, default=repr, ensure_ascii=False)
    if len(text) <= MAX_TEXT:
        return text
    return f"{text[:MAX_TEXT]}… (+{len(text) - MAX_TEXT:,} characters)"


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _int(value: Any, default: int) -> int:
    value = number(value)
    return default if value is None else int(value)


def _size(n: float | None) -> str:
    """Bytes for a person (512 B, 1.5 KiB, 12.0 MiB), or a dash for no number."""
    return "—" if n is None else format_size(n)


def _plain(n: float) -> str:
    return f"{round(n):,}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {sec:02d} s"


def _site(filename: str, lineno: Any, function: Any, line: Any) -> str:
    loc = f"{filename}:{lineno}" if lineno not in ("", None) else filename
    src = str(line or "").strip()
    code = f'<code class="src">{esc(src)}</code>' if src else ""
    return f'<span class="loc">{esc(loc)}</span> in <span class="fn">{esc(function)}</span>{code}'


def esc(value: Any) -> str:
    # Control characters and undecodable bytes show as escapes, as in the text report.
    return html.escape(escape(str(value)), quote=True)
