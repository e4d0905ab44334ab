"""Rules: what the user asked for and what counts as a leak.

Configuration (``leakwatch.toml``, environment), settings resolved into
engine options, ignore rules, the shipped known library leaks
(``known_leaks.toml``), baselines and the policy that applies them.  Must
not render reports or run a shell.
"""
