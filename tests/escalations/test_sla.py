"""Stage SLAs in business time: working hours of the region, and the clock measured per account."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from include.onboarding.config import OnboardingConfig, Stage, load_config
from include.onboarding.escalations import measure

pytestmark = pytest.mark.unit

ET = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def config() -> OnboardingConfig:
    return load_config()


def test_business_hours_slas_count_working_hours(config: OnboardingConfig) -> None:
    smb = config.tiers["smb"]
    intake = smb.stage(Stage.INTAKE)
    assert intake is not None and intake.sla_seconds(config.settings.regions["NA"].business_hours) == 4 * 3600
    handoff = config.tiers["enterprise"].stage(Stage.HANDOFF)
    assert handoff is not None and handoff.sla_seconds(config.settings.regions["NA"].business_hours) == 16 * 3600


def account(stage: str, entered: datetime, target: str = "2026-12-30", **more: object) -> dict[str, object]:
    """One open enterprise account in NA as :func:`load_open` reads it."""
    return {
        "id": 1, "onboarding_key": "hubspot-1", "account_name": "Kestrel", "tier": "enterprise", "region": "NA",
        "stage": stage, "stage_owner_email": "priya.shah@example.com", "owner_email": "priya.shah@example.com",
        "run_id": None, "blocked_reason": None, "stage_entered_at": pd.Timestamp(entered).tz_convert("UTC"),
        "activation_target": int(np.datetime64(target, "D").astype("int64")), "paused_at": pd.NaT, "resumed_at": pd.NaT,
        "heard_at": pd.NaT, **more,
    }  # fmt: skip


def frame(*accounts: dict[str, object]) -> pd.DataFrame:
    data = pd.DataFrame(list(accounts))
    for column in ("stage_entered_at", "paused_at", "resumed_at", "heard_at"):
        data[column] = pd.to_datetime(data[column], utc=True)
    data["activation_target"] = (
        data["activation_target"].astype("int64").to_numpy().astype("datetime64[D]")
    )  # as load_open
    return data


def test_the_stage_clock_counts_business_hours_across_a_holiday(config: OnboardingConfig) -> None:
    # Handoff (2 business days) entered Wednesday 25 Nov 10:00; Thursday is Thanksgiving.
    # Friday 18:00: Wed 7 h + Fri 8 h = 15 working hours of 16.
    (row,) = measure(
        frame(account("handoff", datetime(2026, 11, 25, 10, tzinfo=ET))), config, datetime(2026, 11, 27, 18, tzinfo=ET)
    ).to_dict("records")
    assert row["sla_seconds"] == 16 * 3600 and row["elapsed_seconds"] == 15 * 3600
    assert row["sla_percent"] == pytest.approx(93.75)
    assert row["day_seconds"] == 8 * 3600


def test_the_customers_turn_is_taken_out_where_the_tier_pauses_the_clock(config: OnboardingConfig) -> None:
    entered = datetime(2026, 11, 16, 10, tzinfo=ET)  # collect_inputs, Monday
    waiting = account(
        "collect_inputs", entered, paused_at=pd.Timestamp(datetime(2026, 11, 17, 10, tzinfo=ET)), resumed_at=pd.NaT
    )
    (row,) = measure(frame(waiting), config, datetime(2026, 11, 20, 17, tzinfo=ET)).to_dict("records")
    assert row["pauses"] and row["elapsed_seconds"] == 8 * 3600  # only Monday 10:00 to Tuesday 10:00 counts
    assert row["quiet_seconds"] == 4 * 8 * 3600 - 1 * 3600  # Tue 10-17, Wed, Thu, Fri: silent since the request
