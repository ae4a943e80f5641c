"""A rejected or expired approval goes to a person at once, through the escalation machinery.

* **Rejected**: the stage owner hears it with the approver's words.  When the
  stage owner is the approver themself (deal desk owns the approvals stage and
  also decides the deal-desk sign-off), it goes to the account's named owner,
  who takes it up with the customer.
* **Expired** (nobody answered in time): the stage owner hears it; when the
  stage owner is the approver who did not answer, their manager does.

Each is one escalation per request (raised once, however often a callback
repeats it), posted to Slack at once; if Slack is down, the escalation pass
posts it later.  It resolves when the account leaves the approvals stage.
"""

from __future__ import annotations

from datetime import datetime

from include.onboarding.config import OnboardingConfig
from include.onboarding.lifecycle import Onboarding
from include.onboarding.store import Store

REJECTED = "approval_rejected"
EXPIRED = "approval_expired"


def _raise(
    store: Store,
    config: OnboardingConfig,
    onboarding: Onboarding,
    kind: str,
    notify: str,
    reason: str,
    dedupe: str,
    now: datetime,
    extra: dict[str, object],
) -> list[int]:
    from include.onboarding import escalations
    from include.onboarding import notify as slack

    ids = escalations.account_escalation(
        store, config, onboarding.key, kind=kind, reason=reason, dedupe_key=dedupe, now=now, notify=notify, extra=extra
    )
    if ids:
        slack.deliver(store, config, now, only=ids)
    return ids


def rejected(
    store: Store,
    config: OnboardingConfig,
    onboarding: Onboarding,
    approval_key: str,
    label: str,
    approver: str,
    comment: str | None,
    attempt: int,
    task_id: str,
    now: datetime,
) -> list[int]:
    """Escalate a rejection, quoting the approver."""
    name = _name(config, approver)
    words = f": “{comment}”" if comment else " without a comment"
    reason = f"approval {approval_key!r} ({label}) was rejected by {name}{words}; setup stays blocked"
    notify = "named_owner" if onboarding.stage_owner_email == approver else "stage_owner"
    return _raise(
        store, config, onboarding, REJECTED, notify, reason, f"{REJECTED}:{onboarding.key}:{approval_key}:{attempt}",
        now,
        {
            "blocking": f"{label}: rejected by {name}{words}",
            "fix": f"Settle it with the customer or the approver, then clear the task {task_id} of this run"
            " to ask for the approval again.",
            "approval": approval_key,
            "decided_by": approver,
            "comment": comment,
        },
    )  # fmt: skip


def expired(
    store: Store,
    config: OnboardingConfig,
    onboarding: Onboarding,
    approval_key: str,
    label: str,
    approver: str,
    waited: str,
    attempt: int,
    task_id: str,
    now: datetime,
) -> list[int]:
    """Escalate a request nobody answered in time."""
    name = _name(config, approver)
    reason = f"approval {approval_key!r} ({label}) got no answer from {name} within {waited}; setup stays blocked"
    notify = "manager" if onboarding.stage_owner_email == approver else "stage_owner"
    return _raise(
        store, config, onboarding, EXPIRED, notify, reason, f"{EXPIRED}:{onboarding.key}:{approval_key}:{attempt}",
        now,
        {
            "blocking": f"{label}: waiting on {name} since the request, {waited} ago",
            "fix": f"Get {name} (or whoever now holds the role) to decide, then clear the task {task_id} of this"
            " run to ask again.",
            "approval": approval_key,
            "approver": approver,
        },
    )  # fmt: skip


def _name(config: OnboardingConfig, email: str) -> str:
    person = config.settings.people_by_email.get(email)
    return person.name if person else email
