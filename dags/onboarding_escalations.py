"""
### Escalations

Every 15 minutes (settings `escalations.schedule`, or `ONBOARDING_ESCALATION_SCHEDULE`)
one pass over **every open onboarding at once**, in business time on each
account's regional holiday calendar and working hours.

| Task | What it does |
| --- | --- |
| `evaluate` | Resolves escalations whose stage moved on (keeping breach, escalation and resolution times), then raises what is new: **SLA breaches** climbing the tier's escalation ladder (stage owner, then their manager, then leadership; each rung once per stage), **at-risk** forecasts when the remaining stages need more business days than are left before the activation target, **unowned** accounts (stage owner not a known person) for the ops lead, and **quarantined orders** waiting on a person. |
| `remind_customers` | Emails the customer of every account whose checklist is out and whose critical items are not all in, on the tier's cadence (`reminders.after_business_days`, in business days on the account's region calendar since the checklist request or the customer's last submission): the items still open and a fresh link to the portal. A submission restarts the count; at most one reminder per business day per contact; none once the critical items are verified or waived, or the account has moved on. Skipped (with the reason in its log) when the portal has no signing secret for the links. |
| `deliver_mail` | Sends the customer email waiting in the outbox (these reminders, and any other mail a server outage held back) through the `customer_mail` SMTP connection; a message the server refuses stays pending with its error for the next pass. |
| `deliver` | Posts every escalation not yet delivered to its person's Slack webhook as a Block Kit message: account, stage, what blocks it, owner, lateness against SLA and target, a link to the account's run. Slack's 429 is retried after its `Retry-After`; a notice that still fails is kept as `undelivered` and retried by the next pass. |

Failed tasks (a checklist sensor timing out on the customer, a setup step the
API refused, a gate that cannot open) and the runs' deadline alerts raise
escalations through the same table at the moment they happen.

The reminders come before the silent-customer escalation: every step of a
cadence is shorter than `escalations.customer_silent_business_days`, so the
customer is asked before their owner is told. Reminders and escalations are
independent branches: one failing does not hold up the other.

**Where to look**: `onboarding.escalations` (open ones have no `resolved_at`;
`delivery_status` says whether the person was told), `onboarding.customer_reminders`
and `onboarding.outbox` for reminders, and the audit trail `onboarding.events`
(`escalation.raised`, `escalation.delivered`, `escalation.undelivered`,
`escalation.resolved`, `customer.reminded`, `mail.sent`, `mail.deferred`).

**Safe to clear or re-run**: an escalation is raised once per account, stage
and rung (dedupe key), and a delivered one is never posted again; a reminder
is queued once per account, stretch without progress and step, and a sent
email is never sent again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import TriggerRule, dag, task

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

    @task(multiple_outputs=False)
    def remind_customers() -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from include.onboarding import reminders, runtime
        from include.portal.links import PortalNotConfigured

        try:
            summary = reminders.run(runtime.open_store(), runtime.config(), runtime.clock().now())
        except PortalNotConfigured as exc:  # no links can be signed: say so, and let the rest of the pass run
            raise AirflowSkipException(f"customer reminders not sent: {exc}") from exc
        return summary.as_dict()

    # After the reminders, or without them when they were skipped; not after a failure (the run shows it).
    @task(multiple_outputs=False, trigger_rule=TriggerRule.NONE_FAILED)
    def deliver_mail() -> dict[str, Any]:
        from include.onboarding import mail, runtime

        delivery = mail.deliver_pending(runtime.open_store(), runtime.config(), runtime.clock().now())
        return {"sent": delivery.sent, "deferred": delivery.deferred, "errors": delivery.errors[:10]}

    evaluate() >> deliver()
    remind_customers() >> deliver_mail()


onboarding_escalations()
