"""What the test-runner shells share: the pytest plugin and the unittest runner.

::

    spans.py      watches whose leftovers are charged to the window (phase, fixture) that made them
    ownership.py  whose is what another thread made: a wider fixture's world, or the window's
    connections.py  the two ends of this process's own TCP connections, and their listeners
    calls.py      the call: asyncio tasks judged inside the test's loop, ``repeat=N``
    findings.py   what one test phase or fixture left behind, as text and plain data
    results.py    the run's findings: summary, JSON (``leakwatch.session/1``), baseline
    settings.py   the run's settings, and the engine options made from them
    firstuse.py   one-time initialisation told apart across the session
    marker_policy.py  a test's policy: its marker's rules, then the run's

Nothing here imports pytest or unittest's runner: each shell wires these to
its own hooks.
"""
