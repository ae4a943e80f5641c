"""Escalations: stalled, failing and unowned accounts routed to a named person.

One pass (:func:`run_pass`, the ``onboarding_escalations`` DAG) looks at every
open onboarding at once: a handful of indexed queries and vectorised business
time, never a query per account.  It

* raises an SLA breach when a stage's business-time clock passes a rung of the
  tier's escalation ladder (stage owner at 100 %, their manager at 150 %, ...),
  each rung once per stage;
* forecasts slips: when the business time the remaining stages need exceeds
  the business time left before the activation target, the named owner hears
  "at risk" while there is still time to act;
* catches accounts whose stage owner is not (or no longer) a known person, and
  tells the ops lead;
* reports orders waiting in quarantine to the ops lead;
* resolves escalations whose stage moved on (or whose cause went away),
  keeping breach, escalation and resolution times so escalation lag is known.

Failure callbacks and deadline alerts raise escalations through the same
:func:`raise_escalations`.  Every escalation raised and resolved is an event in
the audit trail; delivery is :mod:`include.onboarding.notify`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pandas as pd
from psycopg.types.json import Jsonb

from include.onboarding.calendar import WorkingTime, as_utc, by_region, utc_ns
from include.onboarding.config import OnboardingConfig, Settings, Stage
from include.onboarding.store import SCHEMA, Store

log = logging.getLogger(__name__)

ACTOR = "system:escalations"


@dataclass(frozen=True)
class NewEscalation:
    """An escalation to raise.  The dedupe key makes raising it twice a no-op."""

    subject: str
    kind: str
    notify_email: str
    reason: str
    dedupe_key: str
    onboarding_id: int | None = None
    stage: str | None = None
    stage_owner: str | None = None
    level: int = 1
    notify_role: str | None = None
    breach_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


_COLUMNS = (
    "onboarding_id",
    "subject",
    "stage",
    "stage_owner",
    "kind",
    "level",
    "notify_email",
    "notify_role",
    "reason",
    "breach_at",
    "details",
    "dedupe_key",
)


def raise_escalations(store: Store, escalations: Sequence[NewEscalation], now: datetime) -> list[int]:
    """Insert escalations not raised before and log ``escalation.raised`` for each; return the new ids."""
    if not escalations:
        return []
    with store.transaction() as cur:
        cur.execute(
            """CREATE TEMP TABLE IF NOT EXISTS new_escalations (
                   onboarding_id bigint, subject text, stage text, stage_owner text, kind text, level integer,
                   notify_email text, notify_role text, reason text, breach_at timestamptz, details jsonb,
                   dedupe_key text) ON COMMIT DELETE ROWS"""
        )
        with cur.copy(f"COPY new_escalations ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for e in escalations:
                copy.write_row(
                    (
                        e.onboarding_id,
                        e.subject,
                        e.stage,
                        e.stage_owner,
                        e.kind,
                        e.level,
                        e.notify_email,
                        e.notify_role,
                        e.reason,
                        e.breach_at,
                        Jsonb(e.details),
                        e.dedupe_key,
                    )
                )
        cur.execute(
            f"""WITH raised AS (
                    INSERT INTO {SCHEMA}.escalations AS e
                        (onboarding_id, subject, stage, kind, level, notify_email, notify_role, reason,
                         breach_at, raised_at, details, dedupe_key)
                    SELECT DISTINCT ON (dedupe_key) onboarding_id, subject, stage, kind, level, notify_email,
                           notify_role, reason, breach_at, %(now)s, details, dedupe_key
                    FROM new_escalations ORDER BY dedupe_key
                    ON CONFLICT (dedupe_key) DO NOTHING
                    RETURNING e.id, e.onboarding_id, e.subject, e.stage, e.kind, e.level, e.notify_email,
                              e.reason, e.breach_at, e.dedupe_key
                ), logged AS (
                    INSERT INTO {SCHEMA}.events
                        (occurred_at, onboarding_id, subject, event_type, stage, stage_owner, actor, details,
                         dedupe_key)
                    SELECT %(now)s, r.onboarding_id, r.subject, 'escalation.raised', r.stage, n.stage_owner,
                           %(actor)s,
                           jsonb_build_object('escalation_id', r.id, 'kind', r.kind, 'level', r.level,
                                              'notify', r.notify_email, 'reason', r.reason,
                                              'breach_at', r.breach_at),
                           'escalation.raised:' || r.dedupe_key
                    FROM raised r JOIN new_escalations n USING (dedupe_key)
                    ON CONFLICT (dedupe_key) DO NOTHING
                )
                SELECT id FROM raised ORDER BY id""",
            {"now": now, "actor": ACTOR},
        )
        ids = [int(r["id"]) for r in cur.fetchall()]
        cur.execute("DELETE FROM new_escalations")
    return ids


# --------------------------------------------------------------------------- who hears it


def recipient(settings: Settings, notify: str, stage_owner: str | None, region: str) -> tuple[str, str]:
    """(email, role) a ladder rung reaches.  Anyone unknown falls through to the ops lead."""
    people = settings.people_by_email
    if notify == "stage_owner" and stage_owner in people:
        return str(stage_owner), "stage owner"
    if notify == "manager":
        manager = people[stage_owner].manager if stage_owner in people else None
        if manager:
            return manager, f"manager of {stage_owner}"
    if notify.startswith("role:"):
        holder = settings.holder(notify.removeprefix("role:"), region)
        if holder:
            return holder, notify.removeprefix("role:")
    return settings.ops_lead, "ops lead"


def run_url(settings: Settings, tier: str, run_id: object) -> str:
    """Link to the account's run in the Airflow UI (the DAG's runs when it has none yet).

    ``run_id`` comes from a data frame, where an account without a run yet holds NaN, not None.
    """
    base = settings.escalations.airflow_base_url
    if not base:
        from airflow.configuration import conf

        base = conf.get("api", "base_url", fallback=None) or "http://localhost:8080"
    base = base.rstrip("/")
    if isinstance(run_id, str) and run_id:
        from urllib.parse import quote

        return f"{base}/dags/onboarding_{tier}/runs/{quote(run_id, safe='')}"
    return f"{base}/dags/onboarding_{tier}"


# --------------------------------------------------------------------------- the pass


@dataclass
class PassSummary:
    open_onboardings: int = 0
    breached: int = 0
    """Open onboardings whose current stage is past its SLA."""
    at_risk: int = 0
    unowned: int = 0
    silent: int = 0
    """Open onboardings whose customer has sent nothing for ``customer_silent_business_days``."""
    quarantined_open: int = 0
    raised: dict[str, int] = field(default_factory=dict)
    resolved: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "open_onboardings": self.open_onboardings,
            "breached": self.breached,
            "at_risk": self.at_risk,
            "unowned": self.unowned,
            "silent": self.silent,
            "quarantined_open": self.quarantined_open,
            "raised": dict(self.raised),
            "resolved": self.resolved,
        }


def customer_pause_join(only_while_collecting: bool = False) -> str:
    """SQL joining ``paused_at`` and ``resumed_at`` to the accounts aliased ``o``.

    The customer's turn: from the checklist request until the last critical
    input was verified (``resumed_at`` is empty while one is still out).
    """
    only = "AND o.stage = 'collect_inputs'" if only_while_collecting else ""
    return f"""LEFT JOIN LATERAL (
    SELECT min(c.requested_at) AS paused_at, max(c.received_at) AS heard_at,
           CASE WHEN bool_and(c.status IN ('verified', 'waived')) FILTER (WHERE c.critical) IS NOT FALSE
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
WHERE o.status = 'open'
"""


def load_open(store: Store, key: str | None = None) -> pd.DataFrame:
    """Every open onboarding (or the one with ``key``) with what its SLA clock needs, in one query."""
    frame = store.frame(_OPEN_SQL) if key is None else store.frame(_OPEN_SQL + " AND o.onboarding_key = %s", (key,))
    for column in ("stage_entered_at", "paused_at", "resumed_at", "heard_at"):
        frame[column] = pd.to_datetime(frame[column].astype("float64"), unit="s", utc=True)
    frame["activation_target"] = frame["activation_target"].astype("int64").to_numpy().astype("datetime64[D]")
    return frame


def _iso_day(value: Any) -> str:
    return str(np.datetime64(value, "D"))


@dataclass(frozen=True)
class _StagePlan:
    """Per (tier, region, stage): SLA, pausing, and the work the later stages still need."""

    sla_seconds: float
    pauses: bool
    later_seconds: float
    sla_text: str


def _stage_plans(config: OnboardingConfig) -> dict[tuple[str, str, str], _StagePlan]:
    plans: dict[tuple[str, str, str], _StagePlan] = {}
    for tier in config.tiers.values():
        for region in tier.regions:
            hours = config.settings.regions[region].business_hours
            seconds = [s.sla_seconds(hours) for s in tier.stages]
            for i, stage in enumerate(tier.stages):
                plans[(tier.tier, region, stage.key.value)] = _StagePlan(
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
            for (t, r, st), p in _stage_plans(config).items()
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
        frame.loc[index, "left_seconds"] = wt.elapsed(nows, _target_end(wt, part["activation_target"]))
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


def _target_end(wt: WorkingTime, targets: pd.Series) -> pd.DatetimeIndex:
    """The close of business on each activation target day, in UTC."""
    days = np.asarray(targets.to_numpy(), dtype="datetime64[D]").astype("datetime64[s]")
    local = days + np.timedelta64(int(wt.close), "s")
    utc = pd.DatetimeIndex(local).tz_localize(wt.tz, ambiguous="NaT", nonexistent="shift_forward").tz_convert("UTC")
    return cast(pd.DatetimeIndex, utc)


def _breach_times(frame: pd.DataFrame, config: OnboardingConfig, percent: float) -> pd.Series:
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


def _missing_items(store: Store, ids: list[int]) -> dict[int, list[str]]:
    if not ids:
        return {}
    rows = store.query(
        f"""SELECT onboarding_id, label, status, rejection_reason FROM {SCHEMA}.checklist_items
            WHERE onboarding_id = ANY(%s) AND critical AND status NOT IN ('verified', 'waived')
            ORDER BY onboarding_id, id""",
        (ids,),
    )
    out: dict[int, list[str]] = {}
    for r in rows:
        text = f"{r['label']} ({r['status']}" + (f": {r['rejection_reason']})" if r["rejection_reason"] else ")")
        out.setdefault(int(r["onboarding_id"]), []).append(text)
    return out


def _blocking(row: Any, missing: dict[int, list[str]]) -> str:
    if row.blocked_reason:
        return str(row.blocked_reason)
    items = missing.get(int(row.id))
    if items:
        return "waiting on the customer for " + "; ".join(items)
    return f"the {row.stage} stage has not finished"


def _days(seconds: float, day_seconds: float) -> float:
    return round(float(seconds) / float(day_seconds), 2) if day_seconds else 0.0


def _account_details(row: Any, config: OnboardingConfig, blocking: str) -> dict[str, Any]:
    settings = config.settings
    owner = settings.people_by_email.get(row.stage_owner_email)
    tier = config.tiers.get(row.tier)
    return {
        "onboarding_key": row.onboarding_key,
        "account": row.account_name,
        "tier": tier.display_name if tier else row.tier,
        "region": row.region,
        "stage": row.stage,
        "stage_owner": row.stage_owner_email,
        "stage_owner_name": owner.name if owner else None,
        "sla": row.sla_text,
        "elapsed_business_days": _days(row.elapsed_seconds, row.day_seconds),
        "sla_percent": round(float(row.sla_percent), 1) if pd.notna(row.sla_percent) else None,
        "activation_target": _iso_day(row.activation_target),
        "business_days_to_target": int(row.business_days_to_target),
        "needed_business_days": _days(row.needed_seconds, row.day_seconds),
        "blocking": blocking,
        "run_url": run_url(settings, row.tier, row.run_id),
    }


def find(store: Store, config: OnboardingConfig, now: datetime) -> tuple[list[NewEscalation], PassSummary]:
    """Escalations due now that were not raised before, and what the pass saw."""
    settings = config.settings
    summary = PassSummary()
    frame = load_open(store)
    summary.open_onboardings = len(frame)
    fresh: list[NewEscalation] = []
    if len(frame):
        frame = measure(frame, config, now)
        planned = frame["planned"].astype(bool)
        unowned = ~frame["stage_owner_email"].isin(set(settings.people_by_email)) | ~planned
        breached = planned & (frame["sla_percent"] >= 100.0)
        risky = planned & (frame["needed_seconds"] > frame["left_seconds"]) & ~breached
        silent_after = settings.escalations.customer_silent_business_days * frame["day_seconds"]
        silent = planned & (frame["quiet_seconds"] >= silent_after)
        summary.breached, summary.at_risk, summary.unowned = int(breached.sum()), int(risky.sum()), int(unowned.sum())
        summary.silent = int(silent.sum())

        key_stage = frame["onboarding_key"] + ":" + frame["stage"]
        parts: list[pd.DataFrame] = []

        def due(mask: pd.Series, kind: str, level: int, notify: str, percent: float, dedupe: pd.Series) -> None:
            if mask.any():
                parts.append(
                    pd.DataFrame(
                        {
                            "row": frame.index[mask],
                            "kind": kind,
                            "level": level,
                            "notify": notify,
                            "percent": percent,
                            "dedupe": dedupe[mask].to_numpy(),
                        }
                    )  # fmt: skip
                )

        for tier in config.tiers.values():
            in_tier = planned & (frame["tier"] == tier.tier)
            for level, rung in enumerate(tier.escalation_ladder, start=1):
                mask = in_tier & (frame["sla_percent"] >= rung.at_percent_of_sla)
                due(
                    mask,
                    "sla_breach",
                    level,
                    rung.notify,
                    rung.at_percent_of_sla,
                    "sla_breach:" + key_stage + f":{level}",
                )
        due(risky, "at_risk", 1, "named_owner", 0.0, "at_risk:" + key_stage)
        # Once per stretch of silence: a customer who answers and goes quiet again is chased again.
        quiet_mark = frame["quiet_since"].map(lambda t: f"{t.timestamp():.0f}" if pd.notna(t) else "")
        due(silent, "silent", 1, "stage_owner", 0.0, "silent:" + key_stage + ":" + quiet_mark)
        due(unowned, "unowned", 1, "ops_lead", 0.0, "unowned:" + key_stage + ":" + frame["stage_owner_email"])
        if parts:
            candidates = pd.concat(parts, ignore_index=True)
            candidates = candidates[~candidates["dedupe"].isin(_raised_for_current_stages(store))]
            fresh = _build(store, config, frame, candidates)
    quarantine = _quarantine_reports(store, settings)
    summary.quarantined_open = len(quarantine)
    return fresh + quarantine, summary


def _raised_for_current_stages(store: Store) -> set[str]:
    """Dedupe keys already raised for the stage each open onboarding is in now."""
    rows = store.query(
        f"""SELECT e.dedupe_key FROM {SCHEMA}.escalations e
            JOIN {SCHEMA}.onboardings o ON o.id = e.onboarding_id
            WHERE o.status = 'open' AND e.stage = o.stage"""
    )
    return {r["dedupe_key"] for r in rows}


def _build(
    store: Store, config: OnboardingConfig, frame: pd.DataFrame, candidates: pd.DataFrame
) -> list[NewEscalation]:
    """Turn due candidates into escalations with breach times, recipients and message details."""
    if candidates.empty:
        return []
    settings = config.settings
    breach_at: dict[int, datetime] = {}
    for percent, group in candidates[candidates["kind"] == "sla_breach"].groupby("percent"):
        times = _breach_times(frame.loc[group["row"].to_numpy()], config, float(str(percent)))
        breach_at.update(zip(group.index, times.dt.to_pydatetime(), strict=True))
    rows = frame.loc[candidates["row"].unique()]
    missing = _missing_items(store, [int(i) for i in rows["id"]])
    records = {
        index: SimpleNamespace(**{str(k): v for k, v in record.items()})
        for index, record in rows.to_dict("index").items()
    }
    out = []
    c: Any
    for c in candidates.itertuples():
        row = records[c.row]
        if c.kind == "unowned":
            email, role = settings.ops_lead, "ops lead"
            if row.planned:
                reason = f"stage owner {row.stage_owner_email!r} is not in the people directory"
            elif row.tier not in config.tiers:
                reason = f"tier {row.tier!r} has no configuration: nobody owns stage {row.stage}"
            else:
                reason = f"tier {row.tier!r} names no owner for stage {row.stage} in region {row.region}"
        elif c.kind == "silent":
            email, role = recipient(settings, "stage_owner", row.stage_owner_email, row.region)
            answered = pd.notna(row.heard_at) and row.heard_at >= row.paused_at
            heard = "their last submission" if answered else "the request"
            reason = (
                f"the customer has sent nothing for {_days(row.quiet_seconds, row.day_seconds):g} business days since"
                f" {heard} on {_iso_day(row.quiet_since.to_datetime64())} while critical inputs are out;"
                " chase them directly"
            )
        elif c.kind == "at_risk":
            email, role = recipient(settings, "stage_owner", row.owner_email, row.region)
            role = "named owner"
            reason = (
                f"forecast to miss the activation target {_iso_day(row.activation_target)}: the remaining stages"
                f" need {_days(row.needed_seconds, row.day_seconds):g} business days,"
                f" {_days(row.left_seconds, row.day_seconds):g} are left"
            )
        else:
            email, role = recipient(settings, c.notify, row.stage_owner_email, row.region)
            reason = (
                f"{row.stage} has run {_days(row.elapsed_seconds, row.day_seconds):g} business days against an SLA of"
                f" {row.sla_text} ({row.sla_percent:.0f}%,"
                f" {_days(row.elapsed_seconds - row.sla_seconds, row.day_seconds):g} business days over);"
                f" ladder rung {c.level} at {c.percent:g}% notifies {c.notify}"
            )
        details = _account_details(row, config, _blocking(row, missing)) if row.planned else {"blocking": reason}
        out.append(
            NewEscalation(
                subject=row.onboarding_key,
                kind=str(c.kind),
                notify_email=email,
                notify_role=role,
                reason=reason,
                dedupe_key=str(c.dedupe),
                onboarding_id=int(row.id),
                stage=row.stage,
                stage_owner=row.stage_owner_email,
                level=int(c.level),
                breach_at=breach_at.get(int(c.Index)),
                details=details,
            )
        )
    return out


def _quarantine_reports(store: Store, settings: Settings) -> list[NewEscalation]:
    rows = store.query(
        f"""SELECT q.id, q.crm_source, q.crm_deal_id, q.order_number, q.reasons, q.first_seen_at, q.seen_in_batches
            FROM {SCHEMA}.quarantined_orders q
            WHERE q.status = 'open' AND NOT EXISTS (
                SELECT 1 FROM {SCHEMA}.escalations e WHERE e.dedupe_key = 'quarantine:' || q.id)
            ORDER BY q.first_seen_at"""
    )
    out = []
    for r in rows:
        problems = "; ".join(f"{p.get('field')}: {p.get('problem')}" for p in r["reasons"] or [])
        out.append(
            NewEscalation(
                subject=f"order:{r['crm_source']}-{r['crm_deal_id']}",
                kind="quarantine",
                notify_email=settings.ops_lead,
                notify_role="ops lead",
                reason=f"signed order {r['order_number'] or r['crm_deal_id']} is in quarantine: {problems}",
                dedupe_key=f"quarantine:{r['id']}",
                stage=Stage.INTAKE.value,
                breach_at=r["first_seen_at"],
                details={
                    "account": f"order {r['order_number'] or r['crm_deal_id']}",
                    "crm_deal_id": r["crm_deal_id"],
                    "blocking": problems,
                    "first_seen_at": r["first_seen_at"].isoformat(),
                    "seen_in_batches": r["seen_in_batches"],
                    "fix": "correct the order in the CRM; the next pickup takes it and resolves this",
                },
            )
        )
    return out


_RESOLVE_SQL = f"""
WITH target AS (
    SELECT e.id,
           CASE
             WHEN e.kind = 'quarantine' THEN q.resolved_at
             WHEN o.status <> 'open' THEN coalesce(o.live_at, o.updated_at)
             WHEN e.kind = 'deadline' THEN NULL
             WHEN e.stage IS DISTINCT FROM o.stage THEN (
                 SELECT max(h.exited_at) FROM {SCHEMA}.stage_history h
                 WHERE h.onboarding_id = e.onboarding_id AND h.stage = e.stage)
             WHEN e.kind = 'unowned' AND o.stage_owner_email = ANY(%(people)s) AND o.tier = ANY(%(tiers)s)
               THEN o.updated_at
             WHEN e.kind = 'silent' THEN heard.at
           END AS resolved_at,
           CASE
             WHEN e.kind = 'quarantine' THEN 'order ' || coalesce(q.status, 'gone') || ': '
                                             || coalesce(q.resolution, 'no longer quarantined')
             WHEN o.status <> 'open' THEN 'account ' || o.status
             WHEN e.stage IS DISTINCT FROM o.stage THEN 'stage moved on to ' || o.stage
             WHEN e.kind = 'silent' THEN 'the customer sent an input'
             ELSE 'stage owner is now ' || o.stage_owner_email
           END AS resolution,
           (e.kind = 'quarantine' AND coalesce(q.status, 'resolved') <> 'open')
             OR (e.kind <> 'quarantine' AND (
                  o.status <> 'open'
                  OR (e.kind <> 'deadline' AND e.stage IS DISTINCT FROM o.stage)
                  OR (e.kind = 'unowned' AND o.stage_owner_email = ANY(%(people)s) AND o.tier = ANY(%(tiers)s))
                  OR (e.kind = 'silent' AND heard.at > e.raised_at)
             )) AS done
    FROM {SCHEMA}.escalations e
    LEFT JOIN {SCHEMA}.onboardings o ON o.id = e.onboarding_id
    LEFT JOIN {SCHEMA}.quarantined_orders q
           ON e.kind = 'quarantine' AND q.id = substring(e.dedupe_key FROM 'quarantine:(\\d+)$')::bigint
    LEFT JOIN LATERAL (
        SELECT max(c.received_at) AS at FROM {SCHEMA}.checklist_items c
        WHERE e.kind = 'silent' AND c.onboarding_id = e.onboarding_id
    ) heard ON true
    WHERE e.resolved_at IS NULL
), resolved AS (
    UPDATE {SCHEMA}.escalations e
    SET resolved_at = GREATEST(e.raised_at, coalesce(t.resolved_at, %(now)s)),
        resolution = t.resolution
    FROM target t
    WHERE e.id = t.id AND t.done
    RETURNING e.id, e.onboarding_id, e.subject, e.stage, e.kind, e.level, e.breach_at, e.raised_at,
              e.resolved_at, e.resolution, e.notify_email
), logged AS (
    INSERT INTO {SCHEMA}.events
        (occurred_at, onboarding_id, subject, event_type, stage, actor, details, dedupe_key)
    SELECT r.resolved_at, r.onboarding_id, r.subject, 'escalation.resolved', r.stage, %(actor)s,
           jsonb_build_object(
               'escalation_id', r.id, 'kind', r.kind, 'level', r.level, 'notify', r.notify_email,
               'resolution', r.resolution, 'breach_at', r.breach_at, 'raised_at', r.raised_at,
               'resolved_at', r.resolved_at,
               'breach_to_escalation_seconds', extract(epoch FROM r.raised_at - r.breach_at),
               'escalation_to_resolution_seconds', extract(epoch FROM r.resolved_at - r.raised_at)),
           'escalation.resolved:' || r.id
    FROM resolved r
    ON CONFLICT (dedupe_key) DO NOTHING
)
SELECT count(*) AS n FROM resolved
"""


def resolve(store: Store, config: OnboardingConfig, now: datetime) -> int:
    """Resolve every open escalation whose cause went away; return how many."""
    with store.transaction() as cur:
        cur.execute(
            _RESOLVE_SQL,
            {
                "people": sorted(config.settings.people_by_email),
                "tiers": sorted(config.tiers),
                "now": now,
                "actor": ACTOR,
            },
        )
        row = cur.fetchone()
    return int(row["n"]) if row else 0


def run_pass(store: Store, config: OnboardingConfig, now: datetime) -> PassSummary:
    """Resolve what went away, then raise what is new.  Safe to run again at the same instant."""
    resolved = resolve(store, config, now)
    escalations, summary = find(store, config, now)
    ids = raise_escalations(store, escalations, now)
    raised_kinds = store.query(
        f"SELECT kind, count(*) AS n FROM {SCHEMA}.escalations WHERE id = ANY(%s) GROUP BY kind", (ids,)
    )
    summary.raised = {r["kind"]: int(r["n"]) for r in raised_kinds}
    summary.resolved = resolved
    log.info("escalation pass at %s: %s", now.isoformat(), summary.as_dict())
    return summary


# --------------------------------------------------------------------------- failures and deadlines


def account_escalation(
    store: Store,
    config: OnboardingConfig,
    key: str,
    kind: str,
    reason: str,
    dedupe_key: str,
    now: datetime,
    notify: str = "stage_owner",
    extra: dict[str, Any] | None = None,
) -> list[int]:
    """Raise one escalation about one account (failure callbacks, deadline alerts)."""
    frame = load_open(store, key)
    if frame.empty:
        log.info("onboarding %s is not open; no %s escalation", key, kind)
        return []
    frame = measure(frame, config, now)
    row = SimpleNamespace(**{str(k): v for k, v in frame.to_dict("records")[0].items()})
    settings = config.settings
    owner = row.owner_email if notify == "named_owner" else row.stage_owner_email
    email, role = recipient(settings, "stage_owner" if notify == "named_owner" else notify, owner, row.region)
    missing = _missing_items(store, [int(row.id)])
    details = _account_details(row, config, _blocking(row, missing)) if row.planned else {}
    details.update(extra or {})
    details.setdefault("blocking", reason)
    return raise_escalations(
        store,
        [
            NewEscalation(
                subject=key,
                kind=kind,
                notify_email=email,
                notify_role=role,
                reason=reason,
                dedupe_key=dedupe_key,
                onboarding_id=int(row.id),
                stage=row.stage,
                stage_owner=row.stage_owner_email,
                breach_at=now,
                details=details,
            )
        ],
        now,
    )
