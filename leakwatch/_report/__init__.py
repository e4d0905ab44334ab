"""Reports: the verdict of a watch (:class:`~leakwatch.Report`) and its forms.

Text, HTML and the JSON schema are pure functions of the value types below
(:mod:`leakwatch._base`), so any layer above may render.  Renderers must not
probe, judge or read configuration.
"""
