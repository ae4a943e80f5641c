"""Approvals in the store: one row per (account, approval) with its latest state, the history in events.

A request (each try of an approval task is one) sets the row back to
``pending`` unless it was approved; the answer from Airflow's Required Actions
sets ``approved`` or ``rejected`` with who, when and the comment; a request
nobody answered stays ``pending`` and its expiry is an event.  Every change is
also an audit event (``approval.requested``, ``approval.approved``,
``approval.rejected``, ``approval.expired``, ``approval.refused``), keyed by
the account, the approval and the try, so repeating a write records nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from include.onboarding.constants import ApprovalStatus
from include.onboarding.events import EventType
from include.onboarding.lifecycle import Onboarding
from include.onboarding.store import SCHEMA, Event, Store

ACTOR = "system:approvals"


@dataclass(frozen=True)
class ApprovalRow:
    approval_key: str
    label: str
    approver_role: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    requested_at: datetime


def load(store: Store, onboarding_id: int, approval_key: str) -> ApprovalRow | None:
    """The approval as planned for the account, or None when the order does not need it."""
    rows = store.query(
        f"""SELECT approval_key, label, approver_role, status, decided_by, decided_at, comment, requested_at
            FROM {SCHEMA}.approvals WHERE onboarding_id = %s AND approval_key = %s""",
        (onboarding_id, approval_key),
    )
    return ApprovalRow(**rows[0]) if rows else None


def _event(
    onboarding: Onboarding, event_type: str, actor: str, at: datetime, details: dict[str, Any], dedupe: str
) -> Event:
    return Event(
        subject=onboarding.key,
        onboarding_id=onboarding.id,
        event_type=event_type,
        actor=actor,
        occurred_at=at,
        stage=onboarding.stage.value,
        stage_owner=onboarding.stage_owner_email,
        details=details,
        dedupe_key=dedupe,
    )


def request(
    store: Store, onboarding: Onboarding, approval_key: str, attempt: int, now: datetime, details: dict[str, Any]
) -> None:
    """Record that the approval was asked for (again): pending, unless it was already approved."""
    with store.transaction() as cur:
        cur.execute(
            f"""UPDATE {SCHEMA}.approvals
                SET status = '{ApprovalStatus.PENDING}', decided_by = NULL, decided_at = NULL, comment = NULL,
                    requested_at = %s
                WHERE onboarding_id = %s AND approval_key = %s AND status <> '{ApprovalStatus.APPROVED}'
                  AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.events WHERE dedupe_key = %s)""",
            (now, onboarding.id, approval_key, _key(EventType.APPROVAL_REQUESTED, onboarding, approval_key, attempt)),
        )
        Store.record_events(
            cur,
            [
                _event(
                    onboarding, EventType.APPROVAL_REQUESTED, ACTOR, now,
                    {"approval": approval_key, "try": attempt} | details,
                    _key(EventType.APPROVAL_REQUESTED, onboarding, approval_key, attempt),
                )
            ],
        )  # fmt: skip


def decide(
    store: Store,
    onboarding: Onboarding,
    approval_key: str,
    *,
    approved: bool,
    by: str,
    at: datetime,
    comment: str | None,
    attempt: int,
    details: dict[str, Any],
) -> bool:
    """Record the answer to the request of try ``attempt``.  False if that answer was recorded before."""
    status = "approved" if approved else "rejected"
    dedupe = _key("approval.decided", onboarding, approval_key, attempt)
    with store.transaction() as cur:
        cur.execute(f"SELECT 1 FROM {SCHEMA}.events WHERE dedupe_key = %s", (dedupe,))
        if cur.fetchone():
            return False
        cur.execute(
            f"""UPDATE {SCHEMA}.approvals SET status = %s, decided_by = %s, decided_at = %s, comment = %s
                WHERE onboarding_id = %s AND approval_key = %s""",
            (status, by, at, comment, onboarding.id, approval_key),
        )
        Store.record_events(
            cur,
            [
                _event(
                    onboarding, f"approval.{status}", by, at,
                    {"approval": approval_key, "comment": comment, "try": attempt} | details, dedupe,
                )
            ],
        )  # fmt: skip
    return True


def note(
    store: Store,
    onboarding: Onboarding,
    approval_key: str,
    event_type: str,
    actor: str,
    now: datetime,
    attempt: int,
    details: dict[str, Any],
) -> None:
    """An event about one request that changes no state: expired, refused, the approver's notice."""
    store_event = _event(
        onboarding, event_type, actor, now, {"approval": approval_key, "try": attempt} | details,
        _key(event_type, onboarding, approval_key, attempt),
    )  # fmt: skip
    with store.transaction() as cur:
        Store.record_events(cur, [store_event])


def requested_details(store: Store, onboarding: Onboarding, approval_key: str, attempt: int) -> dict[str, Any]:
    """What was recorded when the request of try ``attempt`` went out (approver, deadlines), or {}."""
    rows = store.query(
        f"SELECT details FROM {SCHEMA}.events WHERE dedupe_key = %s",
        (_key(EventType.APPROVAL_REQUESTED, onboarding, approval_key, attempt),),
    )
    return dict(rows[0]["details"]) if rows else {}


def _key(event_type: str, onboarding: Onboarding, approval_key: str, attempt: int) -> str:
    return f"{event_type}:{onboarding.key}:{approval_key}:{attempt}"
