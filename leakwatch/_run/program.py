"""Run the target as ``python`` would, in this process, so it can be watched.

``python script.py args`` and ``python -m module args`` are mirrored:

- ``sys.argv`` is ``[script, *args]`` (``[/path/to/module.py, *args]`` for ``-m``);
- ``sys.path[0]`` is the script's directory (symlinks resolved), or the
  current directory for ``-m``;
- the code runs in a fresh module registered as ``sys.modules["__main__"]``,
  with ``__file__``, ``__spec__``, ``__loader__`` and friends set as Python
  sets them, so pickling and ``multiprocessing`` find it;
- stdin, stdout and stderr are the program's own;
- the exit status: ``SystemExit`` as Python reads it, 1 after an uncaught
  exception (printed through ``sys.excepthook``, without leakwatch's frames),
  130 after ``KeyboardInterrupt``.

Unlike ``runpy.run_path``, the module is kept after the code returns: what
the program holds in its globals is still held when leakwatch looks, as it is
under ``python`` until interpreter shutdown.  Directories and zip files with
a ``__main__.py`` go through :func:`runpy.run_path`, whose returned globals
are kept for the same reason (their ``sys.argv[0]`` is the absolute path, as
``sys.path[0]`` is under python).

Must not watch: :mod:`leakwatch._run.runner` does, around it.
"""

from __future__ import annotations

import builtins
import importlib.machinery
import importlib.util
import io
import os
import pkgutil
import runpy
import sys
import traceback
import types
from dataclasses import dataclass, field
from typing import Any

from leakwatch._attribution import stacks
from leakwatch._base.frames import Origin
from leakwatch._report.errors import TargetError

#: Exit status after an uncaught KeyboardInterrupt, as a shell reports python's.
INTERRUPTED = 130

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the leakwatch package
_RUNPY = os.path.splitext(os.path.abspath(runpy.__file__))[0]


@dataclass(frozen=True)
class Target:
    """A script path or a module name, and the arguments that follow it."""

    script: str | None = None
    module: str | None = None
    args: tuple[str, ...] = ()

    @property
    def argv(self) -> list[str]:
        """The command line as a person typed it after ``python``."""
        if self.module is not None:
            return ["-m", self.module, *self.args]
        return [str(self.script), *self.args]

    @property
    def label(self) -> str:
        return f"-m {self.module}" if self.module is not None else str(self.script)


@dataclass
class Outcome:
    """How the program ended."""

    status: int
    how: str  # "returned", "exit", "exception", "interrupt" or "terminated" (SIGTERM)
    main: Any = field(default=None, repr=False)  # the __main__ module or globals, kept alive

    @property
    def raised(self) -> bool:
        return self.how in ("exception", "interrupt", "terminated")


@dataclass
class Prepared:
    target: Target
    code: types.CodeType | None
    module: types.ModuleType | None
    path0: str
    argv: list[str]
    run_path: str | None = None  # a directory or zip file: runpy runs it


def prepare(target: Target) -> Prepared:
    """Find and compile the target before anything is watched.

    Raises :class:`TargetError` with python's wording and status: 2 for a
    script that cannot be opened, 1 for a module that cannot be found.
    Compile errors are left to :func:`run`, which reports them as python does.
    """
    if target.module is not None:
        return _prepare_module(target)
    script = str(target.script)
    path = os.path.abspath(script)
    if os.path.isdir(path) or (os.path.isfile(path) and _is_zip(path)):
        return Prepared(target, None, None, path, [script, *target.args], run_path=path)
    try:
        with io.open_code(path) as f:
            source = f.read()
    except OSError as exc:
        why = f"[Errno {exc.errno}] {exc.strerror}" if exc.errno else str(exc)
        raise TargetError(f"can't open file {path!r}: {why}", 2) from None
    module = types.ModuleType("__main__")
    module.__dict__.update(
        __file__=path,
        __cached__=None,
        __loader__=importlib.machinery.SourceFileLoader("__main__", path),
        __package__=None,
        __spec__=None,
        __builtins__=builtins,
    )
    code = _code_of(source, path)
    path0 = os.path.dirname(os.path.realpath(path))
    return Prepared(target, code, module, path0, [script, *target.args])


def _prepare_module(target: Target) -> Prepared:
    name = str(target.module)
    path0 = os.getcwd()
    # Parent packages are imported to find the module, as python -m does, and
    # they must be found from the current directory.
    sys.path.insert(0, path0)
    try:
        spec = _find_spec(name)
        if spec.submodule_search_locations is not None:
            if name == "__main__" or name.endswith(".__main__"):
                raise TargetError("Cannot use package as __main__ module", 1)
            main = _find_spec(f"{name}.__main__", package=name)
            spec = main
        loader = spec.loader
        code = (
            loader.get_code(spec.name)
            if loader is not None and hasattr(loader, "get_code")
            else None
        )
    except TargetError:
        raise
    except Exception as exc:
        kind = type(exc).__name__
        raise TargetError(
            f"Error while finding module specification for {name!r} ({kind}: {exc})", 1
        ) from None
    finally:
        sys.path.remove(path0)
    if code is None:
        raise TargetError(f"No code object available for {spec.name}", 1)
    module = types.ModuleType("__main__")
    module.__dict__.update(
        __file__=spec.origin,
        __cached__=spec.cached,
        __loader__=spec.loader,
        __package__=spec.parent,
        __spec__=spec,
        __builtins__=builtins,
    )
    return Prepared(target, code, module, path0, [str(spec.origin), *target.args])


def _find_spec(name: str, package: str | None = None) -> importlib.machinery.ModuleSpec:
    spec = importlib.util.find_spec(name)
    if spec is None:
        if package is not None:
            raise TargetError(
                f"No module named {name}; {package!r} is a package and cannot be directly executed",
                1,
            )
        raise TargetError(f"No module named {name}", 1)
    return spec


def _code_of(source: bytes, path: str) -> types.CodeType | None:
    """Compiled code, or None when it does not compile (run() reports the error)."""
    cached = pkgutil.read_code(io.BytesIO(source)) if path.endswith((".pyc", ".pyo")) else None
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    try:
        return compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None


def _is_zip(path: str) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


def install(prepared: Prepared) -> None:
    """Set ``sys.argv``, ``sys.path[0]`` and ``__main__`` for the program."""
    sys.argv = list(prepared.argv)
    if prepared.run_path is not None:
        return  # runpy.run_path puts the directory or archive on sys.path itself
    # leakwatch's own sys.path[0] (its script directory, or the cwd under
    # ``python -m leakwatch``) gives way to the program's, as python sets it;
    # -P (safe_path) means python would not have added one.
    if not getattr(sys.flags, "safe_path", False):
        if sys.path:
            sys.path[0] = prepared.path0
        else:
            sys.path.insert(0, prepared.path0)
    sys.modules["__main__"] = prepared.module  # type: ignore[assignment]


def run(prepared: Prepared) -> Outcome:
    """Run the program to its end; never raises (except BaseExceptions of leakwatch's own).

    Creation stacks end here: the frames that started leakwatch are not the
    program's (see :func:`stacks.stop_at`)."""
    kept: Any = prepared.module
    previous = stacks.stop_at(run.__code__)
    try:
        if prepared.run_path is not None:
            kept = runpy.run_path(prepared.run_path, run_name="__main__")
        elif prepared.code is None:
            assert prepared.module is not None
            _recompile(prepared.module.__file__ or "")  # raises the compile error
        else:
            assert prepared.module is not None
            exec(prepared.code, prepared.module.__dict__)
    except SystemExit as exc:
        return Outcome(exit_status(exc.code), "exit", kept)
    except KeyboardInterrupt as exc:
        _print_uncaught(exc)
        return Outcome(INTERRUPTED, "interrupt", kept)
    except BaseException as exc:
        _print_uncaught(exc)
        return Outcome(1, "exception", kept)
    finally:
        stacks.stop_at(previous)
    return Outcome(0, "returned", kept)


def _recompile(path: str) -> None:
    with io.open_code(path) as f:
        compile(f.read(), path, "exec", dont_inherit=True)


def exit_status(code: Any) -> int:
    """What python exits with for ``SystemExit(code)``, printing a message code."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    try:
        sys.stderr.write(f"{code}\n")
        sys.stderr.flush()
    except Exception:  # a closed or broken stderr: the status still stands
        pass
    return 1


def _print_uncaught(exc: BaseException) -> None:
    """Print as python prints an uncaught exception, then let go of its frames.

    The leading frames of leakwatch and runpy are dropped so the traceback
    starts in the program, as under ``python``.  The frames are cleared once
    printed: a traceback pins locals, and a socket only the failed frame held
    is not a leak of the program (it would be closed at interpreter exit).
    """
    tb = exc.__traceback__
    while tb is not None and is_runner_file(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    exc.__traceback__ = tb
    try:
        sys.excepthook(type(exc), exc, tb)
    except Exception:
        traceback.print_exception(type(exc), exc, tb)
    _clear(exc)


def is_runner_file(filename: str) -> bool:
    """A frame of leakwatch or runpy: above the program, never shown as its own."""
    return (
        filename.startswith(_HERE)
        or os.path.splitext(filename)[0] == _RUNPY
        or filename == "<frozen runpy>"
    )


def strip_runner_frames(origin: Origin) -> Origin:
    """An origin without the launcher's frames on top (runpy, under ``python -m
    leakwatch``): the same leak has the same origin, and the same baseline
    signature, however leakwatch was started."""
    start = 0
    while start < len(origin) and is_runner_file(origin[start].filename):
        start += 1
    return origin[start:]


def _clear(exc: BaseException) -> None:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if e.__traceback__ is not None:
            traceback.clear_frames(e.__traceback__)
        todo += [e.__cause__, e.__context__]
