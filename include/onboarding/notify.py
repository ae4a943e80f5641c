"""Delivering escalations to people on Slack, never dropping one.

Each person in ``settings.yaml`` names the Airflow connection of the Slack
incoming webhook that reaches them (``slack_connection``).  A notice goes out
as a Block Kit message through
:class:`~include.onboarding.clients.slack.SlackWebhookClient`: which account,
which stage, what blocks it, who owns it, how late it is against SLA and
target, and a link to the Airflow run.  Its header names the account; text
longer than Slack takes (a 20,000-character company name, a long error) is cut
with an ellipsis by :mod:`include.onboarding.blockkit`, and the escalation in
the store keeps all of it.

Slack's 429 is retried after the ``Retry-After`` it sends.  A notice that still
cannot be posted (Slack down, webhook revoked) is marked ``undelivered`` with
the error and retried by the next pass; every attempt is in the audit trail.
Someone without a Slack connection is reached through the ops lead's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg

from include.onboarding import blockkit, runtime
from include.onboarding.clients.slack import DeliveryFailed, SlackWebhookClient
from include.onboarding.config import OnboardingConfig
from include.onboarding.events import EventType
from include.onboarding.store import SCHEMA, Event, Store

log = logging.getLogger(__name__)

ACTOR = "system:notify"

TITLES = {
    "sla_breach": "SLA breach",
    "at_risk": "At risk of missing the activation target",
    "unowned": "No owner for the current stage",
    "failure": "Onboarding step failed",
    "deadline": "Activation deadline",
    "quarantine": "Signed order waiting in quarantine",
    "silent": "Customer has gone quiet",
    "approval_rejected": "Approval rejected",
    "approval_expired": "Approval request expired unanswered",
}

Poster = Callable[[str, str, list[dict[str, Any]]], None]
"""Posts (connection id, fallback text, blocks); raises :class:`DeliveryFailed` when Slack refuses."""

__all__ = ["TITLES", "DeliveryFailed", "Poster", "deliver", "render", "slack_poster"]


def render(escalation: dict[str, Any], config: OnboardingConfig) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, Block Kit blocks) for one escalation row, within Slack's limits."""
    from include.onboarding.escalations.routing import board_url  # the package imports pandas; golive need not

    d = escalation.get("details") or {}
    people = config.settings.people_by_email
    to = people.get(escalation["notify_email"])
    title = TITLES.get(escalation["kind"], escalation["kind"])
    account = str(d.get("account") or escalation["subject"])
    name = blockkit.clip(account, blockkit.NAME_CHARS)  # a long name must not push the reason out of view
    tier = f" ({d['tier']})" if d.get("tier") else ""
    level = f" · level {escalation['level']}" if escalation["kind"] == "sla_breach" else ""
    text = f"{title}{level}: {name}{tier}, {escalation['reason']}"
    blocks: list[dict[str, Any]] = [
        blockkit.header(f"{title}{level}: {account}"),
        blockkit.section(f"*{name}*{tier} · `{escalation['subject']}`\n{escalation['reason']}"),
    ]
    fields: list[tuple[str, Any]] = []
    if escalation.get("stage"):
        fields.append(("Stage", escalation["stage"]))
    owner = d.get("stage_owner")
    if owner:
        fields.append(("Owner", f"{d.get('stage_owner_name') or owner} ({owner})"))
    if d.get("sla"):
        fields.append(
            (
                "Against SLA",
                f"{d.get('elapsed_business_days', 0):g} of {d['sla']} ({d.get('sla_percent') or 0:.0f}%)",
            )
        )
    if d.get("activation_target"):
        left = int(d.get("business_days_to_target", 0))
        when = f"{left} business days left" if left >= 0 else f"{-left} business days late"
        fields.append(("Activation target", f"{d['activation_target']} ({when})"))
    blocks += blockkit.fields(fields)
    for label, value in (("What blocks it", d.get("blocking")), ("How to fix", d.get("fix"))):
        if value:
            blocks.append(blockkit.section(f"*{label}*\n{value}"))
    context = f"For {to.name if to else escalation['notify_email']} ({escalation.get('notify_role') or 'owner'})"
    if escalation.get("breach_at"):
        context += f" · breached {escalation['breach_at']:%Y-%m-%d %H:%M} UTC"
    blocks.append(blockkit.context(context))
    blocks.append(
        blockkit.link_button("Open on the onboarding board", board_url(config.settings, escalation["subject"]))
    )
    if d.get("run_url"):
        blocks.append(blockkit.link_button("Open the Airflow run", d["run_url"]))
    return blockkit.fit(text, blocks)


def slack_poster(config: OnboardingConfig) -> Poster:
    """Post through one :class:`SlackWebhookClient` per connection: fitted to Block Kit's limits,
    Slack's 429 retried after its Retry-After, anything else raised as :class:`DeliveryFailed`."""
    clients: dict[str, SlackWebhookClient] = {}

    def post(connection: str, text: str, blocks: list[dict[str, Any]]) -> None:
        client = clients.get(connection)
        if client is None:
            client = clients[connection] = runtime.slack_client(connection, config)
        client.post(text=text, blocks=blocks)

    return post


def _connection_for(config: OnboardingConfig, email: str) -> tuple[str | None, str | None]:
    """(connection, note) that reaches ``email``, falling back to the ops lead's."""
    people = config.settings.people_by_email
    person = people.get(email)
    if person is not None and person.slack_connection:
        return person.slack_connection, None
    lead = people.get(config.settings.ops_lead)
    if lead is not None and lead.slack_connection:
        return lead.slack_connection, f"{email} has no Slack connection; sent to the ops lead's channel"
    return None, f"neither {email} nor the ops lead has a Slack connection"


def deliver(
    store: Store,
    config: OnboardingConfig,
    now: datetime,
    post: Poster | None = None,
    only: Sequence[int] | None = None,
) -> dict[str, int]:
    """Post pending and undelivered escalations, oldest first.  Returns counts by outcome."""
    limit = config.settings.escalations.max_deliveries_per_pass
    if only is not None:
        rows = store.query(
            f"""SELECT * FROM {SCHEMA}.escalations WHERE id = ANY(%s) AND delivery_status <> 'delivered'
                ORDER BY raised_at, id""",
            (list(only),),
        )
    else:
        rows = store.query(
            f"""SELECT * FROM {SCHEMA}.escalations WHERE delivery_status <> 'delivered'
                ORDER BY raised_at, id LIMIT %s""",
            (limit,),
        )
    counts = {"delivered": 0, "undelivered": 0, "deferred": 0}
    if not rows:
        return counts
    post = post or slack_poster(config)
    down: dict[str, str] = {}
    for candidate in rows:
        connection, note = _connection_for(config, candidate["notify_email"])
        if connection is not None and connection in down:
            counts["deferred"] += 1  # its webhook already failed in this pass; next pass retries
            continue
        # Hold the row while posting: a failure callback and the pass delivering the same
        # notice at once cannot both post it (the second skips the locked row).
        with store.transaction() as cur:
            cur.execute(
                f"""SELECT * FROM {SCHEMA}.escalations WHERE id = %s AND delivery_status <> 'delivered'
                    FOR UPDATE SKIP LOCKED""",
                (candidate["id"],),
            )
            row = cur.fetchone()
            if row is None:
                counts["deferred"] += 1
                continue
            text, blocks = render(row, config)
            error: str | None = None
            if connection is None:
                error = note
            else:
                try:
                    post(connection, text, blocks)
                except DeliveryFailed as exc:
                    error = str(exc)
                    if exc.connection_down:
                        down[connection] = error
            _record(cur, row, connection, note, error, now)
        counts["undelivered" if error else "delivered"] += 1
        if error:
            log.warning("escalation %s to %s not delivered: %s", row["id"], row["notify_email"], error)
    return counts


def _record(
    cur: psycopg.Cursor[dict[str, Any]],
    row: dict[str, Any],
    connection: str | None,
    note: str | None,
    error: str | None,
    now: datetime,
) -> None:
    attempt = int(row["delivery_attempts"]) + 1
    cur.execute(
        f"""UPDATE {SCHEMA}.escalations
            SET delivery_status = %s, delivery_attempts = %s, last_attempt_at = %s,
                delivered_at = CASE WHEN %s THEN %s ELSE delivered_at END,
                last_delivery_error = %s, notify_connection = %s
            WHERE id = %s""",
        ("undelivered" if error else "delivered", attempt, now, error is None, now, error, connection, row["id"]),
    )
    Store.record_events(
        cur,
        [
            Event(
                subject=row["subject"],
                onboarding_id=row["onboarding_id"],
                event_type=EventType.ESCALATION_UNDELIVERED if error else EventType.ESCALATION_DELIVERED,
                actor=ACTOR,
                occurred_at=now,
                stage=row["stage"],
                details={
                    "escalation_id": row["id"],
                    "kind": row["kind"],
                    "level": row["level"],
                    "to": row["notify_email"],
                    "channel": connection,
                    "attempt": attempt,
                }
                | ({"error": error} if error else {})
                | ({"note": note} if note else {}),
                dedupe_key=f"escalation.delivery:{row['id']}:{attempt}",
            )
        ],
    )
