"""The unittest runner shell: ``python -m leakwatch.unittest`` and Django's runner.

::

    options.py   leakwatch's own options before unittest's, over the config file and environment
    session.py   the run's watches: a span per test, per class (setUpClass..tearDownClass)
                 and per module (setUpModule..tearDownModule), and their verdicts
    result.py    a ``TestResult`` class that reports a leak as the test's failure,
                 and the suite's class and module fixture steps, watched
    main.py      ``python -m leakwatch.unittest``: unittest's own ``main`` with that result

Built on :mod:`leakwatch._suite`, as the pytest plugin is; never imports pytest.
"""
