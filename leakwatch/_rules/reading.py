"""Reading what a user wrote: a TOML file, and one-line errors about it.

:class:`ConfigError` is what every bad setting, rule or baseline raises: one
line naming the key and the file, a near-miss suggested.  Shared by the
configuration, the ignore rules and baselines; must not know any setting.
"""

from __future__ import annotations

import difflib
import os
from typing import Any

from leakwatch._base.files import display
from leakwatch._base.pyversion import tomllib
from leakwatch._base.wording import message_line
from leakwatch._report.errors import ConfigError


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a TOML file; any failure is a one-line :class:`ConfigError`."""
    try:
        with open(path, "rb") as f:
            data: dict[str, Any] = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"leakwatch: {display(path)}: invalid TOML: {message_line(exc)}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        why = message_line(exc)
        raise ConfigError(f"leakwatch: {display(path)}: cannot read: {why}") from None
    return data


def suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss, else an empty string."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
