"""The engine: snapshot before, settle, snapshot after, diff, describe, judge.

Knows no kind of resource: it speaks only the probe protocol.  Imports
attribution and probes below it; never rules, reports or a shell.
"""
