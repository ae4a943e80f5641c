"""Every type of event the audit trail (``onboarding.events``) holds, defined once.

The values are the strings stored in ``events.event_type``; a ``StrEnum`` member
compares equal to its string, so readers of the trail and SQL literals agree with it.
"""

from __future__ import annotations

from include.onboarding.constants import StrEnum


class EventType(StrEnum):
    # intake
    INTAKE_PICKUP_COMMITTED = "intake.pickup_committed"
    ORDER_UPDATED = "order.updated"
    ORDER_QUARANTINED = "order.quarantined"
    ORDER_QUARANTINE_RESOLVED = "order.quarantine_resolved"
    ORDER_DUPLICATE_IGNORED = "order.duplicate_ignored"
    ONBOARDING_CREATED = "onboarding.created"
    RUN_STARTED = "run.started"
    PILOT_SCOPE_CHANGED = "pilot.scope_changed"
    BASELINE_IMPORTED = "baseline.imported"
    # the account's state (written by include.onboarding.state only)
    STAGE_ENTERED = "stage.entered"
    ONBOARDING_BLOCKED = "onboarding.blocked"
    OWNERSHIP_HANDED_OFF = "ownership.handed_off"
    ONBOARDING_LIVE = "onboarding.live"
    GATE_BLOCKED = "gate.blocked"
    GATE_PASSED = "gate.passed"
    # the checklist and the customer
    CHECKLIST_PLANNED = "checklist.planned"
    CHECKLIST_REQUESTED = "checklist.requested"
    INPUT_VERIFIED = "input.verified"
    INPUT_REJECTED = "input.rejected"
    INPUT_IGNORED = "input.ignored"
    INPUT_REREQUESTED = "input.rerequested"
    INPUT_WAIVED = "input.waived"
    DOCUMENT_STORED = "document.stored"
    CUSTOMER_REMINDED = "customer.reminded"
    CUSTOMER_NOTIFIED = "customer.notified"
    PORTAL_FORWARDED = "portal.forwarded"
    PORTAL_ACCESS_REVOKED = "portal.access_revoked"
    MAIL_QUEUED = "mail.queued"
    MAIL_SENT = "mail.sent"
    MAIL_DEFERRED = "mail.deferred"
    # approvals
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_APPROVED = "approval.approved"
    APPROVAL_REJECTED = "approval.rejected"
    APPROVAL_EXPIRED = "approval.expired"
    APPROVAL_REFUSED = "approval.refused"
    APPROVAL_NOTICE_SENT = "approval.notice_sent"
    APPROVAL_NOTICE_FAILED = "approval.notice_failed"
    # setup and go-live
    SETUP_STEP_COMPLETED = "setup.step_completed"
    SETUP_STEP_FAILED = "setup.step_failed"
    SETUP_COMPLETED = "setup.completed"
    PROVISIONING_DONE = "provisioning.done"
    HANDOFF_ANNOUNCED = "handoff.announced"
    # escalations
    ESCALATION_RAISED = "escalation.raised"
    ESCALATION_RESOLVED = "escalation.resolved"
    ESCALATION_DELIVERED = "escalation.delivered"
    ESCALATION_UNDELIVERED = "escalation.undelivered"
