"""What the board says: business days, the audit trail in sentences, how to fix a quarantined order."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from include.onboarding.events import EventType
from include.onboarding.text import clip

ESCALATION_KINDS = {
    "sla_breach": "SLA breach",
    "at_risk": "at risk",
    "unowned": "no owner",
    "failure": "failure",
    "deadline": "deadline",
    "quarantine": "quarantine",
    "silent": "customer silent",
}


def days(seconds: float | None, unit_seconds: float | None) -> str:
    """Business seconds in business days (or hours, given an hour's seconds), as people say them: "1.5", "3"."""
    if seconds is None or not unit_seconds:
        return "?"
    return f"{seconds / unit_seconds:.2f}".rstrip("0").rstrip(".")


def escalation(kind: str, level: int) -> str:
    name = ESCALATION_KINDS.get(kind, kind)
    return f"{name} (level {level})" if kind == "sla_breach" else name


# --------------------------------------------------------------------------- the audit trail

Describe = Callable[[Mapping[str, Any]], str]


def _get(d: Mapping[str, Any], key: str, default: str = "?") -> str:
    value = d.get(key)
    return default if value is None or value == "" else str(value)


_SENTENCES: dict[str, Describe] = {
    EventType.ONBOARDING_CREATED: lambda d: (
        f"signed order taken in; named owner {_get(d, 'named_owner')}, activation target"
        f" {_get(d, 'activation_target')} ({_get(d, 'target_source')})"
    ),
    EventType.STAGE_ENTERED: lambda d: (
        f"stage entered (from {_get(d, 'from', 'nothing')}): {_get(d, 'reason', '')}".rstrip(": ")
    ),
    EventType.RUN_STARTED: lambda d: f"Airflow run {_get(d, 'run_id')} of {_get(d, 'dag_id')} started",
    EventType.CHECKLIST_PLANNED: lambda d: (
        f"checklist planned: {len(d.get('items') or [])} items,"
        f" approvals {', '.join(d.get('approvals') or []) or 'none'},"
        f" steps {', '.join(d.get('steps') or []) or 'none'}"
    ),
    EventType.CHECKLIST_REQUESTED: lambda d: f"checklist sent to the customer (request {_get(d, 'request_id')})",
    EventType.INPUT_VERIFIED: lambda d: f"{_get(d, 'item')} verified",
    EventType.INPUT_REJECTED: lambda d: f"{_get(d, 'item')} not accepted: {_get(d, 'reason')}",
    EventType.INPUT_REREQUESTED: lambda d: f"{_get(d, 'item')} asked for again: {_get(d, 'reason')}",
    EventType.INPUT_WAIVED: lambda d: f"{_get(d, 'item')} waived",
    EventType.DOCUMENT_STORED: lambda d: f"{_get(d, 'item')}: file {_get(d, 'filename')} stored",
    EventType.APPROVAL_APPROVED: lambda d: (
        f"{_get(d, 'approval')} approved" + (f": {d['comment']}" if d.get("comment") else "")
    ),
    EventType.APPROVAL_REJECTED: lambda d: (
        f"{_get(d, 'approval')} rejected" + (f": {d['comment']}" if d.get("comment") else "")
    ),
    EventType.GATE_BLOCKED: lambda d: "readiness gate refused: " + "; ".join(str(p) for p in d.get("problems") or []),
    EventType.GATE_PASSED: lambda d: "readiness gate passed",
    EventType.SETUP_STEP_COMPLETED: lambda d: (
        f"setup step {_get(d, 'step')} done: {_get(d, 'kind')} {_get(d, 'external_id')}"
    ),
    EventType.SETUP_STEP_FAILED: lambda d: f"setup step {_get(d, 'step')} failed: {_get(d, 'error')}",
    EventType.PROVISIONING_DONE: lambda d: f"provisioning reports the tenant {_get(d, 'status')}",
    EventType.SETUP_COMPLETED: lambda d: "setup complete",
    EventType.CUSTOMER_NOTIFIED: lambda d: "customer told the account is set up",
    EventType.OWNERSHIP_HANDED_OFF: lambda d: f"handed off to {_get(d, 'to')}",
    EventType.HANDOFF_ANNOUNCED: lambda d: "handoff announced on Slack",
    EventType.ONBOARDING_LIVE: lambda d: "live",
    EventType.ONBOARDING_BLOCKED: lambda d: f"blocked: {_get(d, 'reason')}",
    EventType.ESCALATION_RAISED: lambda d: (
        f"escalation raised ({escalation(_get(d, 'kind'), int(d.get('level') or 1))}) to {_get(d, 'notify')}:"
        f" {_get(d, 'reason')}"
    ),
    EventType.ESCALATION_DELIVERED: lambda d: (
        f"escalation {_get(d, 'escalation_id')} posted to {_get(d, 'to')} on Slack"
    ),
    EventType.ESCALATION_UNDELIVERED: lambda d: (
        f"escalation {_get(d, 'escalation_id')} not delivered to {_get(d, 'to')}: {_get(d, 'error')}"
    ),
    EventType.ESCALATION_RESOLVED: lambda d: f"escalation {_get(d, 'escalation_id')} resolved: {_get(d, 'resolution')}",
    EventType.MAIL_QUEUED: lambda d: f"{_get(d, 'kind')} email queued to {_get(d, 'to')}",
    EventType.MAIL_SENT: lambda d: f"{_get(d, 'kind')} email sent to {_get(d, 'to')}",
    EventType.MAIL_DEFERRED: lambda d: f"{_get(d, 'kind')} email to {_get(d, 'to')} waits: {_get(d, 'error')}",
    EventType.PORTAL_FORWARDED: lambda d: f"customer forwarded {', '.join(d.get('items') or [])} to {_get(d, 'to')}",
    EventType.ORDER_UPDATED: lambda d: "the order changed in the CRM; contact, amount and add-ons applied",
}


def sentence(event_type: str, details: Mapping[str, Any] | None) -> str:
    """One line for an audit event: a sentence for the known types, the details as JSON for the others."""
    d = details or {}
    describe = _SENTENCES.get(event_type)
    if describe is not None:
        try:
            return clip(describe(d), 600)
        except (TypeError, ValueError, AttributeError):
            pass  # details of an unexpected shape: show them as they are
    return clip(json.dumps(d, default=str, sort_keys=True), 600) if d else ""


# --------------------------------------------------------------------------- quarantine


def quarantine_fix(field: str, problem: str, deal_id: str) -> str:
    """What a person does about one reason an order is in quarantine."""
    if "already under way" in problem:
        return (
            f"The onboarding under way depends on {field}: change it back on deal {deal_id} in the CRM, or cancel"
            " the running onboarding so the next pickup starts a new one."
        )
    if field == "order_number" and problem.startswith("duplicate of"):
        return (
            f"Two deals carry one order number: give deal {deal_id} its own order number in the CRM, or close it if"
            " it is the duplicate."
        )
    if field == "record":
        return f"The CRM record itself could not be used: open deal {deal_id} in the CRM and check its properties."
    return f"Correct {field} on deal {deal_id} in the CRM; the next pickup takes the corrected deal and clears this."
