"""The Python API shell: ``watch()`` around a block and ``check()`` of a repeated call.

Thin over the engine and the rules; the pytest plugin's fixture uses it too.
"""
