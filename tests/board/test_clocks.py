"""The board's clocks as instants: worked out by hand, and in agreement with the escalation pass's measure.

NA, enterprise tier (New York business hours 09:00-17:00, one business day = 8 h; Thursday
26 Nov 2026 is Thanksgiving, Friday 25 Dec Christmas).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from include.board.clocks import instants
from include.onboarding.calendar import region_working_time
from include.onboarding.config import OnboardingConfig, load_config
from include.onboarding.escalations import measure
from include.onboarding.escalations.sla import target_end
from tests.escalations.test_sla import account, frame

pytestmark = pytest.mark.unit

ET = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def config() -> OnboardingConfig:
    return load_config()


def _et(month: int, day: int, hour: int) -> pd.Timestamp:
    return pd.Timestamp(datetime(2026, month, day, hour, tzinfo=ET)).tz_convert("UTC")


def _one(config: OnboardingConfig, **row: object) -> dict[str, object]:
    (out,) = instants(frame(account(**row)), config).to_dict("records")  # type: ignore[arg-type]
    return out


def test_a_running_clock_is_due_when_its_sla_runs_out_in_business_time(config: OnboardingConfig) -> None:
    # Handoff (2 business days) from Wed 25 Nov 10:00: Wed 7 h, Thursday is Thanksgiving, Fri 8 h, Mon 1 h.
    out = _one(config, stage="handoff", entered=_et(11, 25, 10), target="2026-12-01")
    assert out["sla_due_at"] == _et(11, 30, 10)
    # Nothing comes after handoff: at risk only once the target day (Tue 1 Dec) is over and it is not live.
    assert out["risk_from"] == _et(12, 1, 17)
    assert out["attention_at"] == _et(11, 30, 10)
    assert out["clock_started_at"] == _et(11, 25, 10) and out["clock_offset_seconds"] == 0


def test_an_account_whose_remaining_slas_cannot_fit_is_at_risk_from_the_start(config: OnboardingConfig) -> None:
    # customer_communication (1 day) from Mon 30 Nov 09:00, then handoff (2 days), target Tue 1 Dec:
    # the last moment it could end and still make Tue 17:00 is Mon 09:00, before its SLA runs out.
    out = _one(config, stage="customer_communication", entered=_et(11, 30, 9), target="2026-12-01")
    assert out["sla_due_at"] == _et(11, 30, 17)
    assert out["risk_from"] == _et(11, 30, 9) == out["attention_at"]


def test_the_customer_s_turn_stops_the_clock(config: OnboardingConfig) -> None:
    # collect_inputs (10 days, paused on the customer) from Mon 16 Nov 09:00, checklist out at 13:00:
    # 4 h ran, 76 h are left while the customer has it.  The rest of the path needs 14 days (112 h):
    # 188 h = 23.5 days before Wed 30 Dec 17:00 (Christmas and Thanksgiving skipped) is Wed 25 Nov 13:00.
    out = _one(config, stage="collect_inputs", entered=_et(11, 16, 9), target="2026-12-30",
               paused_at=_et(11, 16, 13))  # fmt: skip
    assert pd.isna(out["sla_due_at"]) and pd.isna(out["clock_started_at"]) and out["clock_offset_seconds"] == 4 * 3600
    assert out["risk_from"] == _et(11, 25, 13) == out["attention_at"]


def test_the_clock_runs_on_from_where_the_customer_answered(config: OnboardingConfig) -> None:
    # As above, the last critical input verified Wed 18 Nov 11:00: 76 h from then, Thanksgiving skipped,
    # end Wed 2 Dec 15:00.
    out = _one(config, stage="collect_inputs", entered=_et(11, 16, 9), target="2026-12-30",
               paused_at=_et(11, 16, 13), resumed_at=_et(11, 18, 11))  # fmt: skip
    assert out["sla_due_at"] == _et(12, 2, 15)
    assert out["clock_started_at"] == _et(11, 18, 11) and out["clock_offset_seconds"] == 4 * 3600


def test_a_clock_that_ran_out_before_the_customer_s_turn_stays_past_it(config: OnboardingConfig) -> None:
    # collect_inputs (10 days) from Mon 2 Nov 09:00, the checklist sent only on Wed 18 Nov 09:00: 11 business
    # days had run (Veterans Day, Wed 11 Nov, skipped), so the SLA ran out Mon 16 Nov 17:00 and stays run out.
    out = _one(config, stage="collect_inputs", entered=_et(11, 2, 9), target="2026-12-30", paused_at=_et(11, 18, 9))
    assert out["sla_due_at"] == _et(11, 16, 17)
    assert out["clock_offset_seconds"] == 11 * 8 * 3600 and pd.isna(out["clock_started_at"])


def test_a_stage_nobody_plans_needs_attention_from_the_moment_it_was_entered(config: OnboardingConfig) -> None:
    out = _one(config, stage="handoff", entered=_et(11, 25, 10), tier="retired_tier")
    assert pd.isna(out["sla_due_at"]) and pd.isna(out["risk_from"]) and out["attention_at"] == _et(11, 25, 10)


def test_back_is_the_mirror_of_elapsed(config: OnboardingConfig) -> None:
    rng = np.random.default_rng(3)
    for region in config.settings.regions.values():
        wt = region_working_time(region)
        ends = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, 700, 2000), unit="D")
        need = np.concatenate([[0.0, 28800.0, 57600.0], rng.uniform(0, 40 * 28800, 1997)])
        starts = wt.back(ends, need)
        assert np.abs(wt.elapsed(starts, ends) - need).max() <= 1.0  # to the second
        later = wt.elapsed(starts + pd.Timedelta(seconds=1), ends)
        assert not ((need > 0) & (later >= need)).any()  # the latest such instant


def test_past_sla_and_at_risk_agree_with_the_escalation_pass(config: OnboardingConfig) -> None:
    """At any moment, ``now >= sla_due_at`` is the pass's elapsed >= SLA, and ``now >= risk_from`` its
    needed > left (but for a last stage past its SLA with its target day over: late, so at risk here)."""
    rng = random.Random(5)
    stages = ["intake", "collect_inputs", "approvals", "setup", "provisioning", "customer_communication", "handoff"]
    base = datetime(2026, 11, 2, 8, tzinfo=timezone.utc)
    rows = []
    for i in range(400):
        tier = rng.choice(sorted(config.tiers))
        entered = base + timedelta(hours=rng.uniform(0, 24 * 40))
        stage = rng.choice(stages)
        paused = entered + timedelta(hours=rng.uniform(-20, 60)) if rng.random() < 0.6 else None
        resumed = paused + timedelta(hours=rng.uniform(1, 200)) if paused and rng.random() < 0.5 else None
        target = (entered + timedelta(days=rng.uniform(-5, 45))).date().isoformat()
        rows.append(account(stage, entered, target, id=i + 1, tier=tier, region=rng.choice(["NA", "EMEA", "APAC"]),
                            paused_at=pd.Timestamp(paused) if paused else pd.NaT,
                            resumed_at=pd.Timestamp(resumed) if resumed else pd.NaT))  # fmt: skip
    accounts = frame(*rows)
    clocks = instants(accounts, config)
    for days in (1, 9, 23, 47):
        now = base + timedelta(days=days, hours=rng.uniform(0, 24))
        m = measure(accounts, config, now).merge(clocks, on="id")
        stamp = pd.Timestamp(now)
        compared = m["planned"].astype(bool) & (m["stage_entered_at"] <= stamp)  # stages already entered
        past = m["sla_due_at"] <= stamp
        assert (past == (m["sla_percent"] >= 100))[compared].all()
        risky = m["risk_from"] <= stamp
        target_over = pd.Series(False, index=m.index)
        for region, part in m.groupby("region"):
            wt = region_working_time(config.settings.regions[str(region)])
            target_over[part.index] = target_end(wt, part["activation_target"]) < stamp
        late_last_stage = (m["later_seconds"] == 0) & (m["sla_percent"] >= 100) & target_over
        expected = (m["needed_seconds"] > m["left_seconds"]) | late_last_stage
        assert (risky == expected)[compared].all()


def test_the_figures_a_page_shows_are_the_escalation_pass_s(config: OnboardingConfig) -> None:
    """From the stored instants alone, the elapsed time, SLA share and days to target the pass measures."""
    from include.board.clocks import figures

    rng = random.Random(11)
    base = datetime(2026, 11, 2, 8, tzinfo=timezone.utc)
    rows = []
    for i in range(300):
        entered = base + timedelta(hours=rng.uniform(0, 24 * 20))
        paused = entered + timedelta(hours=rng.uniform(0, 30)) if rng.random() < 0.5 else None
        resumed = paused + timedelta(hours=rng.uniform(1, 100)) if paused and rng.random() < 0.5 else None
        rows.append(account(rng.choice(["collect_inputs", "approvals", "setup", "handoff"]), entered,
                            (entered + timedelta(days=rng.uniform(-3, 40))).date().isoformat(), id=i + 1,
                            tier=rng.choice(sorted(config.tiers)), region=rng.choice(["NA", "EMEA", "APAC"]),
                            paused_at=pd.Timestamp(paused) if paused else pd.NaT,
                            resumed_at=pd.Timestamp(resumed) if resumed else pd.NaT))  # fmt: skip
    accounts = frame(*rows)
    stored = accounts.merge(instants(accounts, config), on="id")
    now = base + timedelta(days=24, hours=5)
    stored = stored[stored["stage_entered_at"] <= pd.Timestamp(now)]
    measured = measure(stored, config, now).set_index("id")
    page = [
        {"id": r["id"], "tier": r["tier"], "region": r["region"], "stage": r["stage"],
         "activation_target": r["activation_target"],
         "clock_started_at": None if pd.isna(r["clock_started_at"]) else r["clock_started_at"].to_pydatetime(),
         "clock_offset_seconds": r["clock_offset_seconds"]}
        for r in stored.to_dict("records")
    ]  # fmt: skip
    shown = figures(page, config, now)
    for oid, f in shown.items():
        m = measured.loc[oid]
        assert f["elapsed_seconds"] == pytest.approx(m["elapsed_seconds"], abs=2.0), oid
        assert f["business_days_to_target"] == m["business_days_to_target"]
        assert f["stopped"] == (bool(m["pauses"]) and pd.notna(m["paused_at"]) and pd.isna(m["resumed_at"]))
