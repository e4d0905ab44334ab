"""Whose file is this: leakwatch's own, the standard library's, site-packages' or the user's.

Every frame shown to a person, every origin and every fold of library frames
asks these questions; the answers depend only on the file name and the
environment's install paths.  Must not walk stacks or import anything of
leakwatch's.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig

# The leakwatch package: this file sits one folder below it.
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_FROZEN_PREFIX = "<frozen "


def is_own(filename: str) -> bool:
    """A frame of leakwatch itself (never shown to users)."""
    return filename.startswith(PACKAGE_DIR)


@functools.lru_cache(maxsize=1)
def _library_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    prefixes = {paths.get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    prefixes |= {os.path.dirname(os.__file__)}
    # The environment's own scripts (console-script launchers in bin/) are
    # not the user's code either.
    prefixes |= {paths.get("scripts", ""), os.path.join(sys.prefix, "bin")}
    return tuple(sorted((os.path.realpath(p) + os.sep for p in prefixes if p), key=len))


@functools.lru_cache(maxsize=4096)
def is_user_file(filename: str) -> bool:
    """True for the user's own code: not stdlib, site-packages, frozen or leakwatch."""
    if not filename or filename.startswith(("<", _FROZEN_PREFIX)) or is_own(filename):
        return False
    if "site-packages" in filename or "dist-packages" in filename:
        return False
    real = os.path.realpath(filename)
    return not any(real.startswith(p) for p in _library_prefixes())
