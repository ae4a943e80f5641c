"""What the customer may see of the audit trail.

The audit trail (``onboarding.events``) holds everything: escalations,
approval comments, owners' Slack notices, intake internals.  The customer's
timeline shows only the event types in :data:`CUSTOMER_VISIBLE`, each turned
into one sentence from a few named fields of its details: an event type not
listed here is never shown, and no detail is shown that its sentence does not
name.  Adding a type to the customer's view is adding a line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from include.onboarding.events import EventType
from include.onboarding.store import SCHEMA, Store

Render = Callable[[dict[str, Any], dict[str, str]], str]
"""(event details, item labels) -> the sentence the customer reads."""

_STAGES = {
    "intake": "Order received",
    "collect_inputs": "Collecting your information",
    "approvals": "Internal review of your order",
    "setup": "Setting up your account",
    "provisioning": "Preparing your workspace",
    "customer_communication": "Getting ready to go live",
    "handoff": "Handing over to your account team",
    "live": "Live",
}
_MAIL = {
    "invitation": "Invitation to this page sent to {to}",
    "reminder": "Reminder sent to {to}",
    "rejection": "Notice sent to {to} about an item to send again",
    "go_live": "Go-live notice sent to {to}",
    "forward": "Invitation sent to {to} for forwarded items",
}


def _item(details: dict[str, Any], labels: dict[str, str]) -> str:
    key = str(details.get("item") or "")
    return labels.get(key, key or "an item")


def _mail(details: dict[str, Any], labels: dict[str, str]) -> str:
    return _MAIL.get(str(details.get("kind")), "Email sent to {to}").format(to=details.get("to") or "you")


CUSTOMER_VISIBLE: dict[str, Render] = {
    EventType.CHECKLIST_PLANNED: lambda d, labels: "Your onboarding checklist was prepared",
    EventType.CHECKLIST_REQUESTED: lambda d, labels: "We asked for your onboarding information",
    EventType.INPUT_VERIFIED: lambda d, labels: f"{_item(d, labels)}: verified",
    EventType.INPUT_REJECTED: lambda d, labels: f"{_item(d, labels)}: not accepted. {d.get('reason') or ''}".strip(),
    EventType.INPUT_REREQUESTED: lambda d, labels: f"{_item(d, labels)}: asked for again",
    EventType.INPUT_WAIVED: lambda d, labels: f"{_item(d, labels)}: no longer needed",
    EventType.DOCUMENT_STORED: lambda d, labels: f"{_item(d, labels)}: file {d.get('filename')} received",
    EventType.PORTAL_FORWARDED: lambda d, labels: (
        f"{', '.join(labels.get(k, k) for k in d.get('items') or [])} forwarded to {d.get('to_name')} ({d.get('to')})"
    ),
    EventType.MAIL_SENT: _mail,
    EventType.STAGE_ENTERED: lambda d, labels: f"Milestone: {_STAGES.get(str(d.get('stage_label')), 'next step')}",
    EventType.SETUP_COMPLETED: lambda d, labels: "Your account is set up",
    EventType.PROVISIONING_DONE: lambda d, labels: "Your workspace is ready",
    EventType.CUSTOMER_NOTIFIED: lambda d, labels: "We let you know your account is live",
    EventType.ONBOARDING_LIVE: lambda d, labels: "You are live",
}
"""The allow-list: customer-visible event type -> its sentence."""

ITEM_EVENTS = frozenset(
    {
        EventType.INPUT_VERIFIED,
        EventType.INPUT_REJECTED,
        EventType.INPUT_REREQUESTED,
        EventType.INPUT_WAIVED,
        EventType.DOCUMENT_STORED,
    }
)
"""Events about one item: a colleague's link to some items shows only these, for its items."""


@dataclass(frozen=True)
class Entry:
    at: datetime
    text: str
    kind: str


def timeline(store: Store, onboarding_id: int, labels: dict[str, str], items: frozenset[str] | None) -> list[Entry]:
    """The account's customer-visible events, oldest first; only its ``items`` for a scoped link."""
    rows = store.query(
        f"""SELECT event_type, occurred_at, stage, details FROM {SCHEMA}.events
            WHERE onboarding_id = %s AND event_type = ANY(%s) ORDER BY occurred_at, id""",
        (onboarding_id, list(CUSTOMER_VISIBLE)),
    )
    entries = []
    for row in rows:
        kind = row["event_type"]
        details = dict(row["details"] or {})
        if items is not None and (kind not in ITEM_EVENTS or details.get("item") not in items):
            continue
        if kind == EventType.STAGE_ENTERED:
            details = {"stage_label": row["stage"]}  # the stage only: its owner and reason are internal
        entries.append(Entry(row["occurred_at"], CUSTOMER_VISIBLE[kind](details, labels), kind))
    return entries
