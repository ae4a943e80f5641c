"""Collecting the customer's inputs with one structured checklist.

The checklist is planned from the tier (:func:`lifecycle.plan`) and the customer
is invited once by email, with a magic link to the portal (:mod:`include.portal`)
listing every item the account needs.  Each submission is judged in the request
that carries it (:func:`judge_submission`, the one way in): a valid one verifies
the item; an invalid one is rejected with a reason the customer reads at once.
Every submission and verdict is kept (``onboarding.submissions``) and logged in
the audit trail, and the commit notifies the item's waiting sensor
(``NOTIFY onboarding_input``), so completeness per account is always current.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from include.onboarding import lifecycle, state
from include.onboarding.config import ChecklistItem, OnboardingConfig, Stage
from include.onboarding.constants import SETTLED_SQL, ItemStatus, is_settled
from include.onboarding.events import EventType
from include.onboarding.store import SCHEMA, Event, Store
from include.onboarding.validators import AccountContext, Submission, validate

log = logging.getLogger(__name__)

ACTOR = "system:checklist"
INPUT_CHANNEL = "onboarding_input"
"""PostgreSQL ``NOTIFY`` channel: a recorded submission wakes the sensors waiting on the account's items.

The payload is ``<onboarding key>`` TAB ``<item key>``; notifications are delivered when the
submission's transaction commits, so a woken sensor always finds what woke it.
"""


def request_inputs(
    store: Store, config: OnboardingConfig, onboarding_key: str, now: datetime, *, secret: bytes | None = None
) -> int:
    """Ask the customer for the planned checklist once: mark it requested and queue the invitation.

    The invitation carries a magic link to the portal, where each item is judged the moment it is
    sent.  Returns how many items were requested.  Safe to repeat: the event, the invitation and
    the stage change each happen once.
    """
    from include.onboarding import mail

    onboarding = lifecycle.load(store, onboarding_key)
    planned = [
        r["item_key"]
        for r in store.query(
            f"SELECT item_key FROM {SCHEMA}.checklist_items WHERE onboarding_id = %s ORDER BY id", (onboarding.id,)
        )
    ]
    if not planned:
        raise RuntimeError(f"onboarding {onboarding_key}: no checklist is planned yet, so there is nothing to ask for")
    with store.transaction() as cur:
        cur.execute(
            f"""UPDATE {SCHEMA}.checklist_items SET requested_at = COALESCE(requested_at, %s), updated_at = %s
                WHERE onboarding_id = %s AND requested_at IS NULL""",
            (now, now, onboarding.id),
        )
        Store.record_events(
            cur,
            [
                Event(
                    subject=onboarding_key,
                    onboarding_id=onboarding.id,
                    event_type=EventType.CHECKLIST_REQUESTED,
                    actor=ACTOR,
                    occurred_at=now,
                    stage=onboarding.stage.value,
                    stage_owner=onboarding.stage_owner_email,
                    details={"items": planned, "to": onboarding.primary_contact_email},
                    dedupe_key=f"checklist.requested:{onboarding_key}",
                )
            ],
        )
    mail.queue_invitation(store, config, onboarding_key, now, secret=secret)
    state.advance(store, config, onboarding_key, Stage.COLLECT_INPUTS, now, ACTOR, "checklist sent to the customer")
    return len(planned)


def poll_item(store: Store, config: OnboardingConfig, onboarding_key: str, item_key: str) -> bool:
    """True once the account no longer waits on one item: it is verified or waived, or it is a
    nice-to-have and every critical item is in.  Submissions are judged when they arrive (the
    portal), so this only reads the store.
    """
    rows = store.query(
        f"""SELECT c.status, c.critical,
                   (SELECT count(*) FROM {SCHEMA}.checklist_items o
                     WHERE o.onboarding_id = c.onboarding_id AND o.critical
                       AND o.status NOT IN {SETTLED_SQL}) AS critical_outstanding
            FROM {SCHEMA}.checklist_items c JOIN {SCHEMA}.onboardings b ON b.id = c.onboarding_id
            WHERE b.onboarding_key = %s AND c.item_key = %s""",
        (onboarding_key, item_key),
    )
    if not rows:
        onboarding = lifecycle.load(store, onboarding_key)  # names a missing account
        tier = lifecycle.tier_of(config, onboarding)
        if not any(i.key == item_key for i in tier.checklist):
            raise lifecycle.TierRemoved(
                f"onboarding {onboarding_key}: item {item_key!r} is no longer in tier {tier.key!r}"
            )
        raise RuntimeError(f"onboarding {onboarding_key}: item {item_key!r} was never planned for this account")
    row = rows[0]
    return is_settled(row["status"]) or (not row["critical"] and row["critical_outstanding"] == 0)


def _status(store: Store, onboarding_id: int, item_key: str) -> str:
    return str(
        store.scalar(
            f"SELECT status FROM {SCHEMA}.checklist_items WHERE onboarding_id = %s AND item_key = %s",
            (onboarding_id, item_key),
        )
    )


@dataclass(frozen=True)
class Judgement:
    """What became of one submission."""

    outcome: str
    """``verified``, ``rejected``, or ``ignored`` (the item was already verified; kept for the record only)."""
    reason: str | None = None
    """For the customer, when rejected."""
    first: bool = True
    """False when this submission id was judged before (a repeated look); nothing changed then."""


def judge_submission(
    store: Store,
    onboarding: lifecycle.Onboarding,
    item: ChecklistItem,
    submission: Submission,
    *,
    submission_id: str,
    submitted_at: datetime,
    submitted_by: str,
    summary: dict[str, Any],
    account: AccountContext,
    now: datetime,
) -> Judgement:
    """Validate one submission, record it with its verdict, and update the item: the one way in for every channel.

    The submission row, the item's new status and the ``input.<verdict>`` audit event are written
    in one transaction that holds the item's row, so two submissions of one item at once each get
    their verdict and the item ends in one state: once verified, a later submission is ``ignored``.
    ``summary`` is what is kept of a rejected or ignored submission (never a large blob).
    """
    settled = _status(store, onboarding.id, item.key) == "verified"
    verdict = validate(item, submission, account) if not settled else None
    with store.transaction() as cur:
        cur.execute(
            f"""SELECT status FROM {SCHEMA}.checklist_items WHERE onboarding_id = %s AND item_key = %s FOR UPDATE""",
            (onboarding.id, item.key),
        )
        row = cur.fetchone()
        if row is not None and row["status"] == "verified":
            verdict = None  # verified by another submission meanwhile
        if verdict is None:
            # The item is already settled: keep the later submission for the record, change nothing.
            outcome, reason, recorded_value = "ignored", "the item was already verified", summary
        elif verdict.ok:
            outcome, reason, recorded_value = "verified", None, verdict.value
        else:
            outcome, reason, recorded_value = "rejected", verdict.reason, summary
        cur.execute(
            f"""INSERT INTO {SCHEMA}.submissions
                    (onboarding_id, item_key, submission_id, submitted_at, value, verdict, reason, recorded_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (onboarding_id, submission_id) DO NOTHING""",
            (onboarding.id, item.key, submission_id, submitted_at, Jsonb(recorded_value), outcome, reason, now),
        )
        if cur.rowcount == 0:
            return Judgement(outcome, reason, first=False)  # judged by an earlier poke
        if verdict is None:
            return Judgement(outcome, reason)
        if verdict.ok:
            cur.execute(
                f"""UPDATE {SCHEMA}.checklist_items
                    SET status = '{ItemStatus.VERIFIED}', value = %s, rejection_reason = NULL,
                        submissions = submissions + 1, received_at = COALESCE(received_at, %s), verified_at = %s,
                        last_submission_id = %s, last_submission_at = %s, updated_at = %s
                    WHERE onboarding_id = %s AND item_key = %s AND status <> '{ItemStatus.VERIFIED}'""",
                (Jsonb(verdict.value), submitted_at, now, submission_id, submitted_at, now, onboarding.id, item.key),
            )
        else:
            cur.execute(
                f"""UPDATE {SCHEMA}.checklist_items
                    SET status = '{ItemStatus.REJECTED}', rejection_reason = %s, submissions = submissions + 1,
                        received_at = COALESCE(received_at, %s), last_submission_id = %s, last_submission_at = %s,
                        updated_at = %s
                    WHERE onboarding_id = %s AND item_key = %s AND status <> '{ItemStatus.VERIFIED}'""",
                (verdict.reason, submitted_at, submission_id, submitted_at, now, onboarding.id, item.key),
            )
        Store.record_events(
            cur,
            [
                Event(
                    subject=onboarding.key,
                    onboarding_id=onboarding.id,
                    event_type=EventType(f"input.{outcome}"),
                    actor=f"customer:{submitted_by}",
                    occurred_at=submitted_at,
                    stage=onboarding.stage.value,
                    stage_owner=onboarding.stage_owner_email,
                    details={"item": item.key, "submission_id": submission_id, "critical": item.critical}
                    | ({"reason": verdict.reason} if verdict.reason else {}),
                    dedupe_key=f"input:{onboarding.key}:{submission_id}",
                )
            ],
        )
        # Delivered on commit: the item's waiting sensor wakes and finds the verdict.
        cur.execute("SELECT pg_notify(%s, %s)", (INPUT_CHANNEL, f"{onboarding.key}\t{item.key}"))
    return Judgement(outcome, reason)
