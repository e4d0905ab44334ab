"""Whose a creation is in a service: the tag of the sampled request it serves.

The middleware sets a context variable for a sampled request (it follows
into tasks and ``asyncio.to_thread``); a thread the request starts, and a
pool worker while it runs the request's job, carry the tag by thread.
:mod:`leakwatch._attribution.recording` reads these on every creation.

Must not record anything nor hold a user's object: tags are numbers.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar

from leakwatch._base.pyversion import running_thread

#: The sampled request the running code serves (``leakwatch.service``'s
#: middleware sets it; it follows into tasks and ``asyncio.to_thread``).
#: 0: none.  Read only while ``recording.tagging`` is non-zero.
request_tag: ContextVar[int] = ContextVar("leakwatch_request_tag", default=0)


#: ident -> tag of the threads sampled requests started (filled as each starts).
#: The thread's native id is kept beside its tag: an ident is reused as soon
#: as its thread ends, and the next thread under it must not inherit the tag.
thread_tags: dict[int, tuple[int, int]] = {}


#: id(Thread) -> tag of the threads a sampled request is starting now: a
#: thread runs before ``Thread.start()`` returns to the request (which files
#: it under its ident only then), and what it makes at once is the request's
#: too.  Empty but for that moment.
starting: dict[int, int] = {}


def thread_tag(ident: int) -> int:
    """The tag of the sampled request that started this thread (0: none)."""
    entry = thread_tags.get(ident)
    if entry is None or entry[0] != threading.get_native_id():
        if starting:
            return starting.get(id(running_thread()), 0)
        return 0
    return entry[1]


def forget_ended_threads() -> None:
    """Drop the tags of threads that have ended (the judge asks each batch):
    while any tag is kept, every task and timer a service makes takes the
    slower check."""
    if thread_tags:
        alive = {t.native_id for t in threading.enumerate()}
        for ident, (native, _) in list(thread_tags.items()):
            if native not in alive:
                thread_tags.pop(ident, None)


#: ident -> tag of the request whose job a pool's worker runs now (0: no
#: sampled request's), only while the job runs (see ``pool_jobs``).
job_tags: dict[int, int] = {}
