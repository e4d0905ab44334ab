"""Files leakwatch writes and reads back: whole or not at all, one-line errors.

Reports, session reports and baselines go through :func:`write_whole` (a
temp file beside the target, then a rename), so a reader sees the old file
or the whole new one; every JSON document is written in one form
(:func:`json_text`); saved reports and baselines come back through
:func:`read_json`.  Both turn every way a file can be wrong into one line,
raised as the caller's error.

Must not know what a file means: callers check what they read.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any


def json_text(data: Any, *, sort_keys: bool = False) -> str:
    """The one form leakwatch writes a JSON document in: indented, non-ASCII
    text as it is, a final newline.  ``sort_keys`` for a file meant for
    version control (a baseline)."""
    return json.dumps(data, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n"


def write_whole(
    path: str | os.PathLike[str],
    text: str,
    *,
    what: str = "file",
    error: Callable[[str], Exception] | None = None,
    make_dirs: bool = False,
) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename.

    On failure: ``error("leakwatch: cannot write {what} {path}: {why}")``
    when ``error`` is given, else the OSError.  The temp file is synced
    before the rename and removed on any failure.  The file keeps the
    permissions of the one it replaces; a new one gets 0644 (mkstemp's 0600
    would hide it from readers, and a baseline is meant for git).
    ``make_dirs``: make the file's directory first.  Text that is not valid
    Unicode (a lone surrogate from an undecodable path or name) is written
    as a ``\\udcff`` escape: in a JSON string that is the same character
    again, elsewhere a visible escape.
    """
    try:
        _write_whole(os.path.abspath(os.fspath(path)), text, make_dirs)
    except OSError as exc:
        if error is None:
            raise
        why = exc.strerror or str(exc)
        raise error(f"leakwatch: cannot write {what} {display(path)}: {why}") from None


def _write_whole(path: str, text: str, make_dirs: bool) -> None:
    directory = os.path.dirname(path)
    if make_dirs:
        os.makedirs(directory, exist_ok=True)
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(
    path: str | os.PathLike[str],
    *,
    schema: str | tuple[str, ...],
    noun: str,
    error: Callable[[str], Exception],
    missing: str | None,
    unreadable: str = "cannot read",
) -> dict[str, Any] | None:
    """A saved JSON document of ``schema`` (or of any of several); every problem
    raises ``error(one line)``.

    ``noun`` names what the file should be ("a baseline"); ``missing`` is the
    message for a file that does not exist, or None to return None for it.
    """
    where = f"leakwatch: {display(path)}"
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f, parse_constant=_no_constant, parse_float=_finite)
    except FileNotFoundError:
        if missing is None:
            return None
        raise error(f"{where}: {missing}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{where}: {unreadable}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{where}: not {noun}, invalid JSON: {exc}") from None
    except RecursionError:
        raise error(f"{where}: not {noun}: nested too deeply") from None
    except ValueError as exc:  # NaN, Infinity, an integer of thousands of digits
        raise error(f"{where}: not {noun}: {exc}") from None
    schemas = (schema,) if isinstance(schema, str) else schema
    if not isinstance(data, dict) or data.get("schema") not in schemas:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        names = [repr(name) for name in schemas]
        wanted = " or ".join(filter(None, (", ".join(names[:-1]), names[-1])))
        raise error(f"{where}: not {noun}: expected schema {wanted}, got {got!r}")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number leakwatch writes")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:40]} is out of range")
    return value


def display(path: str | os.PathLike[str]) -> str:
    """A path as a person wants it in a message: relative when below the cwd."""
    text = os.fspath(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:  # another drive on Windows
        return text
    return text if rel.startswith("..") else rel
