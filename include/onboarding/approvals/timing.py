"""When an approval is due and when its request expires, in business time of the account's region.

Two instants, both on the region's holiday calendar and working hours:

* **due**: the end of the approvals stage's SLA, counted from when the account
  entered the stage (the escalation pass measures the same clock);
* **expires**: the request's own limit, counted from when it was asked
  (``approvals[].timeout_business_days``, else ``runs.approval_timeout_business_days``).

Airflow waits on the wall clock, so the expiry is also given as the wall-clock
time Airflow waits (the same unless the deployment's clock is accelerated).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from include.onboarding.calendar import region_working_time
from include.onboarding.clock import AcceleratedClock, Clock
from include.onboarding.config import Approval, OnboardingConfig, Stage, TierConfig

MIN_WAIT = timedelta(seconds=1)


@dataclass(frozen=True)
class Timing:
    requested_at: datetime
    due_at: datetime
    sla_text: str
    expires_at: datetime
    timeout_text: str
    timezone: str
    wall_timeout: timedelta
    """How long Airflow waits for the answer on the wall clock."""

    def local(self, at: datetime) -> str:
        """``at`` as the approver reads it: the region's local time, with the zone named."""
        from zoneinfo import ZoneInfo

        return f"{at.astimezone(ZoneInfo(self.timezone)):%a %d %b %Y %H:%M} ({self.timezone})"


def _after(config: OnboardingConfig, region: str, start: datetime, business_seconds: float) -> datetime:
    working = region_working_time(config.settings.regions[region])
    instant = working.add([start], [business_seconds])[0]
    return datetime.fromtimestamp(instant.timestamp(), tz=timezone.utc)


def timeout_business_days(config: OnboardingConfig, approval: Approval) -> float:
    return approval.timeout_business_days or config.settings.runs.approval_timeout_business_days


def wall_wait(clock: Clock, until: datetime) -> timedelta:
    """How long, on the wall clock, until ``clock`` reads ``until`` (at least a second)."""
    wall_until = clock.to_wall(until) if isinstance(clock, AcceleratedClock) else until
    return max(wall_until - datetime.now(timezone.utc), MIN_WAIT)


def timing(
    config: OnboardingConfig,
    tier: TierConfig,
    approval: Approval,
    region: str,
    stage_entered_at: datetime,
    now: datetime,
    clock: Clock,
) -> Timing:
    """The request's deadlines when it is asked at ``now`` (business time) for an account of ``region``."""
    hours = config.settings.regions[region].business_hours
    stage = tier.stage(Stage.APPROVALS)
    if stage is None:  # a tier without the stage cannot have approvals (config validation); keep the request usable
        due, sla_text = now, "no SLA configured"
    else:
        due, sla_text = _after(config, region, stage_entered_at, stage.sla_seconds(hours)), stage.describe_sla()
    days = timeout_business_days(config, approval)
    expires = _after(config, region, now, days * hours.day_seconds)
    return Timing(
        requested_at=now,
        due_at=due,
        sla_text=sla_text,
        expires_at=expires,
        timeout_text=f"{days:g} business days",
        timezone=config.settings.regions[region].timezone,
        wall_timeout=wall_wait(clock, expires),
    )
