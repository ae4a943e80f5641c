"""
### Escalations

Every 15 minutes (settings `escalations.schedule`, or `ONBOARDING_ESCALATION_SCHEDULE`)
one pass over **every open onboarding at once**, in business time on each
account's regional holiday calendar and working hours.

| Task | What it does |
| --- | --- |
| `evaluate` | Resolves escalations whose stage moved on (keeping breach, escalation and resolution times), then raises what is new: **SLA breaches** climbing the tier's escalation ladder (stage owner, then their manager, then leadership; each rung once per stage), **at-risk** forecasts when the remaining stages need more business days than are left before the activation target, **unowned** accounts (stage owner not a known person) for the ops lead, and **quarantined orders** waiting on a person. |
| `deliver` | Posts every escalation not yet delivered to its person's Slack webhook as a Block Kit message: account, stage, what blocks it, owner, lateness against SLA and target, a link to the account's run. Slack's 429 is retried after its `Retry-After`; a notice that still fails is kept as `undelivered` and retried by the next pass. |

Failed tasks (a checklist sensor timing out on the customer, a setup step the
API refused, a gate that cannot open) and the runs' deadline alerts raise
escalations through the same table at the moment they happen.

**Where to look**: `onboarding.escalations` (open ones have no `resolved_at`;
`delivery_status` says whether the person was told), and the audit trail
`onboarding.events` (`escalation.raised`, `escalation.delivered`,
`escalation.undelivered`, `escalation.resolved`).

**Safe to clear or re-run**: an escalation is raised once per account, stage
and rung (dedupe key), and a delivered one is never posted again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from include.onboarding.assets import ONBOARDING_EVENTS
from include.onboarding.config import load_config

CONFIG = load_config()  # local YAML only


@dag(
    dag_id="onboarding_escalations",
    schedule=CONFIG.escalation_schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # one pass at a time: a second would race the first to raise the same rungs
    default_args={
        "owner": "onboarding-ops",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        # Ahead of the per-account tasks when every worker slot is busy.
        "priority_weight": 1000,
        "weight_rule": "absolute",
    },
    tags=["onboarding", "escalations"],
    doc_md=__doc__,
)
def onboarding_escalations() -> None:
    @task(outlets=[ONBOARDING_EVENTS], multiple_outputs=False)
    def evaluate() -> dict[str, Any]:
        from include.onboarding import escalations, runtime

        summary = escalations.run_pass(runtime.open_store(), runtime.config(), runtime.clock().now())
        return summary.as_dict()

    @task(multiple_outputs=False)
    def deliver() -> dict[str, int]:
        from include.onboarding import notify, runtime

        return notify.deliver(runtime.open_store(), runtime.config(), runtime.clock().now())

    evaluate() >> deliver()


onboarding_escalations()
