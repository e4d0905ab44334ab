"""``python -m leakwatch``: the same as the ``leakwatch`` command.

Must not do anything but hand over to :func:`leakwatch._cli.main`.
"""

from __future__ import annotations

from leakwatch._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
