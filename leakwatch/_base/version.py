"""leakwatch's version, in one place: the facade and ``leakwatch --version`` read it.

Must not import anything: pytest imports the package at every start.
"""

__version__ = "0.1.0"
