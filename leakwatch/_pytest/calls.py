"""The call phase under pytest: the wrapper of :mod:`leakwatch._suite.calls`
installed on the test function, or on a unittest test case's async method.

Must not attach verdicts to reports: the plugin does, after teardown.
"""

from __future__ import annotations

import dataclasses
import inspect
import unittest
from collections.abc import Callable
from typing import Any

import pytest

from leakwatch._suite.calls import Found as Found
from leakwatch._suite.calls import Plan as Plan
from leakwatch._suite.calls import wanted, wrap


def instrument(
    item: pytest.Item,
    plan: Plan,
    found: Found,
    held: Callable[[list[Any]], set[int]] | None = None,
) -> Callable[[], None] | None:
    """Install the wrapper for this call; returns the undo, or None if not installed."""
    if not isinstance(item, pytest.Function):
        return None
    instance = getattr(item, "instance", None)
    if isinstance(instance, unittest.TestCase):
        # unittest looks the method up on the instance itself; only async
        # methods are worth wrapping (their loop closes inside the call).
        method = getattr(instance, item.name, None)
        if method is None or not inspect.iscoroutinefunction(method):
            return None
        wrapped = wrap(method, Plan(tasks=plan.tasks), found)
        if wrapped is None:
            return None
        setattr(instance, item.name, wrapped)

        def unwrap() -> None:
            instance.__dict__.pop(item.name, None)

        return unwrap
    original = item.obj
    if not wanted(original, plan):
        return None
    # A test function's tasks are the span's to judge after teardown: what a
    # function-scoped fixture's teardown finishes is not a leak, and what its
    # loop's shutdown cancels is (``shutdowns``).
    wrapped = wrap(original, dataclasses.replace(plan, held=held), found)
    if wrapped is None:
        return None
    item.obj = wrapped

    def undo() -> None:
        item.obj = original

    return undo
