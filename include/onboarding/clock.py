"""The clock every business decision reads.

Task logic never calls ``datetime.now()`` directly: SLAs, targets and audit
timestamps come from a :class:`Clock`, so tests and demos can fix or move time.
``ONBOARDING_CLOCK`` selects it for a whole deployment:

* unset or ``system``: wall-clock UTC;
* ``fixed:2026-11-24T09:00:00+00:00``: time stands still at that instant.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that only moves when told to (tests, replays)."""

    def __init__(self, at: datetime):
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._now = at

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, at: datetime) -> None:
        self._now = at


def default_clock() -> Clock:
    spec = os.environ.get("ONBOARDING_CLOCK", "system").strip()
    if spec in ("", "system"):
        return SystemClock()
    if spec.startswith("fixed:"):
        at = datetime.fromisoformat(spec.removeprefix("fixed:"))
        return FixedClock(at if at.tzinfo else at.replace(tzinfo=timezone.utc))
    raise ValueError(f"ONBOARDING_CLOCK: unknown clock {spec!r} (use 'system' or 'fixed:<ISO timestamp>')")
