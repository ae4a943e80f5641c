"""The escalation pass: every open onboarding at once, resolve what went away, raise what is new.

One pass (:func:`run_pass`, the ``onboarding_escalations`` DAG) is a handful
of indexed queries and vectorised business time, never a query per account:
it resolves escalations whose stage moved on (or whose cause went away),
measures every open account's stage clock (:mod:`.sla`), raises what its
tier's ladder and the other rules make due (:mod:`.ladder`), each worded by
:mod:`.wording` and routed by :mod:`.routing`, and reports orders waiting in
quarantine to the ops lead.  Safe to run again at the same instant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pandas as pd

from include.onboarding.config import OnboardingConfig, Settings, Stage
from include.onboarding.constants import QuarantineStatus
from include.onboarding.escalations import ladder, wording
from include.onboarding.escalations.persistence import (
    NewEscalation,
    missing_items,
    raise_escalations,
    raised_for_current_stages,
    resolve,
)
from include.onboarding.escalations.routing import recipient
from include.onboarding.escalations.sla import breach_times, load_open, measure
from include.onboarding.store import SCHEMA, Store

log = logging.getLogger(__name__)


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


def find(store: Store, config: OnboardingConfig, now: datetime) -> tuple[list[NewEscalation], PassSummary]:
    """Escalations due now that were not raised before, and what the pass saw."""
    summary = PassSummary()
    frame = load_open(store)
    summary.open_onboardings = len(frame)
    fresh: list[NewEscalation] = []
    if len(frame):
        frame = measure(frame, config, now)
        candidates, counts = ladder.due(frame, config)
        summary.breached, summary.at_risk, summary.unowned = counts.breached, counts.at_risk, counts.unowned
        summary.silent = counts.silent
        if len(candidates):
            candidates = candidates[~candidates["dedupe"].isin(raised_for_current_stages(store))]
            fresh = _build(store, config, frame, candidates)
    quarantine = _quarantine_reports(store, config.settings)
    summary.quarantined_open = len(quarantine)
    return fresh + quarantine, summary


def _addressed(candidate: Any, row: Any, config: OnboardingConfig) -> tuple[str, str, str]:
    """(email, role, reason) of one due escalation."""
    settings = config.settings
    if candidate.kind == "unowned":
        return settings.ops_lead, "ops lead", wording.unowned_reason(row, config)
    if candidate.kind == "silent":
        email, role = recipient(settings, "stage_owner", row.stage_owner_email, row.region)
        return email, role, wording.silent_reason(row)
    if candidate.kind == "at_risk":
        email, _ = recipient(settings, "stage_owner", row.owner_email, row.region)
        return email, "named owner", wording.at_risk_reason(row)
    email, role = recipient(settings, candidate.notify, row.stage_owner_email, row.region)
    return email, role, wording.breach_reason(row, candidate.level, candidate.percent, candidate.notify)


def _build(
    store: Store, config: OnboardingConfig, frame: pd.DataFrame, candidates: pd.DataFrame
) -> list[NewEscalation]:
    """Turn due candidates into escalations with breach times, recipients and message details."""
    if candidates.empty:
        return []
    breach_at: dict[int, datetime] = {}
    for percent, group in candidates[candidates["kind"] == "sla_breach"].groupby("percent"):
        times = breach_times(frame.loc[group["row"].to_numpy()], config, float(str(percent)))
        breach_at.update(zip(group.index, times.dt.to_pydatetime(), strict=True))
    rows = frame.loc[candidates["row"].unique()]
    missing = missing_items(store, [int(i) for i in rows["id"]])
    records = {
        index: SimpleNamespace(**{str(k): v for k, v in record.items()})
        for index, record in rows.to_dict("index").items()
    }
    out = []
    c: Any
    for c in candidates.itertuples():
        row = records[c.row]
        email, role, reason = _addressed(c, row, config)
        if row.planned:
            details = wording.account_details(row, config, wording.blocking(row, missing))
        else:
            details = {"blocking": reason}
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
            WHERE q.status = '{QuarantineStatus.OPEN}' AND NOT EXISTS (
                SELECT 1 FROM {SCHEMA}.escalations e WHERE e.dedupe_key = 'quarantine:' || q.id)
            ORDER BY q.first_seen_at"""
    )
    out = []
    for r in rows:
        problems = wording.quarantine_problems(r["reasons"])
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
