"""Attribution: where a resource was created and what still keeps it alive.

Creation stacks (``stacks``), the hooks that record them as resources are
made (``origins``), interpreter singletons, and why-alive chains through the
object graph.  Sits below the probes, which ask it for a resource's origin.
Must not import probes, the engine, rules or reports.
"""
