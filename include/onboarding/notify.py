"""Delivering escalations to people on Slack, never dropping one.

Each person in ``settings.yaml`` names the Airflow connection of the Slack
incoming webhook that reaches them (``slack_connection``).  A notice goes out
as a Block Kit message through the Slack provider's ``SlackWebhookHook``:
which account, which stage, what blocks it, who owns it, how late it is
against SLA and target, and a link to the Airflow run.  Its header names the
account; text longer than Slack takes (a 20,000-character company name, a long
error) is cut with an ellipsis by :mod:`include.onboarding.blockkit`, and the
escalation in the store keeps all of it.

Slack's 429 is retried after the ``Retry-After`` it sends.  A notice that still
cannot be posted (Slack down, webhook revoked) is marked ``undelivered`` with
the error and retried by the next pass; every attempt is in the audit trail.
Someone without a Slack connection is reached through the ops lead's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg

from include.onboarding import blockkit
from include.onboarding.config import OnboardingConfig
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
}

Poster = Callable[[str, str, list[dict[str, Any]]], None]
"""Posts (connection id, fallback text, blocks); raises :class:`DeliveryFailed` when Slack refuses."""


class DeliveryFailed(RuntimeError):
    """Slack did not take the message.  ``connection_down`` stops further posts to it in this pass."""

    def __init__(self, message: str, connection_down: bool):
        super().__init__(message)
        self.connection_down = connection_down


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
    """Post through ``SlackWebhookHook``, retrying Slack's 429 after its Retry-After.

    Every message is first fitted to Slack's Block Kit limits (:func:`include.onboarding.blockkit.fit`).
    """
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    retries = config.settings.escalations.slack_rate_limit_retries
    hooks: dict[str, Any] = {}

    def post(connection: str, text: str, blocks: list[dict[str, Any]]) -> None:
        text, blocks = blockkit.fit(text, blocks)  # whoever built them, Slack gets blocks it accepts
        hook = hooks.get(connection)
        if hook is None:
            hook = SlackWebhookHook(
                slack_webhook_conn_id=connection,
                retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=retries)],
            )
            hooks[connection] = hook
        try:
            hook.send(text=text, blocks=blocks)  # raises unless Slack answered 200
        except Exception as exc:  # Slack's refusal, connection refused, timeout, missing connection
            match = re.search(r"Status Code: (\d{3})", str(exc))
            status = int(match.group(1)) if match else None
            what = f"Slack answered {status}: {_body(exc)}" if status else f"{type(exc).__name__}: {exc}"
            # A refused message (400) says nothing about the webhook; anything else stops it for this pass.
            raise DeliveryFailed(what, connection_down=status != 400) from exc

    return post


def _body(exc: Exception) -> str:
    match = re.search(r"Response body: (.*?), Status Code", str(exc))
    return (match.group(1) if match else str(exc))[:200]


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
                event_type="escalation.undelivered" if error else "escalation.delivered",
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
