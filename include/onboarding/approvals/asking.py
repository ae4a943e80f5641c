"""Asking for one approval of one account: who decides, by when, and what they read.

:func:`ask` is what an approval task does before it parks in Airflow's
``awaiting_input``: it finds the holder of the approver role for the account's
region, moves the account into the approvals stage, works out the due and
expiry instants in business time, writes the subject and body, and records the
request.  An approval the order does not need is :class:`NotNeeded`; one asked
while critical inputs are still unverified is :class:`InputsOutstanding` (the
readiness gate escalates those); one that was already given is
:class:`AlreadyApproved` (clearing a finished run never makes an approver
decide twice).
"""

from __future__ import annotations

from dataclasses import dataclass

from include.onboarding import lifecycle, state
from include.onboarding.approvals import records, review
from include.onboarding.approvals.timing import Timing, timing
from include.onboarding.clock import Clock
from include.onboarding.config import Approval, OnboardingConfig, Stage, TierConfig
from include.onboarding.exceptions import AlreadyApproved as AlreadyApproved
from include.onboarding.exceptions import InputsOutstanding as InputsOutstanding
from include.onboarding.exceptions import NotNeeded as NotNeeded
from include.onboarding.exceptions import UnknownApproval as UnknownApproval
from include.onboarding.lifecycle import Onboarding
from include.onboarding.store import Store


@dataclass(frozen=True)
class Request:
    onboarding: Onboarding
    tier: TierConfig
    approval: Approval
    approver_email: str
    approver_name: str
    approver_user: str
    """The Airflow user id the request is assigned to."""
    escalate_to: str
    """Who hears a rejection (a name)."""
    timing: Timing
    subject: str
    body: str
    attempt: int


def approval_of(tier: TierConfig, approval_key: str) -> Approval:
    found = next((a for a in tier.approvals if a.key == approval_key), None)
    if found is None:
        raise UnknownApproval(
            f"tier {tier.key!r} has no approval {approval_key!r} any more (include/config/tiers/{tier.key}.yaml,"
            f" approvals: {[a.key for a in tier.approvals]})"
        )
    return found


def approver_of(config: OnboardingConfig, approval: Approval, region: str) -> tuple[str, str, str]:
    """(email, name, Airflow user id) of whoever holds the approver role in ``region``."""
    email = config.settings.holder(approval.approver_role, region)
    if email is None:  # configuration loading refuses this; a clear error if it happens anyway
        raise LookupError(f"nobody holds role {approval.approver_role!r} in region {region!r} (settings.yaml roles)")
    person = config.settings.people_by_email[email]
    return email, person.name, person.airflow_id


def ask(
    store: Store, config: OnboardingConfig, clock: Clock, onboarding_key: str, approval_key: str, attempt: int
) -> Request:
    """Prepare and record the request of try ``attempt``; raises :class:`NotNeeded` or :class:`AlreadyApproved`."""
    now = clock.now()
    onboarding = lifecycle.load(store, onboarding_key)
    tier = lifecycle.tier_of(config, onboarding)
    approval = approval_of(tier, approval_key)
    row = records.load(store, onboarding.id, approval_key)
    if row is None:
        raise NotNeeded(
            f"{approval.label} is not needed for onboarding {onboarding_key} (its order does not call for it)"
        )
    if row.status == "approved":
        raise AlreadyApproved(
            f"{approval.label} for onboarding {onboarding_key} was approved by {row.decided_by}"
            + (f" on {row.decided_at:%Y-%m-%d %H:%M} UTC" if row.decided_at else "")
            + "; it is not asked again"
        )
    outstanding = lifecycle.unmet(store, onboarding_key).inputs
    if outstanding:
        raise InputsOutstanding(f"{approval.label} is not asked while inputs are outstanding: {'; '.join(outstanding)}")
    email, name, user = approver_of(config, approval, onboarding.region)
    state.advance(store, config, onboarding_key, Stage.APPROVALS, now, records.ACTOR, "inputs verified")
    onboarding = lifecycle.load(store, onboarding_key)
    when = timing(config, tier, approval, onboarding.region, onboarding.stage_entered_at, now, clock)
    owner_hears = onboarding.owner_email if onboarding.stage_owner_email == email else onboarding.stage_owner_email
    escalate_to = _name(config, owner_hears)
    request = Request(
        onboarding=onboarding,
        tier=tier,
        approval=approval,
        approver_email=email,
        approver_name=name,
        approver_user=user,
        escalate_to=escalate_to,
        timing=when,
        subject=review.subject(onboarding, tier, approval),
        body=review.body(store, config, onboarding, tier, approval, name, escalate_to, when),
        attempt=attempt,
    )
    records.request(store, onboarding, approval_key, attempt, now, _details(request))
    return request


def _details(request: Request) -> dict[str, object]:
    t = request.timing
    return {
        "label": request.approval.label,
        "role": request.approval.approver_role,
        "approver": request.approver_email,
        "airflow_user": request.approver_user,
        "due_at": t.due_at.isoformat(),
        "expires_at": t.expires_at.isoformat(),
        "timeout": t.timeout_text,
        "wall_timeout_seconds": round(t.wall_timeout.total_seconds(), 1),
    }


def _name(config: OnboardingConfig, email: str) -> str:
    person = config.settings.people_by_email.get(email)
    return person.name if person else email
