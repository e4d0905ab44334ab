"""Jobs of a thread pool serve the request that submitted them.

``loop.run_in_executor`` and ``ThreadPoolExecutor.submit`` hand a job to a
worker thread without the caller's context: what the job made was no sampled
request's (``tags.request_tag``), and a worker a sampled request
happened to start stayed that request's for every later job.  So each job
(``concurrent.futures.thread._WorkItem``) notes the submitting request's tag,
and its worker serves that tag -- or none -- while the job runs
(``tags.job_tags``).  Only while requests are sampled
(``recording.tagging``).  Nothing the job sees changes: no context is
copied, and no frame joins its traceback (the job's exception is caught
inside the wrapped ``run``, below this wrapper).  Must not record or judge.
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any

from leakwatch._attribution import recording, tags

_ATTR = "_leakwatch_tag"


def wrap_pool_jobs() -> None:
    """Wrap the work items of ``concurrent.futures``' thread pools, once it is
    imported (never import it): called as each watch starts."""
    module = sys.modules.get("concurrent.futures.thread")
    item = getattr(module, "_WorkItem", None)
    if item is None or getattr(item.run, "__leakwatch__", False):
        return
    orig_init, orig_run = item.__init__, item.run

    @functools.wraps(orig_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        orig_init(self, *args, **kwargs)
        if recording.tagging:
            try:
                setattr(self, _ATTR, tags.request_tag.get())
            except Exception:  # a work item of another shape: untagged
                pass

    @functools.wraps(orig_run)
    def run(self: Any) -> Any:
        tag = getattr(self, _ATTR, None)
        if tag is None:
            return orig_run(self)
        ident = threading.get_ident()
        tags.job_tags[ident] = tag
        try:
            return orig_run(self)
        finally:
            tags.job_tags.pop(ident, None)

    __init__.__leakwatch__ = True  # type: ignore[attr-defined]
    run.__leakwatch__ = True  # type: ignore[attr-defined]
    item.__init__ = __init__
    item.run = run
