"""Stage SLAs in business time, measured for every open account at once.

:func:`load_open` reads every open onboarding with what its clock needs in one
query; :func:`measure` adds, vectorised per region on the region's holiday
calendar, the business time spent in the stage (the customer's turn taken
out where the tier pauses the clock for it), the business time the rest of
the path needs and the business time left before the activation target.
:func:`breach_times` says when a clock reached a given share of its SLA.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
import pandas as pd

from include.onboarding.calendar import WorkingTime, as_utc, by_region, utc_ns
from include.onboarding.config import OnboardingConfig
from include.onboarding.constants import SETTLED_SQL, AccountStatus
from include.onboarding.store import SCHEMA, Store


def customer_pause_join(only_while_collecting: bool = False) -> str:
    """SQL joining ``paused_at`` and ``resumed_at`` to the accounts aliased ``o``.

    The customer's turn: from the checklist request until the last critical
    input was verified (``resumed_at`` is empty while one is still out).
    ``heard_at`` is the customer's last submission of any item: a corrected
    input sent after a rejection counts, not only the first of each item.
    """
    only = "AND o.stage = 'collect_inputs'" if only_while_collecting else ""
    return f"""LEFT JOIN LATERAL (
    SELECT min(c.requested_at) AS paused_at, max(coalesce(c.last_submission_at, c.received_at)) AS heard_at,
           CASE WHEN bool_and(c.status IN {SETTLED_SQL}) FILTER (WHERE c.critical) IS NOT FALSE
                THEN coalesce(max(c.verified_at) FILTER (WHERE c.critical), min(c.requested_at)) END AS resumed_at
    FROM {SCHEMA}.checklist_items c
    WHERE c.onboarding_id = o.id {only}
) p ON true"""


_OPEN_SQL = f"""
SELECT o.id, o.onboarding_key, o.account_name, o.tier, o.region, o.stage,
       o.stage_owner_email, o.owner_email, o.run_id, o.blocked_reason,
       -- Instants as epoch seconds and the target as a day number: pandas converts them in bulk.
       extract(epoch FROM o.stage_entered_at)::float8 AS stage_entered_at,
       o.activation_target - DATE '1970-01-01' AS activation_target,
       extract(epoch FROM p.paused_at)::float8 AS paused_at,
       extract(epoch FROM p.resumed_at)::float8 AS resumed_at,
       extract(epoch FROM p.heard_at)::float8 AS heard_at
FROM {SCHEMA}.onboardings o
{customer_pause_join(only_while_collecting=True)}
WHERE o.status = '{AccountStatus.OPEN}'
"""


def load_open(store: Store, onboarding_key: str | None = None, ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Every open onboarding (or the one ``onboarding_key`` names, or those with ``ids``) with what its clock needs."""
    if onboarding_key is not None:
        frame = store.frame(_OPEN_SQL + " AND o.onboarding_key = %s", (onboarding_key,))
    elif ids is not None:
        frame = store.frame(_OPEN_SQL + " AND o.id = ANY(%s)", (list(ids),))
    else:
        frame = store.frame(_OPEN_SQL)
    for column in ("stage_entered_at", "paused_at", "resumed_at", "heard_at"):
        frame[column] = pd.to_datetime(frame[column].astype("float64"), unit="s", utc=True)
    frame["activation_target"] = frame["activation_target"].astype("int64").to_numpy().astype("datetime64[D]")
    return frame


@dataclass(frozen=True)
class _StagePlan:
    """Per (tier, region, stage): SLA, pausing, and the work the later stages still need."""

    sla_seconds: float
    pauses: bool
    later_seconds: float
    sla_text: str


def stage_plans(config: OnboardingConfig) -> dict[tuple[str, str, str], _StagePlan]:
    plans: dict[tuple[str, str, str], _StagePlan] = {}
    for tier in config.tiers.values():
        for region in tier.regions:
            hours = config.settings.regions[region].business_hours
            seconds = [s.sla_seconds(hours) for s in tier.stages]
            for i, stage in enumerate(tier.stages):
                plans[(tier.key, region, stage.key.value)] = _StagePlan(
                    seconds[i], stage.clock_pauses_on_customer, float(sum(seconds[i + 1 :])), stage.describe_sla()
                )
    return plans


def measure(frame: pd.DataFrame, config: OnboardingConfig, now: datetime) -> pd.DataFrame:
    """Add each account's SLA clock and forecast to ``frame`` (vectorised per region).

    Columns added: ``sla_seconds``, ``elapsed_seconds`` (business time in the
    stage, customer pauses taken out), ``sla_percent``, ``needed_seconds``
    (business time the rest of the path needs), ``left_seconds`` (business time
    until the end of the target day), ``day_seconds``, ``business_days_to_target``,
    ``quiet_since`` and ``quiet_seconds`` (while the customer's critical inputs
    are out: since the checklist request or the customer's last submission,
    whichever is later, and the business time that has passed since).
    """
    plans = pd.DataFrame(
        [
            {"tier": t, "region": r, "stage": st, "planned": True, "sla_seconds": p.sla_seconds,
             "later_seconds": p.later_seconds, "pauses": p.pauses, "sla_text": p.sla_text}
            for (t, r, st), p in stage_plans(config).items()
        ]
    )  # fmt: skip
    frame = frame.reset_index(drop=True).merge(plans, how="left", on=["tier", "region", "stage"])
    frame["planned"] = frame["planned"].eq(True)
    frame["pauses"] = frame["pauses"].eq(True)
    frame["sla_text"] = frame["sla_text"].fillna("")
    for column in ("elapsed_seconds", "left_seconds", "day_seconds", "business_days_to_target", "quiet_seconds"):
        frame[column] = np.nan
    waiting = frame["paused_at"].notna() & frame["resumed_at"].isna()
    frame["quiet_since"] = frame[["paused_at", "heard_at"]].max(axis=1).where(waiting)
    now_ts = pd.Timestamp(now).tz_convert("UTC")
    for index, part, _, wt in by_region(frame, config.settings.regions):
        nows = pd.DatetimeIndex([now_ts] * len(part))
        # The customer's turn does not count where the tier pauses the stage clock for it.
        pause_start = part["paused_at"].where(part["pauses"].to_numpy(dtype=bool))
        frame.loc[index, "elapsed_seconds"] = wt.elapsed_outside(
            part["stage_entered_at"], nows, pause_start, part["resumed_at"]
        )
        frame.loc[index, "left_seconds"] = wt.elapsed(nows, target_end(wt, part["activation_target"]))
        quiet_since = frame.loc[index, "quiet_since"]
        frame.loc[index, "quiet_seconds"] = np.where(
            quiet_since.notna(), wt.elapsed(quiet_since.fillna(now_ts), nows), np.nan
        )
        frame.loc[index, "day_seconds"] = float(wt.day_seconds)
        today = wt.local_dates(nows)
        targets = np.asarray(part["activation_target"].to_numpy(), dtype="datetime64[D]")
        days = wt.business_days_until(today, targets + np.timedelta64(1, "D"))
        frame.loc[index, "business_days_to_target"] = np.where(
            targets >= today, days, -wt.business_days_until(targets + np.timedelta64(1, "D"), today + 1)
        )
    frame["sla_percent"] = frame["elapsed_seconds"] / frame["sla_seconds"] * 100.0
    frame["needed_seconds"] = np.maximum(frame["sla_seconds"] - frame["elapsed_seconds"], 0.0) + frame["later_seconds"]
    return frame


def target_end(wt: WorkingTime, targets: pd.Series) -> pd.DatetimeIndex:
    """The close of business on each activation target day, in UTC."""
    days = np.asarray(targets.to_numpy(), dtype="datetime64[D]").astype("datetime64[s]")
    local = days + np.timedelta64(int(wt.close), "s")
    utc = pd.DatetimeIndex(local).tz_localize(wt.tz, ambiguous="NaT", nonexistent="shift_forward").tz_convert("UTC")
    return cast(pd.DatetimeIndex, utc)


def breach_times(frame: pd.DataFrame, config: OnboardingConfig, percent: float) -> pd.Series:
    """When each account's stage clock reached ``percent`` of its SLA (pauses accounted for)."""
    out = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    for index, part, _, wt in by_region(frame, config.settings.regions):
        need = part["sla_seconds"].to_numpy() * percent / 100.0
        entered = pd.DatetimeIndex(part["stage_entered_at"])
        straight = wt.add(entered, need)
        has_pause = part["pauses"].to_numpy(dtype=bool) & part["paused_at"].notna().to_numpy()
        if has_pause.any():
            p0 = pd.DatetimeIndex(part["paused_at"].where(has_pause, entered))
            p0 = as_utc(np.maximum(utc_ns(p0), utc_ns(entered)))
            before = wt.elapsed(entered, p0)
            resumed = pd.DatetimeIndex(part["resumed_at"].where(part["resumed_at"].notna(), part["stage_entered_at"]))
            after = wt.add(resumed, np.maximum(need - before, 0.0))
            use_after = has_pause & (need > before) & part["resumed_at"].notna().to_numpy()
            values = np.where(use_after, utc_ns(after), utc_ns(straight))
        else:
            values = utc_ns(straight)
        out.loc[index] = as_utc(values).round("us")
    return cast("pd.Series[Any]", out)
