"""Headless Chromium for tests: take a screenshot of a page, dump its DOM.

Each call is one Chromium run with a throw-away profile, in its own process
group so that the browser and every helper process it forked are killed
together, on a timeout and after a normal exit alike: a test of a leak
detector must not leave processes behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = os.environ.get("LEAKWATCH_CHROMIUM", "/usr/bin/chromium")

# No network, no first-run UI, no background services: the page must render
# from the file alone.  --enable-logging=stderr puts console messages and
# uncaught errors on stderr as "...:CONSOLE(...)" lines.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def console(self) -> list[str]:
        """The page's console messages and uncaught errors, one per line."""
        return [line for line in self.stderr.splitlines() if ":CONSOLE" in line]


def available() -> bool:
    return os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)


def run(page: Path, *args: str, timeout: float = 60.0) -> Result:
    """Run Chromium once on a local page with extra flags and wait for it."""
    with tempfile.TemporaryDirectory(prefix="lw-chromium-", ignore_cleanup_errors=True) as profile:
        cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.communicate()
            raise
        finally:
            # The browser's own children (zygote, renderer, GPU) share its
            # group; kill what is left even when the browser exited cleanly.
            _kill_group(proc.pid)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return Result(proc.returncode, out, err)


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2000) -> Result:
    png.parent.mkdir(parents=True, exist_ok=True)
    return run(page, f"--screenshot={png.resolve()}", f"--window-size={width},{height}")


def dump_dom(page: Path) -> Result:
    """The DOM after the page's scripts ran, serialised on stdout."""
    return run(page, "--dump-dom")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
