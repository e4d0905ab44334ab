"""``leakwatch run``: watch a whole program, live, and report what it leaves behind.

One concern per module, in the order a run uses them::

    program.py   find the target and run it as ``python`` would (argv, sys.path[0],
                 __main__, exit status, tracebacks)
    sampler.py   a ``leakwatch-sampler`` thread: counts over time, the live status line
    windows.py   tracemalloc in windows opened when memory grows, growing allocation sites
    trend.py     what a run's series conclude, by the keeps-growing rule of ``_base.growth_rule``
    dump.py      SIGUSR1: print the current state, with stacks, on demand
    shutdown.py  the program's own shutdown as python's: threads ended, its atexit handlers
    terminate.py SIGTERM: the reports, not judged, then the death python would die
    output.py    text summary, reading a saved report
    runner.py    ties them to a :class:`leakwatch._engine.watcher.Watcher` and decides the status

The command line itself lives in :mod:`leakwatch._cli`.  A shell: nothing
below it imports from here.
"""
