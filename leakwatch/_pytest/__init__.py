"""The pytest plugin's parts; ``leakwatch.pytest_plugin`` is the entry point.

::

    settings.py   the run's settings (file < ini < env < command line) and a test's marker
    spans.py      watches whose leftovers are charged to the window (phase, fixture) that made them
    ownership.py  whose is what another thread made: a wider fixture's world, or the window's
    connections.py  the two ends of this process's own TCP connections, and their listeners
    calls.py      the call phase: asyncio tasks judged inside the test's loop, ``repeat=N``
    findings.py   what one test phase or fixture left behind, as text and plain data
    session.py    the run's findings: terminal summary, JSON, baseline, xdist
    per_test.py   a test's settings and its span, started before setup
    fixture_spans.py  spans of wider fixtures, and what their values hold
    escapes.py    heap: fixture values that should have died with the test
    firstuse.py   one-time initialisation told apart across the session
    policy.py     a test's policy: its marker's rules, then the run's
    plugin.py     the hooks, registered only when leakwatch is enabled
    fixture.py    the ``leakwatch`` fixture

Nothing here is imported until pytest loads the plugin and leakwatch is
enabled (the fixture imports its part when a test asks for it).  A shell:
nothing below it imports from here.
"""
