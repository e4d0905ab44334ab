"""The pytest plugin's parts; ``leakwatch.pytest_plugin`` is the entry point.

::

    pytest_settings.py  the run's settings (file < ini < env < command line) and a test's marker
    calls.py      the call phase: the wrapper of ``_suite.calls`` on the test function
    findings.py   findings on reports: data always, a failure when they hold leaks
    session_results.py  the run's findings from reports: terminal summary, xdist
    per_test.py   a test's settings and its span, started before setup
    fixture_spans.py  spans of wider fixtures, and what their values hold
    escapes.py    heap: fixture values that should have died with the test
    plugin.py     the hooks, registered only when leakwatch is enabled
    fixture.py    the ``leakwatch`` fixture

Nothing here is imported until pytest loads the plugin and leakwatch is
enabled (the fixture imports its part when a test asks for it).  A shell:
nothing below it imports from here.  What the unittest runner
shares with it lives in :mod:`leakwatch._suite`.
"""
