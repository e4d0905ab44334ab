"""Django's test runner with every test watched by leakwatch.

In settings: ``TEST_RUNNER = "leakwatch.django.DiscoverRunner"``; then
``manage.py test`` fails a test that leaks, with leakwatch's report as its
failure.  Django is an optional extra (``pip install 'pyleakwatch[django]'``);
without it, importing this module raises one ``ImportError`` saying so.
"""

from __future__ import annotations

from leakwatch._unittest.django_runner import DiscoverRunner

__all__ = ["DiscoverRunner"]
