"""The pytest plugin's parts; ``leakwatch.pytest_plugin`` is the entry point.

::

    settings.py   the run's settings (file < ini < env < command line) and a test's marker
    spans.py      watches whose leftovers are charged to the window (phase, fixture) that made them
    calls.py      the call phase: asyncio tasks judged inside the test's loop, ``repeat=N``
    findings.py   what one test phase or fixture left behind, as text and plain data
    session.py    the run's findings: terminal summary, JSON, baseline, xdist
    plugin.py     the hooks, registered only when leakwatch is enabled
    fixture.py    the ``leakwatch`` fixture

Nothing here is imported until pytest loads the plugin and leakwatch is
enabled (the fixture imports its part when a test asks for it).
"""
