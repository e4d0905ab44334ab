"""The engine: snapshot before, settle, snapshot after, diff, describe, report.

::

    options.py   what one watch looks at and how patiently
    watcher.py   one watched span: start, stop, build the report
    snapshot.py  every probe's snapshot, and what is new
    settle.py    look again with backoff until only what stays is left
    describe.py  describe the leftovers within a budget, with why-alive chains
    collect.py   leakwatch's own gc passes, and what they finalised

Knows no kind of resource: it speaks only the probe protocol, and applies
whatever policy the options carry.  Must not import rules, reports'
renderers or a shell.
"""
