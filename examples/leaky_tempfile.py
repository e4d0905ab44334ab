"""Leaks a temp file: written with mkstemp and never deleted.

leakwatch run examples/leaky_tempfile.py
"""

from __future__ import annotations

import os
import tempfile


def save_snapshot(data: bytes) -> str:
    fd, path = tempfile.mkstemp(suffix=".snapshot")  # leaks: the file is never removed
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


if __name__ == "__main__":
    print("snapshot in", save_snapshot(b"state"))
