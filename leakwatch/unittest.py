"""unittest with every test watched: ``python -m leakwatch.unittest [unittest's arguments]``.

Runs the suite as ``python -m unittest`` would, with the same arguments and
output; a test that leaks fails with leakwatch's report as its failure.
leakwatch's own options go before unittest's (``python -m leakwatch.unittest
--leakwatch-help`` lists them): ``--leakwatch-json PATH``,
``--leakwatch-baseline PATH``, ``--leakwatch-kinds KINDS``, ``--leakwatch-settle
SECONDS``, ... or the ``LEAKWATCH_*`` environment and ``[tool.leakwatch]``.

A module of this name inside the package: imports here are absolute, so
``unittest`` is always the standard library's.
"""

from __future__ import annotations

import sys

from leakwatch._unittest.main import WatchedRunner, main

__all__ = ["WatchedRunner", "main"]

if __name__ == "__main__":
    sys.exit(main())
