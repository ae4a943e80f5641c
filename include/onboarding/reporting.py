"""Time-to-value metrics for leadership, from the onboarding store.

Every metric is a plain function from pandas frames to a pandas frame, so it
can be checked by hand on a small history; :func:`load` reads the frames from
the store and :func:`write` replaces one report date's rows in the
``reporting`` schema.  Definitions (also in the README):

* **time to first value**: signing to setup complete (the ``setup.completed`` event);
* **time to live**: signing to live;
* **calendar days**: elapsed time / 24 h; **business days**: the weekdays that
  are not public holidays in the account's region from the day after signing
  through the day it happened (signed Friday, live Monday = 1);
* **stage business days**: working time in the stage on the region's calendar
  and business hours, the unit of the stage SLAs;
* **SLA met**: a stage that ended within its SLA (customer pause taken out where
  the tier pauses the clock); a stage still open and already past it counts as missed;
* **escalation lag**: breach to escalation raised, and escalation raised to resolved;
* **exception-driven touches**: actions taken by people (approvals, manual
  decisions; any audit event whose actor is not the system) plus escalations;
* **where the days went**: each account's business time from signing to live
  (or to the report date) split into waiting on the customer, on internal
  approvals, failures and retries, setup and vendor work, and idle time
  between stages (:mod:`include.onboarding.time_split`), by tier and segment;
* **customer response**: business days (working time on the region's calendar)
  from the checklist request to the customer's first submission, from a
  rejected submission to the next submission of the same item, and from a
  reminder email sent to the account's next submission.

Reports are as of the end of the report date (or now, if earlier): accounts
signed later are left out, and what happened later does not count yet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, cast

import numpy as np
import pandas as pd

from include.onboarding import pilot_report, time_split
from include.onboarding.calendar import by_region, region_working_time
from include.onboarding.config import PILOT_FIELDS, OnboardingConfig, Region
from include.onboarding.constants import SETTLED
from include.onboarding.escalations import customer_pause_join
from include.onboarding.store import SCHEMA, Store

log = logging.getLogger(__name__)

REPORT_SCHEMA = "reporting"
ALL_WEEKS = date(1970, 1, 5)  # the "week" of the all-time rows in sla_attainment
DIMENSIONS = ("tier", "segment", "region", "cohort_month")


@dataclass
class History:
    """What the metrics read, one frame per table (see :func:`load`)."""

    onboardings: pd.DataFrame
    """With ``paused_at`` / ``resumed_at``: the customer's turn (see escalations.customer_pause_join)."""
    stage_history: pd.DataFrame
    checklist: pd.DataFrame
    escalations: pd.DataFrame
    events: pd.DataFrame  # per onboarding: first_value_at, manual_actions
    split_facts: pd.DataFrame = field(default_factory=pd.DataFrame)
    """The audit events :mod:`~include.onboarding.time_split` reads, one row per event (see :func:`load`)."""
    submissions: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Every submission of a checklist item: onboarding_id, item_key, submitted_at, verdict."""
    reminders: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Every reminder email sent to a customer: onboarding_id, sent_at."""
    baseline: pd.DataFrame = field(default_factory=pd.DataFrame)
    """The historical onboardings before the automation (``onboarding.baseline_onboardings``)."""
    order_fields: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Each onboarding's order fields a pilot rule can test, by ``id`` (tier, region and segment if absent)."""


def as_of(report_date: date, now: datetime) -> datetime:
    """End of the report date (UTC), or now if that is earlier."""
    end = datetime.combine(report_date + timedelta(days=1), time(0), tzinfo=timezone.utc)
    return min(end, now)


# --------------------------------------------------------------------------- loading


def load(store: Store, at: datetime) -> History:
    """Read the store as it stood at ``at`` (later accounts and later changes left out)."""
    p = {"at": at}
    onboardings = store.frame(
        f"""SELECT o.id, o.onboarding_key, o.account_name, o.tier, o.region, o.segment, o.status, o.stage,
                   o.stage_owner_email, o.owner_email, o.signed_at, o.activation_target, o.created_at,
                   o.stage_entered_at, o.blocked_reason, p.paused_at, p.resumed_at,
                   CASE WHEN o.live_at <= %(at)s THEN o.live_at END AS live_at
            FROM {SCHEMA}.onboardings o {customer_pause_join()}
            WHERE o.created_at <= %(at)s""",
        p,
    )
    stage_history = store.frame(
        f"""SELECT h.onboarding_id, h.stage, h.entered_at,
                   CASE WHEN h.exited_at <= %(at)s THEN h.exited_at END AS exited_at
            FROM {SCHEMA}.stage_history h WHERE h.entered_at <= %(at)s""",
        p,
    )
    checklist = store.frame(f"SELECT onboarding_id, item_key, critical, status FROM {SCHEMA}.checklist_items")
    escalations = store.frame(
        f"""SELECT onboarding_id, kind, level, reason, breach_at, raised_at,
                   CASE WHEN resolved_at <= %(at)s THEN resolved_at END AS resolved_at
            FROM {SCHEMA}.escalations WHERE raised_at <= %(at)s""",
        p,
    )
    events = store.frame(
        f"""SELECT onboarding_id,
                   min(occurred_at) FILTER (WHERE event_type = 'setup.completed') AS first_value_at,
                   count(*) FILTER (WHERE actor NOT LIKE 'system:%%') AS manual_actions
            FROM {SCHEMA}.events WHERE onboarding_id IS NOT NULL AND occurred_at <= %(at)s
            GROUP BY onboarding_id""",
        p,
    )
    split_facts = store.frame(
        _SPLIT_FACTS_SQL, p | {"types": list(time_split.EVENT_TYPES), "setup_stages": sorted(time_split.SETUP_STAGES)}
    )
    submissions, reminders = _load_customer_response(store, at)
    baseline = store.frame(
        f"""SELECT account, tier, segment, region, signed_on, first_value_on, live_on, touches, checklist_tracked
            FROM {SCHEMA}.baseline_onboardings WHERE signed_on <= %(at)s::date ORDER BY id""",
        p,
    )
    order_fields = store.frame(
        f"SELECT id, {', '.join(PILOT_FIELDS)} FROM {SCHEMA}.onboardings WHERE created_at <= %(at)s ORDER BY id", p
    )
    return History(
        onboardings, stage_history, checklist, escalations, events,
        split_facts=split_facts, submissions=submissions, reminders=reminders,
        baseline=baseline, order_fields=order_fields,
    )  # fmt: skip


# The fields time_split.fact() reads from an event's details, extracted in SQL so the report never
# holds a million details documents; and only the events the split's rules can use: the first plan,
# request and go-live, the first verdict on each critical input and each approval, the first entry
# into the approvals stage and into setup, every failure, gate and failure escalation, and the
# completions of steps that had failed.  time_split.intervals() of these equals that of all events.
_SPLIT_FACTS_SQL = f"""
WITH e AS (
    SELECT e.id, e.onboarding_id, e.event_type, e.occurred_at, e.stage, e.details,
           coalesce(e.details->>'item', e.details->>'approval', e.details->>'step', e.details->>'escalation_id')
               AS ref,
           CASE WHEN jsonb_typeof(e.details->'critical') = 'boolean' THEN (e.details->>'critical')::boolean END
               AS critical
    FROM {SCHEMA}.events e
    WHERE e.onboarding_id IS NOT NULL AND e.occurred_at <= %(at)s AND e.event_type = ANY(%(types)s)
      AND (e.event_type NOT IN ('escalation.raised', 'escalation.resolved') OR e.details->>'kind' = 'failure')
), failed AS (
    SELECT DISTINCT onboarding_id, ref FROM e WHERE event_type = 'setup.step_failed'
), useful AS (
    SELECT e.*,
           CASE
               WHEN e.event_type IN ('checklist.planned', 'checklist.requested', 'onboarding.live') THEN e.event_type
               WHEN e.event_type IN ('input.verified', 'input.waived') AND e.critical IS DISTINCT FROM false
                   THEN 'input:' || coalesce(e.ref, '')
               WHEN e.event_type IN ('approval.approved', 'approval.rejected') THEN 'approval:' || coalesce(e.ref, '')
               WHEN e.event_type = 'stage.entered' AND e.stage = 'approvals' THEN 'stage:approvals'
               WHEN e.event_type = 'stage.entered' AND e.stage = ANY(%(setup_stages)s) THEN 'stage:setup'
               WHEN e.event_type IN ('stage.entered', 'input.verified', 'input.waived') THEN NULL
               WHEN e.event_type = 'setup.step_completed' AND NOT EXISTS (
                   SELECT 1 FROM failed f WHERE f.onboarding_id = e.onboarding_id AND f.ref = e.ref) THEN NULL
               ELSE 'each:' || e.id
           END AS grp
    FROM e
)
SELECT DISTINCT ON (u.onboarding_id, u.grp)
       u.onboarding_id, u.event_type, u.occurred_at, u.stage, u.ref, u.critical, u.details->>'kind' AS kind,
       CASE WHEN u.event_type = 'checklist.planned' AND jsonb_typeof(u.details->'items') = 'array' THEN
           ARRAY(SELECT i->>'key' FROM jsonb_array_elements(u.details->'items') i
                 WHERE jsonb_typeof(i) = 'object' AND (i->>'critical') = 'true') END AS critical_items,
       CASE WHEN u.event_type = 'checklist.planned' AND jsonb_typeof(u.details->'approvals') = 'array' THEN
           ARRAY(SELECT jsonb_array_elements_text(u.details->'approvals')) END AS approvals
FROM useful u WHERE u.grp IS NOT NULL
ORDER BY u.onboarding_id, u.grp, u.occurred_at, u.id
"""


def _load_customer_response(store: Store, at: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Submissions and reminder emails sent up to ``at``: what the customer response metrics read."""
    p = {"at": at}
    submissions = store.frame(
        f"""SELECT onboarding_id, item_key, coalesce(submitted_at, recorded_at) AS submitted_at, verdict
            FROM {SCHEMA}.submissions WHERE coalesce(submitted_at, recorded_at) <= %(at)s""",
        p,
    )
    reminders = store.frame(
        f"""SELECT onboarding_id, occurred_at AS sent_at FROM {SCHEMA}.events
            WHERE event_type = 'mail.sent' AND details ->> 'kind' = 'reminder' AND occurred_at <= %(at)s""",
        p,
    )
    return submissions, reminders


# --------------------------------------------------------------------------- helpers


def _utc(series: pd.Series) -> pd.Series:
    return cast("pd.Series[Any]", pd.to_datetime(series, utc=True))


def _local_days(instants: pd.Series, tz: str) -> np.ndarray:
    local = pd.DatetimeIndex(_utc(instants)).tz_convert(tz).tz_localize(None)
    return np.asarray(local.normalize().to_numpy(), dtype="datetime64[D]")


def business_days_between(region: Region, start: pd.Series, end: pd.Series) -> np.ndarray:
    """Business days after the local date of ``start`` through the local date of ``end`` (NaN if no end)."""
    out = np.full(len(start), np.nan)
    present = end.notna().to_numpy()
    if not present.any():
        return out
    d0 = _local_days(start[present], region.timezone)
    d1 = _local_days(end[present], region.timezone)
    one = np.timedelta64(1, "D")
    out[present] = np.busday_count(d0 + one, d1 + one, busdaycal=region_working_time(region).calendar.busdaycal)
    return out


def _pct(values: pd.Series, q: float) -> float:
    return float(np.percentile(values.to_numpy(dtype=float), q, method="linear"))


def _empty(columns: list[str]) -> pd.DataFrame:
    return _df({c: pd.Series(dtype="object") for c in columns})


def _df(data: Any, columns: list[str] | None = None) -> pd.DataFrame:
    return cast(pd.DataFrame, pd.DataFrame(data, columns=columns))


# --------------------------------------------------------------------------- metrics


def account_time_to_value(history: History, config: OnboardingConfig) -> pd.DataFrame:
    """One row per account: signing, first value, live, in calendar and business days."""
    columns = [
        "onboarding_key", "tier", "segment", "region", "cohort_month", "status", "signed_at", "first_value_at",
        "live_at", "activation_target", "days_to_first_value", "business_days_to_first_value", "days_to_live",
        "business_days_to_live", "on_time",
    ]  # fmt: skip
    ob = history.onboardings
    if ob.empty:
        return _empty(columns)
    frame = ob.merge(history.events[["onboarding_id", "first_value_at"]], how="left", left_on="id",
                     right_on="onboarding_id")  # fmt: skip
    frame["signed_at"] = _utc(frame["signed_at"])
    frame["first_value_at"] = _utc(frame["first_value_at"])
    frame["live_at"] = _utc(frame["live_at"])
    frame["cohort_month"] = frame["signed_at"].dt.strftime("%Y-%m")
    frame["status"] = np.where(frame["live_at"].notna(), "live", np.where(frame["status"] == "cancelled",
                               "cancelled", "open"))  # fmt: skip
    day = pd.Timedelta(days=1)
    frame["days_to_first_value"] = (frame["first_value_at"] - frame["signed_at"]) / day
    frame["days_to_live"] = (frame["live_at"] - frame["signed_at"]) / day
    frame["business_days_to_first_value"] = np.nan
    frame["business_days_to_live"] = np.nan
    for index, part, region, _ in by_region(frame, config.settings.regions):
        frame.loc[index, "business_days_to_first_value"] = business_days_between(
            region, part["signed_at"], part["first_value_at"]
        )
        frame.loc[index, "business_days_to_live"] = business_days_between(region, part["signed_at"], part["live_at"])
    live_day = frame["live_at"].dt.date
    frame["on_time"] = np.where(frame["live_at"].notna(), live_day <= frame["activation_target"], None)
    for column in ("business_days_to_first_value", "business_days_to_live"):
        frame[column] = frame[column].astype("Int64")
    return cast(pd.DataFrame, frame[columns].sort_values("onboarding_key").reset_index(drop=True))


def time_to_value_summary(accounts: pd.DataFrame) -> pd.DataFrame:
    """Median, p75 and p90 of time to first value and to live, overall and by each dimension."""
    columns = ["dimension", "value", "measure", "unit", "accounts", "median", "p75", "p90"]
    rows = []
    measures = {
        ("first_value", "calendar_days"): "days_to_first_value",
        ("first_value", "business_days"): "business_days_to_first_value",
        ("live", "calendar_days"): "days_to_live",
        ("live", "business_days"): "business_days_to_live",
    }
    if accounts.empty:
        return _empty(columns)
    frame = accounts.assign(all="all")
    for dimension in ("all", *DIMENSIONS):
        for value, group in frame.groupby(frame[dimension].fillna("(none)")):
            for (measure, unit), column in measures.items():
                values = group[column].dropna().astype(float)
                if values.empty:
                    continue  # nobody got there yet: no row, rather than a made-up zero
                rows.append(
                    (
                        dimension,
                        str(value),
                        measure,
                        unit,
                        len(values),
                        _pct(values, 50),
                        _pct(values, 75),
                        _pct(values, 90),
                    )  # fmt: skip
                )
    return _df(rows, columns) if rows else _empty(columns)


def stage_durations(history: History, config: OnboardingConfig, at: datetime) -> pd.DataFrame:
    """Every stage visit with its duration in calendar days and business days, and whether it met its SLA."""
    columns = ["onboarding_key", "tier", "stage", "entered_at", "exited_at", "calendar_days", "business_days",
               "sla_business_days", "met_sla"]  # fmt: skip
    visits = history.stage_history
    if visits.empty:
        return _empty(columns)
    ob = history.onboardings[["id", "onboarding_key", "tier", "region", "paused_at", "resumed_at"]]
    frame = visits.merge(ob, left_on="onboarding_id", right_on="id")
    frame = frame[frame["stage"] != "live"].copy()
    if frame.empty:
        return _empty(columns)
    frame["entered_at"] = _utc(frame["entered_at"])
    frame["exited_at"] = _utc(frame["exited_at"])
    frame = frame.reset_index(drop=True)
    frame["paused_at"] = _utc(frame["paused_at"])
    frame["resumed_at"] = _utc(frame["resumed_at"])
    end = frame["exited_at"].fillna(pd.Timestamp(at))
    frame["calendar_days"] = (end - frame["entered_at"]) / pd.Timedelta(days=1)
    frame["business_days"] = np.nan
    frame["sla_business_days"] = np.nan
    stages = {(t.key, st.key.value): st for t in config.tiers.values() for st in t.stages}
    for index, part, region, wt in by_region(frame, config.settings.regions):
        configured = [stages.get(p) for p in zip(part["tier"], part["stage"], strict=True)]
        # The customer's turn does not count where the tier pauses the stage clock for it.
        pausing = np.array([bool(st and st.clock_pauses_on_customer) for st in configured], dtype=bool)
        worked = wt.elapsed_outside(
            part["entered_at"], end.loc[index], part["paused_at"].where(pausing), part["resumed_at"]
        )
        frame.loc[index, "business_days"] = worked / wt.day_seconds
        hours = region.business_hours
        frame.loc[index, "sla_business_days"] = [
            st.sla_seconds(hours) / hours.day_seconds if st else np.nan for st in configured
        ]
    over = frame["business_days"] > frame["sla_business_days"]
    closed = frame["exited_at"].notna()
    # Judged once the stage ended, or as soon as it is over SLA; open and within SLA: not yet.
    judged = frame["sla_business_days"].notna() & (closed | over)
    frame["met_sla"] = [(not o) if j else None for o, j in zip(over, judged, strict=True)]
    return cast(pd.DataFrame, frame[columns].sort_values(["onboarding_key", "entered_at"]).reset_index(drop=True))


def stage_bottlenecks(durations: pd.DataFrame) -> pd.DataFrame:
    """Per tier (and all tiers) and stage: how often it was the account's longest stage, and time spent."""
    columns = ["tier", "stage", "rank", "visits", "times_longest", "median_business_days", "p90_business_days",
               "total_business_days", "accounts_in_stage_now"]  # fmt: skip
    if durations.empty:
        return _empty(columns)
    # An account's longest stage; accounts whose stages all took no business time have none.
    worked = durations[durations["business_days"] > 0]
    longest = worked.loc[worked.groupby("onboarding_key")["business_days"].idxmax()] if len(worked) else worked
    rows = []
    for tier, group in [("all", durations), *durations.groupby("tier")]:
        tier_longest = longest if tier == "all" else longest[longest["tier"] == tier]
        stats = []
        for stage, visits in group.groupby("stage"):
            days = visits["business_days"].astype(float)
            stats.append(
                [
                    str(tier),
                    str(stage),
                    0,
                    len(visits),
                    int((tier_longest["stage"] == stage).sum()),
                    _pct(days, 50),
                    _pct(days, 90),
                    float(days.sum()),
                    int(visits["exited_at"].isna().sum()),
                ]  # fmt: skip
            )
        stats.sort(key=lambda r: (-cast(int, r[4]), -cast(float, r[7]), str(r[1])))
        for rank, row in enumerate(stats, start=1):
            row[2] = rank
        rows += stats
    return _df(rows, columns)


def sla_attainment(durations: pd.DataFrame) -> pd.DataFrame:
    """Share of stages that ended within SLA, per tier and stage, overall and per week the stage ended."""
    columns = ["tier", "stage", "week", "completed", "met", "attainment_pct"]
    judged = durations[durations["met_sla"].notna()] if not durations.empty else durations
    if judged.empty:
        return _empty(columns)
    judged = judged.assign(
        met=judged["met_sla"].astype(bool),
        week=(judged["exited_at"].fillna(judged["entered_at"]).dt.tz_convert("UTC").dt.tz_localize(None)
              .dt.to_period("W-SUN").dt.start_time.dt.date),
    )  # fmt: skip
    rows = []
    for tier, group in [("all", judged), *judged.groupby("tier")]:
        for (stage, week), part in [
            *(((s, ALL_WEEKS), p) for s, p in group.groupby("stage")),
            *group.groupby(["stage", "week"]),
        ]:
            met = int(part["met"].sum())
            rows.append((str(tier), str(stage), week, len(part), met, round(100.0 * met / len(part), 2)))
    return _df(rows, columns)


def escalation_lag(history: History) -> pd.DataFrame:
    """Per kind of escalation: how many, how fast they were raised after the breach and resolved after."""
    columns = [
        "kind", "escalations", "open", "accounts", "median_breach_to_escalation_min", "p90_breach_to_escalation_min",
        "median_escalation_to_resolution_h", "p90_escalation_to_resolution_h",
    ]  # fmt: skip
    esc = history.escalations
    if esc.empty:
        return _empty(columns)
    esc = esc.assign(breach_at=_utc(esc["breach_at"]), raised_at=_utc(esc["raised_at"]),
                     resolved_at=_utc(esc["resolved_at"]))  # fmt: skip
    rows = []
    for kind, group in esc.groupby("kind"):
        lag = ((group["raised_at"] - group["breach_at"]) / pd.Timedelta(minutes=1)).dropna()
        fix = ((group["resolved_at"] - group["raised_at"]) / pd.Timedelta(hours=1)).dropna()
        rows.append(
            (
                str(kind),
                len(group),
                int(group["resolved_at"].isna().sum()),
                int(group["onboarding_id"].nunique()),
                _pct(lag, 50) if len(lag) else None,
                _pct(lag, 90) if len(lag) else None,
                _pct(fix, 50) if len(fix) else None,
                _pct(fix, 90) if len(fix) else None,
            )  # fmt: skip
        )
    return _df(rows, columns)


def exception_touches(history: History) -> pd.DataFrame:
    """Per account: actions people took and escalations raised (the brief's manual status checks)."""
    columns = ["onboarding_key", "tier", "status", "manual_actions", "escalations", "touches"]
    ob = history.onboardings
    if ob.empty:
        return _empty(columns)
    manual = history.events.set_index("onboarding_id")["manual_actions"] if not history.events.empty else None
    esc = history.escalations.groupby("onboarding_id").size() if not history.escalations.empty else None
    frame = ob[["id", "onboarding_key", "tier"]].copy()
    frame["status"] = np.where(ob["live_at"].notna(), "live", ob["status"].where(ob["status"] != "live", "open"))
    frame["manual_actions"] = frame["id"].map(manual).fillna(0).astype(int) if manual is not None else 0
    frame["escalations"] = frame["id"].map(esc).fillna(0).astype(int) if esc is not None else 0
    frame["touches"] = frame["manual_actions"] + frame["escalations"]
    return cast(pd.DataFrame, frame[columns].sort_values("onboarding_key").reset_index(drop=True))


def checklist_completeness(history: History) -> pd.DataFrame:
    """For every open account: checklist items received, verified, rejected and missing."""
    columns = ["onboarding_key", "tier", "stage", "owner_email", "items", "received", "verified", "rejected",
               "missing", "percent_verified", "critical_outstanding"]  # fmt: skip
    ob = history.onboardings
    open_ob = ob[ob["live_at"].isna() & (ob["status"] != "cancelled")] if not ob.empty else ob
    if open_ob.empty:
        return _empty(columns)
    items = history.checklist
    counts = (
        pd.crosstab(items["onboarding_id"], items["status"]) if not items.empty else pd.DataFrame(index=pd.Index([]))
    )
    critical = (
        items[items["critical"].astype(bool) & ~items["status"].isin(list(SETTLED))]
        .groupby("onboarding_id").size() if not items.empty else pd.Series(dtype=int)
    )  # fmt: skip
    frame = open_ob[["id", "onboarding_key", "tier", "stage", "stage_owner_email"]].rename(
        columns={"stage_owner_email": "owner_email"}
    )
    for status in ("received", "verified", "rejected", "missing", "waived"):
        frame[status] = frame["id"].map(counts[status]).fillna(0).astype(int) if status in counts else 0
    frame["items"] = frame[["received", "verified", "rejected", "missing", "waived"]].sum(axis=1)
    frame["percent_verified"] = np.where(frame["items"] > 0, 100.0 * frame["verified"] / frame["items"].clip(1), None)
    frame["critical_outstanding"] = frame["id"].map(critical).fillna(0).astype(int)
    return cast(pd.DataFrame, frame[columns].sort_values("onboarding_key").reset_index(drop=True))


def blocked_accounts(history: History, config: OnboardingConfig, at: datetime) -> pd.DataFrame:
    """Open accounts with a blocking reason or an open escalation: owner, stage, how long, how late."""
    columns = ["onboarding_key", "account_name", "tier", "stage", "owner_email", "reason", "days_blocked",
               "activation_target", "days_to_target", "business_days_to_target"]  # fmt: skip
    ob = history.onboardings
    if ob.empty:
        return _empty(columns)
    open_ob = ob[ob["live_at"].isna() & (ob["status"] == "open")]
    esc = history.escalations
    open_esc = esc[esc["resolved_at"].isna()] if not esc.empty else esc
    first_open = (
        open_esc.assign(raised_at=_utc(open_esc["raised_at"])).sort_values("raised_at").groupby("onboarding_id").first()
        if not open_esc.empty else pd.DataFrame(columns=["raised_at", "reason"])
    )  # fmt: skip
    frame = open_ob.merge(
        first_open[["raised_at", "reason"]].rename(columns={"reason": "escalation_reason"}),
        how="left",
        left_on="id",
        right_index=True,
    )
    frame = frame[frame["blocked_reason"].notna() | frame["raised_at"].notna()].reset_index(drop=True)
    if frame.empty:
        return _empty(columns)
    # Blocked since the stage began when the gate names a reason, else since the first open escalation.
    since = _utc(frame["stage_entered_at"]).where(frame["blocked_reason"].notna(), _utc(frame["raised_at"]))
    frame["reason"] = frame["blocked_reason"].fillna(frame["escalation_reason"]).astype(str)
    frame["days_blocked"] = ((pd.Timestamp(at) - since) / pd.Timedelta(days=1)).round(2)
    frame["owner_email"] = frame["stage_owner_email"]
    frame["days_to_target"] = 0
    frame["business_days_to_target"] = 0
    for region_key, index in frame.groupby("region").groups.items():
        region = config.settings.regions.get(str(region_key))
        tz = region.timezone if region else "UTC"
        today = np.datetime64(pd.Timestamp(at).tz_convert(tz).date(), "D")
        targets = np.asarray(frame.loc[index, "activation_target"].to_numpy(), dtype="datetime64[D]")
        days = (targets - today).astype(int)
        if region is not None:
            cal = region_working_time(region).calendar.busdaycal
            business = np.where(
                days >= 0,
                np.busday_count(today, np.maximum(targets, today), busdaycal=cal),
                -np.busday_count(np.minimum(targets, today), today, busdaycal=cal),
            )
        else:
            business = days
        frame.loc[index, "days_to_target"] = days
        frame.loc[index, "business_days_to_target"] = business
    return cast(pd.DataFrame, frame[columns].sort_values(["days_to_target", "onboarding_key"]).reset_index(drop=True))


def throughput_weekly(history: History) -> pd.DataFrame:
    """Onboardings started and completed per ISO week (weeks with neither are left out)."""
    columns = ["week", "started", "completed"]
    ob = history.onboardings
    if ob.empty:
        return _empty(columns)

    def monday(series: pd.Series) -> pd.Series:
        naive = _utc(series).dt.tz_convert("UTC").dt.tz_localize(None)
        return cast("pd.Series[Any]", naive.dt.to_period("W-SUN").dt.start_time.dt.date)

    started = monday(ob["created_at"]).value_counts()
    completed = monday(ob["live_at"].dropna()).value_counts() if ob["live_at"].notna().any() else pd.Series(dtype=int)
    weeks = sorted(set(started.index) | set(completed.index))
    return _df([(w, int(started.get(w, 0)), int(completed.get(w, 0))) for w in weeks], columns)


def _facts_by_account(frame: pd.DataFrame) -> dict[int, list[time_split.Fact]]:
    """The split's facts per onboarding id, from :data:`History.split_facts` rows."""
    out: dict[int, list[time_split.Fact]] = {}
    if frame.empty:
        return out
    columns = [
        frame[c].tolist() if c in frame else [None] * len(frame)
        for c in ("onboarding_id", "event_type", "stage", "ref", "critical", "kind", "critical_items", "approvals")
    ]
    at = pd.to_datetime(frame["occurred_at"], utc=True).dt.to_pydatetime().tolist()
    for oid, kind, stage, ref, critical, esc_kind, items, approvals, when in zip(*columns, at, strict=True):
        out.setdefault(int(oid), []).append(
            time_split.Fact(
                type=str(kind),
                at=when,
                stage=_text(stage),
                ref=_text(ref),
                critical=None if critical is None or critical != critical else bool(critical),
                kind=_text(esc_kind),
                critical_items=tuple(items) if isinstance(items, list) else (),
                approvals=tuple(approvals) if isinstance(approvals, list) else (),
            )
        )
    return out


def _text(value: Any) -> str | None:
    """A text column's value; None for SQL NULL (None, or NaN where pandas filled one in)."""
    return None if value is None or value != value else str(value)


def time_split_summary(history: History, config: OnboardingConfig, at: datetime) -> pd.DataFrame:
    """Where the days went, per tier and segment: business days per category, for live and for open accounts.

    Live accounts are measured from signing to live, open ones from signing to
    the report date so far; cancelled accounts are left out.
    """
    columns = ["dimension", "value", "status", "category", "accounts", "mean_business_days", "total_business_days",
               "share_pct"]  # fmt: skip
    ob = history.onboardings
    if ob.empty:
        return _empty(columns)
    ob = ob[ob["status"] != "cancelled"]
    accounts = pd.DataFrame(
        {
            "id": ob["id"].astype("int64"),
            "region": ob["region"],
            "start": _utc(ob["signed_at"]),
            "end": _utc(ob["live_at"]).fillna(pd.Timestamp(at)),
        }
    )
    split = time_split.split_many(accounts, _facts_by_account(history.split_facts), config.settings.regions)
    if split.empty:
        return _empty(columns)
    split = split.merge(
        ob[["id", "tier", "segment"]].assign(status=np.where(ob["live_at"].notna(), "live", "open")), on="id"
    )
    split = split[split["elapsed"] > 0].assign(all="all")
    rows = []
    for dimension in ("all", "tier", "segment"):
        for (value, status), group in split.groupby([split[dimension].fillna("(none)"), "status"]):
            elapsed = float(group["elapsed"].sum())
            for category in time_split.CATEGORIES:
                total = float(group[category].sum())
                rows.append((dimension, str(value), str(status), category, len(group), total / len(group), total,
                             round(100.0 * total / elapsed, 2) if elapsed else 0.0))  # fmt: skip
    return _df(rows, columns) if rows else _empty(columns)


# --------------------------------------------------------------------------- customer response

_SUBMISSION_COLUMNS = {"onboarding_id": "int64", "item_key": "object", "submitted_at": "datetime64[ns, UTC]",
                       "verdict": "object"}  # fmt: skip
_REMINDER_COLUMNS = {"onboarding_id": "int64", "sent_at": "datetime64[ns, UTC]"}


def _with_columns(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """``frame``, or an empty frame with these typed columns when it has no rows (and maybe no columns)."""
    if not frame.empty:
        return frame
    return _df({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


def _business_days_elapsed(frame: pd.DataFrame, config: OnboardingConfig, start: str, end: str) -> pd.Series:
    """Working time from ``start`` to ``end`` per row, in business days of the row's region (NaN without an end)."""
    out = pd.Series(np.nan, index=frame.index, dtype="float64")
    for index, part, _, wt in by_region(frame, config.settings.regions):
        known = part[end].notna().to_numpy()
        if known.any():
            out.loc[index[known]] = wt.elapsed(part[start][known], part[end][known]) / wt.day_seconds
    return cast("pd.Series[Any]", out)


def _asked(history: History, subs: pd.DataFrame, config: OnboardingConfig, at: datetime) -> pd.DataFrame:
    """Accounts whose checklist was requested by ``at``, with their first submission and the business days to it."""
    ob = history.onboardings
    asked = ob.assign(paused_at=_utc(ob["paused_at"]), live_at=_utc(ob["live_at"]))
    asked = asked[asked["paused_at"] <= pd.Timestamp(at)][["id", "tier", "region", "status", "live_at", "paused_at"]]
    first = subs.groupby("onboarding_id")["submitted_at"].min().rename("first_submission_at")
    asked = asked.merge(first, how="left", left_on="id", right_index=True).reset_index(drop=True)
    asked["days"] = _business_days_elapsed(asked, config, "paused_at", "first_submission_at")
    asked["open"] = asked["live_at"].isna() & (asked["status"] == "open")
    return cast(pd.DataFrame, asked)


def _rejections(subs: pd.DataFrame, where: pd.DataFrame, config: OnboardingConfig) -> pd.DataFrame:
    """Rejected submissions, with the next submission of the same item and the business days to it."""
    by_item = subs.sort_values(["onboarding_id", "item_key", "submitted_at"])
    by_item = by_item.assign(next_at=by_item.groupby(["onboarding_id", "item_key"])["submitted_at"].shift(-1))
    rejected = by_item[by_item["verdict"] == "rejected"].join(where, on="onboarding_id", how="inner")
    rejected = rejected.reset_index(drop=True)
    rejected["days"] = _business_days_elapsed(rejected, config, "submitted_at", "next_at")
    return cast(pd.DataFrame, rejected)


def _reminders_sent(
    history: History, subs: pd.DataFrame, where: pd.DataFrame, config: OnboardingConfig
) -> pd.DataFrame:
    """Reminder emails sent, with the account's next submission after each and the business days to it."""
    sent = _with_columns(history.reminders, _REMINDER_COLUMNS)
    # One time resolution on both sides: merge_asof refuses to match microseconds against nanoseconds.
    sent = sent.assign(sent_at=_utc(sent["sent_at"]).astype("datetime64[ns, UTC]"))
    sent = sent.join(where, on="onboarding_id", how="inner")
    after = subs[["onboarding_id", "submitted_at"]].rename(columns={"submitted_at": "next_at"})
    after = after.assign(next_at=_utc(after["next_at"]).astype("datetime64[ns, UTC]"))
    sent = pd.merge_asof(
        sent.sort_values("sent_at"), after.sort_values("next_at"), left_on="sent_at", right_on="next_at",
        by="onboarding_id", direction="forward", allow_exact_matches=False,
    ).reset_index(drop=True)  # fmt: skip
    sent["days"] = _business_days_elapsed(sent, config, "sent_at", "next_at")
    return cast(pd.DataFrame, sent)


def _median(values: pd.Series) -> float | None:
    known = values.dropna()
    return _pct(known, 50) if len(known) else None


def _p90(values: pd.Series) -> float | None:
    known = values.dropna()
    return _pct(known, 90) if len(known) else None


CUSTOMER_RESPONSE_COLUMNS = [
    "tier", "checklists_requested", "reminders_sent", "accounts_reminded", "reminders_answered",
    "median_business_days_reminder_to_submission", "first_submissions", "awaiting_first_submission",
    "median_business_days_to_first_submission", "p90_business_days_to_first_submission", "rejections",
    "resubmitted", "awaiting_resubmission", "median_business_days_to_resubmission",
    "p90_business_days_to_resubmission",
]  # fmt: skip


def _response_row(tier: str, asked: pd.DataFrame, rejected: pd.DataFrame, sent: pd.DataFrame) -> tuple[Any, ...]:
    answered = asked["first_submission_at"].notna()
    resent = rejected["next_at"].notna()
    return (
        tier, len(asked), len(sent), int(sent["onboarding_id"].nunique()), int(sent["next_at"].notna().sum()),
        _median(sent["days"]), int(answered.sum()), int((~answered & asked["open"]).sum()),
        _median(asked["days"]), _p90(asked["days"]), len(rejected), int(resent.sum()),
        int((~resent & rejected["open"].astype(bool)).sum()), _median(rejected["days"]), _p90(rejected["days"]),
    )  # fmt: skip


def customer_response(history: History, config: OnboardingConfig, at: datetime) -> pd.DataFrame:
    """Per tier and for all tiers: reminders sent and answered, and how long customers take to answer.

    Counted over the accounts whose checklist was requested by ``at``.  "Awaiting" counts only accounts
    still open (a closed account waits for nothing); medians and p90s are over the answers there were.
    """
    if history.onboardings.empty:
        return _empty(CUSTOMER_RESPONSE_COLUMNS)
    subs = _with_columns(history.submissions, _SUBMISSION_COLUMNS)
    subs = subs.assign(submitted_at=_utc(subs["submitted_at"]))
    asked = _asked(history, subs, config, at)
    if asked.empty:
        return _empty(CUSTOMER_RESPONSE_COLUMNS)
    where = asked.set_index("id")[["tier", "region", "open"]]
    rejected = _rejections(subs, where, config)
    sent = _reminders_sent(history, subs, where, config)
    rows = [
        _response_row(str(tier), part, rejected[rejected["tier"] == tier], sent[sent["tier"] == tier])
        for tier, part in asked.groupby("tier")
    ]
    return _df([_response_row("all", asked, rejected, sent), *rows], CUSTOMER_RESPONSE_COLUMNS)


def pilot_before_after(
    history: History, accounts: pd.DataFrame, touches: pd.DataFrame, config: OnboardingConfig
) -> pd.DataFrame:
    """The brief's before/after table (see :mod:`include.onboarding.pilot_report`)."""
    ob = history.onboardings
    ids = ob[["id", "onboarding_key"]] if not ob.empty else pd.DataFrame({"id": [], "onboarding_key": []})
    fields = history.order_fields
    if fields.empty and not ob.empty:
        fields = ob[["id", *(c for c in ("tier", "region", "segment") if c in ob.columns)]]
    return pilot_report.before_after(
        history.baseline,
        accounts.merge(ids, on="onboarding_key")
        if not accounts.empty
        else accounts.assign(id=pd.Series(dtype="int64")),
        touches.merge(ids, on="onboarding_key") if not touches.empty else touches.assign(id=pd.Series(dtype="int64")),
        history.checklist,
        history.escalations,
        fields,
        config,
    )


def compute(history: History, config: OnboardingConfig, at: datetime) -> dict[str, pd.DataFrame]:
    """Every metric table, by table name."""
    accounts = account_time_to_value(history, config)
    durations = stage_durations(history, config, at)
    touches = exception_touches(history)
    return {
        "pilot_before_after": pilot_before_after(history, accounts, touches, config),
        "account_time_to_value": accounts,
        "time_to_value_summary": time_to_value_summary(accounts),
        "stage_durations": durations,
        "stage_bottlenecks": stage_bottlenecks(durations),
        "checklist_completeness": checklist_completeness(history),
        "sla_attainment": sla_attainment(durations),
        "escalation_lag": escalation_lag(history),
        "exception_touches": touches,
        "blocked_accounts": blocked_accounts(history, config, at),
        "throughput_weekly": throughput_weekly(history),
        "time_split": time_split_summary(history, config, at),
        "customer_response": customer_response(history, config, at),
    }


# --------------------------------------------------------------------------- writing


def write(store: Store, report_date: date, tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Replace ``report_date``'s rows of every table, in one transaction.  Returns rows written per table."""
    written: dict[str, int] = {}
    with store.transaction() as cur:
        for name, frame in tables.items():
            cur.execute(
                """SELECT column_name FROM information_schema.columns
                   WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position""",
                (REPORT_SCHEMA, name),
            )
            table_columns = [r["column_name"] for r in cur.fetchall()]
            if not table_columns:
                raise RuntimeError(f"{REPORT_SCHEMA}.{name} does not exist; the store's migrations are behind")
            wanted = [c for c in table_columns if c != "report_date"]
            missing = sorted(set(wanted) - set(frame.columns))
            if missing:
                raise RuntimeError(f"{REPORT_SCHEMA}.{name}: the metric has no column(s) {missing}")
            cur.execute(f"DELETE FROM {REPORT_SCHEMA}.{name} WHERE report_date = %s", (report_date,))
            if len(frame):
                data = frame[wanted].copy()
                data.insert(0, "report_date", report_date.isoformat())
                # CSV: an unquoted empty field is NULL (NaN, NaT, None, NA all become one).
                text = data.to_csv(index=False, header=False, na_rep="", date_format="%Y-%m-%dT%H:%M:%S.%f%z")
                with cur.copy(
                    f"COPY {REPORT_SCHEMA}.{name} ({', '.join(table_columns)}) FROM STDIN WITH (FORMAT csv)"
                ) as copy:
                    copy.write(text)
            written[name] = len(frame)
    return written


def read(store: Store, name: str, report_date: date) -> pd.DataFrame:
    """One report table for one date (what leadership reads)."""
    return store.frame(
        f"SELECT * FROM {REPORT_SCHEMA}.{name} WHERE report_date = %(d)s ORDER BY 2, 3",
        {"d": report_date},
    )


TABLES = (
    "pilot_before_after",
    "account_time_to_value",
    "time_to_value_summary",
    "stage_durations",
    "stage_bottlenecks",
    "checklist_completeness",
    "sla_attainment",
    "escalation_lag",
    "exception_touches",
    "blocked_accounts",
    "throughput_weekly",
    "time_split",
    "customer_response",
)


def build(store: Store, config: OnboardingConfig, report_date: date, now: datetime) -> dict[str, int]:
    """Compute every metric as of ``report_date`` and replace that date's rows.  Rows written per table."""
    at = as_of(report_date, now)
    tables = compute(load(store, at), config, at)
    written = write(store, report_date, tables)
    log.info("report %s (as of %s): %s", report_date, at.isoformat(), written)
    return written


def read_all(store: Store, report_date: date) -> dict[str, pd.DataFrame]:
    """Every report table for one date, without the report_date column."""
    return {name: read(store, name, report_date).drop(columns=["report_date"]) for name in TABLES}
