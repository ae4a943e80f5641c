"""Ctrl-C, SIGTERM and SIGHUP for a process that starts others: stop them all, then exit.

:func:`install` turns the first of these signals into :class:`Interrupted`, raised
in the main thread wherever it happens to be, so the ``finally`` clause that stops
what was started runs.  That clause sets ``guard.cleaning = True`` first; from then
on signals are only reported ("still stopping"), so a second Ctrl-C cannot cut the
cleanup short and leave processes behind.  :meth:`Guard.exit_if_interrupted` ends
the process with the shell's status for the signal: 130 for SIGINT, 143 for SIGTERM.

:func:`deferred` marks a short stretch that a signal must not cut in two, such as
starting a process and writing down its pid: a signal that arrives inside it is
raised when the stretch ends.  Without an installed guard it does nothing.

Signals ignored when the process started (``nohup`` ignores SIGHUP, a shell ignores
SIGINT for background jobs) stay ignored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """A signal asked the process to stop.  Not an ``Exception``: ``except Exception`` lets it through."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _notice(message: str) -> None:
    """Write a line from a signal handler: unbuffered, and never fails (the terminal may be gone)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no stderr at all, or a closed one
        os.write(sys.stderr.fileno(), f"{message}\n".encode())


class Guard:
    """What :func:`install` installed: the first signal received, and whether cleanup has begun."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.signum: int | None = None
        self.cleaning = False  # set by the caller, as a plain assignment, first thing in its cleanup
        self._deferred = 0
        self._pending = False

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @property
    def exit_status(self) -> int:
        return 128 + self.signum if self.signum is not None else 0

    def exit_if_interrupted(self) -> None:
        """After the cleanup: exit with 128 + the signal's number if one was received.

        Further signals are ignored from here on: at shutdown Python puts back the default
        handlers, and one more Ctrl-C would end the process by the signal instead.
        """
        if self.signum is not None:
            for sig in SIGNALS:
                if signal.getsignal(sig) == self._handle:
                    signal.signal(sig, signal.SIG_IGN)
            raise SystemExit(self.exit_status)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        name = signal.Signals(signum).name
        if not first:
            _notice(f"==> {name}: still stopping {self.what}; this takes a few seconds")
        elif self._deferred and not self.cleaning:
            _notice(f"==> {name}: stopping {self.what} in a moment")
        else:
            _notice(f"==> {name}: stopping {self.what}")
        if self._deferred:
            self._pending = True
        elif not self.cleaning:
            # Raised again for every signal until the cleanup begins, so that code which
            # swallowed the first one cannot keep the process running.
            raise Interrupted(self.signum or signum)


_guard: Guard | None = None


def install(what: str = "everything this process started") -> Guard:
    """Handle SIGINT, SIGTERM and SIGHUP as described above; call from the main thread."""
    global _guard
    guard = Guard(what)
    for sig in SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, guard._handle)
    _guard = guard
    return guard


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A stretch no signal cuts in two; one that arrives inside is raised at its end."""
    guard = _guard
    if guard is None:
        yield
        return
    guard._deferred += 1
    try:
        yield
    finally:
        guard._deferred -= 1
    if not guard._deferred and guard._pending and not guard.cleaning:
        guard._pending = False
        raise Interrupted(guard.signum or signal.SIGINT)
