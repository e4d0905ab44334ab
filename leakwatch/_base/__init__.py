"""The bottom layer: value types, errors, platform and Python-version answers, file I/O.

Everything above may import from here; nothing here imports from any other
leakwatch folder.  Plain data and small helpers only: no probing, no judging,
no rendering.
"""
