"""What psutil says where there is no ``/proc`` to read (macOS, the BSDs,
Windows): :mod:`leakwatch._base.platform` picks these when it must, and
says through its ``LIMITS`` what they cannot see.
"""

from __future__ import annotations

import os

import psutil


def fds() -> dict[int, str]:
    proc = psutil.Process()
    out: dict[int, str] = {}
    for f in proc.open_files():
        if f.fd >= 0:
            out[f.fd] = f.path
    try:
        conns = proc.net_connections(kind="all")
    except (psutil.AccessDenied, AttributeError):
        conns = []
    for c in conns:
        if c.fd >= 0:
            out[c.fd] = f"socket:[{c.fd}]"
    return out


def parent(pid: int) -> int | None:
    try:
        return int(psutil.Process(pid).ppid())
    except psutil.Error:
        return None


def unreaped(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() == psutil.STATUS_ZOMBIE and proc.ppid() == os.getpid()
    except psutil.Error:
        return False


def children() -> dict[int, int]:
    out: dict[int, int] = {}
    for child in psutil.Process().children(recursive=True):
        try:
            out[child.pid] = int(child.create_time() * 100)
        except psutil.Error:
            continue
    return out


def native_threads() -> set[int]:
    try:
        return {t.id for t in psutil.Process().threads()}
    except psutil.Error:
        return set()


def no_fds() -> dict[int, str]:
    return {}
