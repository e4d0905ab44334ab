"""The HTML report's leak table: one folded row per leak, its stack and details.

User frames first, library frames folded, every string escaped.  Pure
functions of plain data (``Leak.to_dict()`` shapes); must not write anything.
"""

from __future__ import annotations

import os
import re
import sysconfig
from collections.abc import Mapping, Sequence
from typing import Any

from leakwatch._base.frames import frames_to_dicts, read_library_frames
from leakwatch._base.model import KINDS
from leakwatch._base.wording import number
from leakwatch._report.html_parts import (
    MAX_FRAMES,
    MAX_ITEMS,
    MAX_ROWS,
    _int,
    _kv,
    _list,
    _more,
    _site,
    _size,
    _text,
    esc,
)

_SECTIONS = (
    ("info", "Information only", "Seen, but not judged a leak under the chosen policy."),
    ("ignored", "Ignored", "Matched an ignore rule."),
    ("known", "Known library leaks", "Leaks of third-party code that leakwatch knows about."),
    ("baselined", "Baselined", "Listed in the baseline file: existing leaks that do not fail."),
    ("first_use", "First uses", "Made once, like a library's one-time initialisation."),
    ("collected", "Closed by the garbage collector", "Finalised in leakwatch's gc passes."),
)

#: Details that hold bytes, whatever the kind; for heap and native, these too.
_BYTES = frozenset({"early_size", "late_size", "growth", "growth_per_call", "size", "bytes"})
_BYTES_OF_MEMORY = frozenset({"series", "first", "middle", "last", "floor"})


_SPECIAL_DETAILS = (
    "held_by",
    "stack",
    "suspended_at",
    "items",
    "library_frames",
    "native_frames",
    "native_note",
)


# Reports are often read on another machine than the one that ran the
# program, so library frames are told by path shape as well as local prefixes.
_LIB_RE = re.compile(
    r"[\\/](?:site|dist)-packages[\\/]|[\\/]lib[\\/]python\d[\d.]*t?[\\/]|^<frozen ", re.I
)


_STDLIB = tuple(sorted({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")}))


def leak_summary(leaks: Sequence[Any]) -> str:
    """Say "3 leaks: 2 fd, 1 thread", counting grouped leaks by their count."""
    per_kind: dict[str, int] = {}
    for leak in leaks:
        if isinstance(leak, Mapping):
            kind = str(leak.get("kind", "?"))
            per_kind[kind] = per_kind.get(kind, 0) + max(_int(leak.get("count"), 1), 0)
    total = sum(per_kind.values())
    if not total:
        return "No leaks found"
    order = sorted(per_kind, key=lambda k: (KINDS.index(k) if k in KINDS else len(KINDS), k))
    kinds = ", ".join(f"{per_kind[k]:,} {k}" for k in order)
    return f"{total:,} leak{'s' if total != 1 else ''}: {kinds}"


def leak_table(leaks: Sequence[Any], open_first: bool = False) -> str:
    if not leaks:
        return '<div class="card"><p class="empty">No leaks found</p></div>'
    head = '<span>Kind</span><span>What</span><span class="num">Count</span>'
    head += '<span class="num">Size</span><span>Created at</span>'
    shown = [x for x in leaks[:MAX_ROWS] if isinstance(x, Mapping)]
    # The first leak opens by itself: its stack is what a reader came for.
    rows = "".join(_leak(x, open_first and i == 0) for i, x in enumerate(shown))
    more = _more(len(leaks), "leaks")
    return f'<div class="card leaks"><div class="lh">{head}</div>{rows}{more}</div>'


def _leak(leak: Mapping[str, Any], is_open: bool = False) -> str:
    kind = str(leak.get("kind", "?"))
    origin = _frames(leak.get("origin"))
    details: Mapping[str, Any] = leak["details"] if isinstance(leak.get("details"), Mapping) else {}
    where = '<span class="dim">not seen</span>'
    body = ['<p class="dim">Creation was not seen (it happened before leakwatch watched).</p>']
    if origin:
        top = next((f for f in reversed(origin) if not _is_lib(f[0])), origin[-1])
        short = f"{os.path.basename(top[0]) or top[0]}:{top[1]} in {top[2]}"
        where = f'<span title="{esc(top[0])}">{esc(short)}</span>'
        # The library calls below the user's line, as the rest of one traceback.
        below = _frames(frames_to_dicts(read_library_frames(details)))
        body = ["<h3>Created at</h3>" + _stack(origin + below)]
    if details.get("held_by"):
        body.append(f'<h3>Held by</h3><code class="chain">{esc(_text(details["held_by"]))}</code>')
    if details.get("native_frames") or details.get("native_note"):
        from leakwatch._report.native import html as native_html

        body.append(native_html(details, esc))
    for key, label in (("stack", "Current stack"), ("suspended_at", "Suspended at")):
        if details.get(key):
            body.append(f"<h3>{label}</h3>" + _stack(_frames(details[key])))
    items = details.get("items")
    if isinstance(items, list) and items:
        lis = "".join(f"<li>{esc(_text(i))}</li>" for i in items[:MAX_ITEMS])
        more = _more(len(items), "items", MAX_ITEMS)
        body.append(f'<h3>Items</h3><ul class="items">{lis}</ul>{more}')
    series = details.get("series")
    if isinstance(series, list) and len(series) > 1 and all(number(v) is not None for v in series):
        from leakwatch._report.html_charts import chart

        memory = kind in ("heap", "native")
        body.append(
            "<h3>Per call</h3>"
            + chart(
                "Kept after each call" if memory else "After each call",
                None,
                series,
                is_bytes=memory,
                colour="#cf222e" if kind == "heap" else "#9a3412",
                caption="What the repeated calls kept, measured after each judged call "
                "(warm-up calls not counted): a line that keeps rising is a leak.",
                per_call=True,
            )
        )
    rest = _readable(details, kind)
    if origin:  # a growth site's own place: the stack above already shows it
        for key in ("filename", "lineno", "function", "line"):
            rest.pop(key, None)
    if rest:
        body.append("<h3>Details</h3>" + _kv(rest))
    cells = [
        f'<span><span class="kind k-{kind if kind in KINDS else "other"}">'
        f"{esc(kind)}</span></span>",
        f'<span class="title">{esc(leak.get("title", ""))}</span>',
        f'<span class="num">{_int(leak.get("count"), 1):,}</span>',
        f'<span class="num">{_size(number(leak.get("size")))}</span>',
        f'<span class="where">{where}</span>',
    ]
    return (
        f'<details class="leak"{" open" if is_open else ""}><summary>{"".join(cells)}</summary>'
        f'<div class="body">{"".join(body)}</div></details>'
    )


def _readable(details: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """Details as a person reads them: sizes with units, empty values left out,
    ``early_size`` as "early size"."""
    sizes = _BYTES | (_BYTES_OF_MEMORY if kind in ("heap", "native") else frozenset())
    out: dict[str, Any] = {}
    for key, value in details.items():
        if key in _SPECIAL_DETAILS or value in (None, "", [], {}):
            continue
        if key in sizes and number(value) is not None:
            value = _size(number(value))
        elif key in sizes and isinstance(value, list):
            value = ", ".join(_size(number(v)) for v in value[:MAX_ITEMS])
        elif key == "types" and isinstance(value, Mapping):
            value = ", ".join(f"{n} {t}" for t, n in value.items())
        elif isinstance(value, Mapping) and all(number(v) is not None for v in value.values()):
            value = ", ".join(
                f"{k.replace('_', ' ')} {_size(number(v)) if k in sizes else f'{v:,}'}"
                for k, v in value.items()
            )
        out[str(key).replace("_", " ")] = value
    return out


def _stack(frames: Sequence[tuple[str, str, str, str]]) -> str:
    """A traceback, oldest first; the innermost user frame is the one to read."""
    hidden = max(len(frames) - MAX_FRAMES, 0)
    shown = frames[hidden:]
    user = [i for i, f in enumerate(shown) if not _is_lib(f[0])]
    rows = [f'<li class="more">+{hidden} earlier frames</li>'] if hidden else []
    for i, (filename, lineno, function, line) in enumerate(shown):
        cls = "lib" if _is_lib(filename) else "user here" if i == user[-1] else "user"
        rows.append(f'<li class="{cls}">{_site(filename, lineno, function, line)}</li>')
    return f'<ol class="stack">{"".join(rows)}</ol>'


def _sections(data: Mapping[str, Any]) -> str:
    parts = []
    for key, title, why in _SECTIONS:
        leaks = _list(data, key)
        if leaks:
            parts.append(
                f'<section class="extra" id="{key}"><details class="card fold"><summary>{title} '
                f'<span class="tag">{esc(leak_summary(leaks))}</span></summary>'
                f'<p class="why">{why}</p>'
                f"{leak_table(leaks)}</details></section>"
            )
    return "\n".join(parts)


def _frames(value: Any) -> list[tuple[str, str, str, str]]:
    """Frames as (filename, lineno, function, line) strings, whatever came in."""
    frames = []
    for f in value if isinstance(value, list) else ():
        if isinstance(f, Mapping):
            keys = (("filename", "?"), ("lineno", ""), ("function", "?"), ("line", ""))
            name, lineno, function, line = (str(f.get(k) or d) for k, d in keys)
            frames.append((name, lineno, function, line))
        else:
            frames.append((str(f), "", "?", ""))
    return frames


def _is_lib(filename: str) -> bool:
    return bool(_LIB_RE.search(filename)) or filename.startswith(_STDLIB)
