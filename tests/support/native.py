"""Real native allocations for the native-memory tests: libc through ctypes, and a
small C extension (tests/native/leakext.c) built with the C compiler for this Python."""

from __future__ import annotations

import ctypes
import importlib.util
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "native" / "leakext.c"

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.free.restype = None

needs_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(libc, "mallinfo2"),
    reason="exact native counters need glibc's mallinfo2()",
)


def memray_installed() -> bool:
    return importlib.util.find_spec("memray") is not None


def build_extension(where: Path) -> Path:
    """Compile leakext into ``where`` (one direct compiler call); the .so's path."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    out = where / f"leakext{suffix}"
    include = sysconfig.get_paths()["include"]
    cmd = [cc, "-shared", "-fPIC", "-g", "-O1", f"-I{include}", str(SOURCE), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return out


def load_extension(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("leakext", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
