"""``python -m leakwatch``: the same as the ``leakwatch`` command."""

from __future__ import annotations

from leakwatch._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
