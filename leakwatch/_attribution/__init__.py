"""Attribution: where a resource was created, and what still keeps it alive.

::

    stacks.py      creation stacks: raw tuples captured cheaply, Frames only for leaks
    records.py     what the creation hooks recorded, in bounded tables
    recording.py   the gate (is a watch on?), the audit hook, making a record
    wrappers.py    wrapped calls that raise no audit event (os.pipe, Thread.start, ...)
    shutdowns.py   the tasks still pending when an event loop is shut down
    origins.py     installs the hooks once and turns them on and off
    singletons.py  objects a module global holds through attributes alone
    whyalive.py    the shortest chain of references from a root to an object
    chain_text.py  that chain in words, hop by hop

Sits below the probes, which ask it for a resource's origin as they describe
it.  Must not import probes, the engine, rules or a shell.
"""
