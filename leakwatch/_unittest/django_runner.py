"""Django's own ``DiscoverRunner`` with every test watched.

``TEST_RUNNER = "leakwatch.django.DiscoverRunner"``: ``manage.py test`` runs
as with Django's runner, and a test that leaks fails with leakwatch's text.
The result class Django picks (``--debug-sql``, ``--pdb``, or unittest's) is
kept and watched (:func:`leakwatch._unittest.result.watched_result`).
leakwatch's options are added to ``manage.py test`` (``--leakwatch-json``,
...), over the config file and the ``LEAKWATCH_*`` environment.

Tests run in this process: ``--parallel`` would run them in workers whose
results leakwatch never sees, so it is set to 1 (with a note).
"""

from __future__ import annotations

import sys
import unittest
from typing import Any

try:
    from django.test.runner import DiscoverRunner as _DjangoRunner
except ImportError as exc:  # pragma: no cover - exercised without Django
    raise ImportError("leakwatch.django needs Django: pip install 'pyleakwatch[django]'") from exc

from leakwatch._report.errors import UsageError
from leakwatch._unittest.main import summary
from leakwatch._unittest.options import OPTIONS, run_settings
from leakwatch._unittest.result import watched_result, watching
from leakwatch._unittest.session import Session


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


class DiscoverRunner(_DjangoRunner):  # type: ignore[misc]
    """Django's ``DiscoverRunner``, every test watched by leakwatch."""

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        super().add_arguments(parser)
        for name, (_, value, text) in OPTIONS.items():
            if value:
                parser.add_argument(name, dest=_dest(name), metavar="VALUE", help=text)
            else:
                parser.add_argument(name, dest=_dest(name), action="store_true", help=text)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        options: dict[str, Any] = {}
        for name, (key, _, _) in OPTIONS.items():
            value = kwargs.pop(_dest(name), None)
            if value not in (None, False):
                options[key] = value
        super().__init__(*args, **kwargs)
        try:
            run = run_settings(options)
        except UsageError as exc:
            sys.stderr.write(f"{exc}\n")
            raise SystemExit(2) from None
        self.leakwatch = Session(run, verbose=self.verbosity > 1)
        if getattr(self, "parallel", 1) > 1:
            sys.stderr.write(
                "leakwatch: tests run in one process (--parallel runs them where "
                "leakwatch cannot watch them)\n"
            )
            self.parallel = 1

    def get_resultclass(self) -> Any:
        base = super().get_resultclass() or unittest.TextTestResult
        return watched_result(base, self.leakwatch)

    def run_suite(self, suite: Any, **kwargs: Any) -> Any:
        with watching(self.leakwatch):
            result = super().run_suite(suite, **kwargs)
        summary(self.leakwatch, unittest.runner._WritelnDecorator(sys.stderr))
        return result
