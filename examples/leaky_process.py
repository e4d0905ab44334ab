"""Leaks a child process: started, never waited for (it ends when we close its stdin).

leakwatch run examples/leaky_process.py
"""

from __future__ import annotations

import subprocess
import sys

CHILD = [sys.executable, "-c", "import sys; sys.stdin.read()"]


def spawn_worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen(CHILD, stdin=subprocess.PIPE)  # leaks: never waited for


if __name__ == "__main__":
    WORKER = spawn_worker()
    print("worker", WORKER.pid, "started")
