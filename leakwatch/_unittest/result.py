"""unittest's own result and suite, watched: a leak is the test's failure.

:func:`watched_result` makes a subclass of a result class (unittest's
``TextTestResult``, Django's, any) that starts a test's watch in
``startTest`` and holds back the success of a passing test, and its
``stopTest``, until the test's ``run`` has returned (an
``IsolatedAsyncioTestCase`` closes its loop after ``stopTest``).  Then the
test is judged: a leak turns its success into ``addFailure`` with
leakwatch's text, everything else reaches the result as it came.  Tests
that failed, were skipped or expected to fail are not judged.

:func:`watching` patches the suite's class and module fixture steps for the
run (``setUpClass``/``tearDownClass``, ``setUpModule``/``tearDownModule``):
what they leave is reported as an error of ``tearDownClass (module.Class)``
or ``tearDownModule (module)``, as unittest reports a failing fixture.
"""

from __future__ import annotations

import contextlib
import unittest
import unittest.suite as _suite
from collections.abc import Iterator
from typing import Any

from leakwatch._attribution import stacks
from leakwatch._report.errors import LeakFailure
from leakwatch._report.text import escape
from leakwatch._suite.findings import Finding
from leakwatch._unittest.session import Session, TestWatch, loop_closing

__unittest = True  # unittest leaves these frames out of tracebacks


def _err(text: str) -> Any:
    """The exc_info of a leak: no traceback, the report is the whole text."""
    return (LeakFailure, LeakFailure(text), None)


def _text(findings: list[Finding], verbose: bool) -> str:
    failing = [f for f in findings if f.leaks]
    return escape("\n\n".join(f.text(verbose=verbose) for f in failing))


def watched_result(base: type[unittest.TestResult], session: Session) -> type[Any]:
    """``base`` with every test watched by ``session``."""

    class WatchedResult(base):  # type: ignore[valid-type, misc]
        _leakwatch = session

        def startTest(self, test: unittest.TestCase) -> None:
            session_deliver(self)
            session.result = self
            watch = session.begin_test(test.id())
            self.__watch: TestWatch | None = watch
            if isinstance(test, unittest.IsolatedAsyncioTestCase):
                _hook_loop_close(test)
            super().startTest(test)

        def _leakwatch_failed(self, test: Any) -> None:
            watch = getattr(self, "_WatchedResult__watch", None)
            if watch is not None and test is not None:
                watch.failed = True

        def addError(self, test: Any, err: Any) -> None:
            self._leakwatch_failed(test)
            super().addError(test, err)

        def addFailure(self, test: Any, err: Any) -> None:
            if not isinstance(err[1], LeakFailure):
                self._leakwatch_failed(test)
            super().addFailure(test, err)

        def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
            if err is not None:
                self._leakwatch_failed(test)
            super().addSubTest(test, subtest, err)

        def addSkip(self, test: Any, reason: str) -> None:
            self._leakwatch_failed(test)  # left alone: not judged
            super().addSkip(test, reason)

        def addExpectedFailure(self, test: Any, err: Any) -> None:
            self._leakwatch_failed(test)
            super().addExpectedFailure(test, err)

        def addUnexpectedSuccess(self, test: Any) -> None:
            self._leakwatch_failed(test)
            super().addUnexpectedSuccess(test)

        def addSuccess(self, test: Any) -> None:
            watch = getattr(self, "_WatchedResult__watch", None)
            if watch is None or watch.span is None:
                super().addSuccess(test)
                return
            watch.held.append(("success", (test,)))

        def stopTest(self, test: Any) -> None:
            watch = getattr(self, "_WatchedResult__watch", None)
            if watch is not None and watch.held:
                watch.held.append(("stop", (test,)))
                return  # judged once its run has returned (session_deliver)
            self.__watch = None
            if watch is not None:
                session.judge_test(watch)  # failed or skipped: dropped unjudged
            super().stopTest(test)

        def stopTestRun(self) -> None:
            session_deliver(self)
            super().stopTestRun()

        def _exc_info_to_string(self, err: Any, test: Any) -> str:
            if isinstance(err[1], LeakFailure):
                return str(err[1]) + "\n"
            text: str = super()._exc_info_to_string(err, test)
            return text

        def _leakwatch_deliver(self) -> None:
            watch: TestWatch | None
            watch = getattr(self, "_WatchedResult__watch", None)
            if watch is None or not watch.held:
                return
            self.__watch = None
            findings = session.judge_test(watch)
            for name, args in watch.held:
                if name == "success":
                    self._leakwatch_verdict(args[0], findings)
                else:
                    base.stopTest(self, args[0])

        def _leakwatch_verdict(self, test: Any, findings: list[tuple[Finding, Any]]) -> None:
            """A passing test's verdict: a leak made in a ``subTest`` fails that
            subtest, one made outside any fails the test; recording a baseline,
            none fails (the summary lists them)."""
            by_subtest: dict[int, tuple[Any, list[Finding]]] = {}
            for finding, subtest in findings:
                if finding.leaks and session.fail:
                    by_subtest.setdefault(id(subtest), (subtest, []))[1].append(finding)
            own = by_subtest.pop(id(None), None)
            for subtest, found in by_subtest.values():
                base.addSubTest(self, test, subtest, _err(_text(found, session.verbose)))
            if own is not None:
                base.addFailure(self, test, _err(_text(own[1], session.verbose)))
            elif not by_subtest:
                base.addSuccess(self, test)

    WatchedResult.__name__ = WatchedResult.__qualname__ = f"Watched{base.__name__}"
    return WatchedResult


def session_deliver(result: Any) -> None:
    """Judge the test whose run has returned, if its verdict is still held back."""
    deliver = getattr(result, "_leakwatch_deliver", None)
    if deliver is not None:
        deliver()


def _hook_loop_close(test: Any) -> None:
    """Python 3.10: tell the task probe what is pending before the test case
    cancels it (see :func:`leakwatch._unittest.session.loop_closing`)."""
    original = getattr(test, "_tearDownAsyncioLoop", None)
    if original is None or "_tearDownAsyncioLoop" in vars(test):
        return

    def _tearDownAsyncioLoop() -> None:
        loop_closing(test)
        del test._tearDownAsyncioLoop
        original()

    test._tearDownAsyncioLoop = _tearDownAsyncioLoop


# -- the suite's fixture steps ---------------------------------------------------------


def _class_label(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _report_fixture(result: Any, findings: list[Finding], description: str, fail: bool) -> None:
    session: Session | None = getattr(result, "_leakwatch", None)
    text = _text(findings, bool(session and session.verbose))
    if not text:
        return
    if fail:  # recording a baseline: in the summary, not failing
        holder = _suite._ErrorHolder(description)  # type: ignore[attr-defined]
        result.addError(holder, _err(text))


@contextlib.contextmanager
def watching(session: Session) -> Iterator[None]:
    """The suite's class and module fixture steps watched, for the run."""
    suite = _suite.TestSuite
    names = (
        "_handleClassSetUp",
        "_tearDownPreviousClass",
        "_handleModuleFixture",
        "_handleModuleTearDown",
        "_removeTestAtIndex",
    )
    saved = {name: suite.__dict__.get(name) for name in names}
    orig = {name: getattr(suite, name) for name in names}

    def ours(result: Any) -> bool:
        return getattr(result, "_leakwatch", None) is session

    def _handleClassSetUp(self: Any, test: Any, result: Any) -> None:
        cls = test.__class__
        if (
            not ours(result)
            or cls == getattr(result, "_previousTestClass", None)
            or getattr(result, "_moduleSetUpFailed", False)
            or getattr(cls, "__unittest_skip__", False)
        ):
            return orig["_handleClassSetUp"](self, test, result)  # type: ignore[no-any-return]
        span = session.begin_fixture(_class_label(cls))
        try:
            orig["_handleClassSetUp"](self, test, result)
        finally:
            if span is not None:
                session.set_up(span)
        if span is not None:
            if getattr(cls, "_classSetupFailed", False):
                span.abort()
            else:
                session.classes[cls] = span

    def _tearDownPreviousClass(self: Any, test: Any, result: Any) -> None:
        session_deliver(result)
        previous: Any = getattr(result, "_previousTestClass", None)
        span = session.classes.get(previous) if ours(result) else None
        if span is None or previous == test.__class__:
            return orig["_tearDownPreviousClass"](self, test, result)  # type: ignore[no-any-return]
        del session.classes[previous]
        session.tear_down(span)
        try:
            orig["_tearDownPreviousClass"](self, test, result)
        except BaseException:
            session.stack.pop(span)
            span.abort()
            raise
        label = _class_label(previous)
        found = session.judge_fixture(span, label, f"{previous.__qualname__}.setUpClass", "class")
        _report_fixture(result, found, f"tearDownClass ({label})", session.fail)

    def _handleModuleFixture(self: Any, test: Any, result: Any) -> None:
        previous = getattr(result, "_previousTestClass", None)
        module = test.__class__.__module__
        if not ours(result) or module == getattr(previous, "__module__", None):
            return orig["_handleModuleFixture"](self, test, result)  # type: ignore[no-any-return]
        span = session.begin_fixture(module)
        try:
            orig["_handleModuleFixture"](self, test, result)
        finally:
            if span is not None:
                session.set_up(span)
        if span is not None:
            if getattr(result, "_moduleSetUpFailed", False):
                span.abort()
            else:
                session.modules[module] = span

    def _handleModuleTearDown(self: Any, result: Any) -> None:
        previous = getattr(result, "_previousTestClass", None)
        module = getattr(previous, "__module__", None)
        span = session.modules.pop(module, None) if ours(result) and module else None
        if span is None or getattr(result, "_moduleSetUpFailed", False):
            if span is not None:
                span.abort()
            return orig["_handleModuleTearDown"](self, result)  # type: ignore[no-any-return]
        session.tear_down(span)
        try:
            orig["_handleModuleTearDown"](self, result)
        except BaseException:
            session.stack.pop(span)
            span.abort()
            raise
        found = session.judge_fixture(span, str(module), "setUpModule", "module")
        _report_fixture(result, found, f"tearDownModule ({module})", session.fail)

    def _removeTestAtIndex(self: Any, index: int) -> None:
        orig["_removeTestAtIndex"](self, index)
        if session.current is not None and session.current.held:
            result = session.result
            if result is not None:
                session_deliver(result)

    case = unittest.TestCase
    saved_subtest = case.__dict__["subTest"]

    @contextlib.contextmanager
    def subTest(self: Any, *args: Any, **params: Any) -> Iterator[None]:
        with saved_subtest(self, *args, **params):
            parent = session.subtest(getattr(self, "_subtest", None))
            try:
                yield
            finally:
                if parent is not None:
                    session.subtest_end(parent)

    patches = {
        "_handleClassSetUp": _handleClassSetUp,
        "_tearDownPreviousClass": _tearDownPreviousClass,
        "_handleModuleFixture": _handleModuleFixture,
        "_handleModuleTearDown": _handleModuleTearDown,
        "_removeTestAtIndex": _removeTestAtIndex,
    }
    for name, fn in patches.items():
        setattr(suite, name, fn)
    case.subTest = subTest  # type: ignore[method-assign]
    # Creation stacks end at the innermost suite's run: past it is unittest's
    # runner, the same for every record.
    stop = stacks.stop_at(_suite.TestSuite.run.__code__)
    session.open()
    try:
        yield
    finally:
        case.subTest = saved_subtest  # type: ignore[method-assign]
        stacks.stop_at(stop)
        for name, value in saved.items():
            if value is None:
                delattr(suite, name)  # inherited (BaseTestSuite's)
            else:
                setattr(suite, name, value)
        session.close()
