"""The clock every business decision reads.

Task logic never calls ``datetime.now()`` directly: SLAs, targets and audit
timestamps come from a :class:`Clock`, so tests and demos can fix or move time.
``ONBOARDING_CLOCK`` selects it for a whole deployment:

* unset or ``system``: wall-clock UTC;
* ``fixed:2026-11-24T09:00:00+00:00``: time stands still at that instant;
* ``accelerated:<business start>@<wall start>x<factor>``, e.g.
  ``accelerated:2026-11-02T08:00:00+00:00@2026-11-24T10:00:00+00:00x2880``:
  business time starts at the first instant when the wall clock reads the
  second, and runs ``factor`` times faster (2880: a 30-day month in 15 minutes).
  Every process of a deployment (scheduler, workers, triggerer, the sandbox)
  must be given the same value, so they all agree on the time.

Airflow itself (schedules, poke intervals, timeouts, Deadline Alerts) runs on
the wall clock; :func:`wall_seconds` and :meth:`AcceleratedClock.to_wall`
translate business durations and instants for it.
"""

from __future__ import annotations

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


class AcceleratedClock:
    """Business time that runs ``factor`` times faster than the wall clock (demos)."""

    def __init__(self, start: datetime, wall_start: datetime, factor: float):
        if start.tzinfo is None or wall_start.tzinfo is None:
            raise ValueError("AcceleratedClock needs timezone-aware datetimes")
        if factor <= 0:
            raise ValueError(f"AcceleratedClock: the factor must be positive, not {factor}")
        self.start, self.wall_start, self.factor = start, wall_start, factor

    def now(self) -> datetime:
        return self.start + (datetime.now(timezone.utc) - self.wall_start) * self.factor

    def to_wall(self, at: datetime) -> datetime:
        """The wall-clock instant at which this clock reads ``at``."""
        return self.wall_start + (at - self.start) / self.factor

    def from_wall(self, at: datetime) -> datetime:
        """What this clock reads at the wall-clock instant ``at``."""
        return self.start + (at - self.wall_start) * self.factor

    def spec(self) -> str:
        return f"accelerated:{self.start.isoformat()}@{self.wall_start.isoformat()}x{self.factor:g}"


def _aware(text: str) -> datetime:
    at = datetime.fromisoformat(text.strip())
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def parse_clock(spec: str) -> Clock:
    """The clock an ``ONBOARDING_CLOCK`` value describes."""
    spec = spec.strip()
    if spec in ("", "system"):
        return SystemClock()
    if spec.startswith("fixed:"):
        return FixedClock(_aware(spec.removeprefix("fixed:")))
    if spec.startswith("accelerated:"):
        try:
            start, rest = spec.removeprefix("accelerated:").split("@", 1)
            wall, factor = rest.rsplit("x", 1)
            return AcceleratedClock(_aware(start), _aware(wall), float(factor))
        except ValueError as exc:
            raise ValueError(
                f"ONBOARDING_CLOCK: cannot read {spec!r} ({exc}); expected "
                "'accelerated:<business start ISO>@<wall start ISO>x<factor>'"
            ) from None
    raise ValueError(
        f"ONBOARDING_CLOCK: unknown clock {spec!r} (use 'system', 'fixed:<ISO timestamp>' or 'accelerated:...')"
    )


def default_clock() -> Clock:
    from include.onboarding.config import clock_spec

    return parse_clock(clock_spec())


def speed(clock: Clock | None = None) -> float:
    """How many business seconds pass per wall-clock second (1 unless accelerated)."""
    clock = clock if clock is not None else default_clock()
    return clock.factor if isinstance(clock, AcceleratedClock) else 1.0


def wall_seconds(business_seconds: float, floor: float = 0.0) -> float:
    """A business-time duration as Airflow must wait it on the wall clock (at least ``floor``)."""
    return max(business_seconds / speed(), floor)


def to_wall(at: datetime) -> datetime:
    """The wall-clock instant at which the deployment's clock reads ``at``."""
    clock = default_clock()
    return clock.to_wall(at) if isinstance(clock, AcceleratedClock) else at


def from_wall(at: datetime) -> datetime:
    """What the deployment's clock reads at the wall-clock instant ``at`` (Airflow's dates are wall time)."""
    clock = default_clock()
    return clock.from_wall(at) if isinstance(clock, AcceleratedClock) else at
