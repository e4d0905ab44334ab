"""Reports: a finished :class:`~leakwatch.Report` rendered as text, HTML or JSON schema.

Renderers are pure functions of the data.  They must not probe, judge or
read configuration.
"""
