"""Small helpers for stopping processes: signal a set, wait until it is gone, kill what is left."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable

import psutil


def gone(proc: psutil.Process) -> bool:
    """True once ``proc`` has exited (a zombie counts as exited, and is reaped if it is our child)."""
    try:
        if not proc.is_running():  # exited, or its pid now belongs to another process
            return True
        if proc.status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    with contextlib.suppress(ChildProcessError):
        os.waitpid(proc.pid, os.WNOHANG)
    return True


def send(procs: Iterable[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):  # gone already, or its pid reused: not ours to signal
            proc.send_signal(sig)


def wait_gone(procs: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every one has exited, at most ``timeout`` seconds; return those still running."""
    left = list(procs)
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in left if not gone(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def terminate(procs: Iterable[psutil.Process], timeout: float) -> None:
    """SIGTERM, up to ``timeout`` seconds to exit, then SIGKILL."""
    procs = list(procs)
    send(procs, signal.SIGTERM)
    kill(wait_gone(procs, timeout))


def kill(procs: Iterable[psutil.Process]) -> None:
    procs = list(procs)
    send(procs, signal.SIGKILL)
    wait_gone(procs, 5)
