"""When an approval is due and when its request expires: business time on the region's calendar.

Worked out by hand on the NA calendar (09:00-17:00 New York time; Thursday
2026-11-26 is Thanksgiving).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from include.onboarding.approvals.timing import timing, wall_wait
from include.onboarding.clock import AcceleratedClock, FixedClock
from include.onboarding.config import OnboardingConfig, load_config

pytestmark = pytest.mark.unit

ET = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def config() -> OnboardingConfig:
    return load_config()


def test_due_and_expiry_skip_nights_weekends_and_holidays(config: OnboardingConfig) -> None:
    smb = config.tiers["smb"]
    asked = datetime(2026, 11, 25, 10, 0, tzinfo=ET)  # the Wednesday before Thanksgiving
    t = timing(config, smb, smb.approvals[0], "NA", asked, asked, FixedClock(asked))
    # SMB approvals: 1 business day = 8 working hours: 7 on Wednesday, Thursday is a holiday, 1 on Friday.
    assert t.due_at == datetime(2026, 11, 27, 10, 0, tzinfo=ET)
    assert t.sla_text == "1 business day"
    # 10 business days (runs.approval_timeout_business_days): Fri 27, then Mon 30 to Thu 10 Dec.
    assert t.expires_at == datetime(2026, 12, 10, 10, 0, tzinfo=ET)
    assert t.timeout_text == "10 business days"
    assert t.local(t.due_at) == "Fri 27 Nov 2026 10:00 (America/New_York)"


def test_the_due_time_counts_from_entering_the_stage_and_an_approval_may_expire_sooner(
    config: OnboardingConfig,
) -> None:
    partner = config.tiers["partner"]
    approval = partner.approvals[0].model_copy(update={"timeout_business_days": 0.5})
    entered = datetime(2026, 11, 23, 16, 0, tzinfo=ET)  # Monday 16:00: the stage clock started then
    asked = datetime(2026, 11, 24, 9, 0, tzinfo=ET)  # asked again the next morning
    t = timing(config, partner, approval, "NA", entered, asked, FixedClock(asked))
    assert t.due_at == datetime(2026, 11, 25, 16, 0, tzinfo=ET)  # 2 business days of the stage
    assert t.expires_at == datetime(2026, 11, 24, 13, 0, tzinfo=ET)  # half a business day after asking


def test_airflow_waits_the_business_time_divided_by_the_clocks_speed() -> None:
    now = datetime.now(timezone.utc)
    clock = AcceleratedClock(datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc), now, 720)
    wait = wall_wait(clock, clock.now() + timedelta(hours=8))
    assert timedelta(seconds=39) < wait <= timedelta(seconds=40)
    assert wall_wait(clock, clock.now() - timedelta(hours=1)) == timedelta(seconds=1)  # already past: a second
