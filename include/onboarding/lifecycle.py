"""One onboarding's path through its stages, as recorded in the store.

Every function here is idempotent: it reads the account's state, does what is
still to be done, and records it.  A cleared or retried task calling it again
changes nothing that was already done.  Moving an account between stages is
:mod:`include.onboarding.state`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from include.onboarding.config import OnboardingConfig, OrderFacts, Stage, TierConfig
from include.onboarding.constants import SETTLED_SQL, ApprovalStatus
from include.onboarding.events import EventType
from include.onboarding.exceptions import OnboardingNotFound as OnboardingNotFound
from include.onboarding.exceptions import TierRemoved as TierRemoved
from include.onboarding.owners import Assignment
from include.onboarding.store import SCHEMA, Event, Store


@dataclass(frozen=True)
class Onboarding:
    id: int
    key: str
    tier: str
    region: str
    segment: str | None
    addons: tuple[str, ...]
    amount: float | None
    account_name: str
    account_domain: str | None
    primary_contact_name: str | None
    primary_contact_email: str
    owner_email: str
    stage: Stage
    stage_owner_email: str
    stage_entered_at: datetime
    status: str
    signed_at: datetime
    activation_target: date
    post_owner_email: str | None
    live_at: datetime | None

    @property
    def facts(self) -> OrderFacts:
        return OrderFacts(region=self.region, segment=self.segment, addons=self.addons, amount=self.amount)

    def template_fields(self) -> dict[str, Any]:
        """Fields a configured HTTP step may use in its payload template."""
        return {
            "onboarding_key": self.key,
            "account_name": self.account_name,
            "account_domain": self.account_domain or "",
            "tier": self.tier,
            "region": self.region,
            "primary_contact_email": self.primary_contact_email,
            "owner_email": self.owner_email,
            "activation_target": self.activation_target.isoformat(),
        }


def load(store: Store, onboarding_key: str) -> Onboarding:
    rows = store.query(f"SELECT * FROM {SCHEMA}.onboardings WHERE onboarding_key = %s", (onboarding_key,))
    if not rows:
        raise OnboardingNotFound(f"no onboarding {onboarding_key!r} in the store")
    return from_row(rows[0])


def from_row(r: dict[str, Any]) -> Onboarding:
    """The account in an ``onboarding.onboardings`` row read with all its columns (other columns are ignored).

    For a reader that needs the account with something else in one query (the portal reads it
    with the link's revocation on every page).
    """
    return Onboarding(
        id=r["id"],
        key=r["onboarding_key"],
        tier=r["tier"],
        region=r["region"],
        segment=r["segment"],
        addons=tuple(r["addons"] or ()),
        amount=float(r["amount"]) if r["amount"] is not None else None,
        account_name=r["account_name"],
        account_domain=r["account_domain"],
        primary_contact_name=r["primary_contact_name"],
        primary_contact_email=r["primary_contact_email"],
        owner_email=r["owner_email"],
        stage=Stage(r["stage"]),
        stage_owner_email=r["stage_owner_email"],
        stage_entered_at=r["stage_entered_at"],
        status=r["status"],
        signed_at=r["signed_at"],
        activation_target=r["activation_target"],
        post_owner_email=r["post_owner_email"],
        live_at=r["live_at"],
    )


def tier_of(config: OnboardingConfig, onboarding: Onboarding) -> TierConfig:
    tier = config.tiers.get(onboarding.tier)
    if tier is None:
        raise TierRemoved(
            f"onboarding {onboarding.key}: tier {onboarding.tier!r} has no configuration file any more"
            f" (include/config/tiers/{onboarding.tier}.yaml); restore it or move the account to another tier"
        )
    return tier


def named_owner(onboarding: Onboarding, tier: TierConfig) -> Assignment:
    return Assignment(onboarding.owner_email, tier.onboarding_owner_role)


def record(
    store: Store, onboarding_key: str, event_type: str, now: datetime, actor: str, details: dict[str, Any], dedupe: str
) -> None:
    """Append one event about an account, at its current stage and owner."""
    onboarding = load(store, onboarding_key)
    with store.transaction() as cur:
        Store.record_events(
            cur,
            [
                Event(
                    subject=onboarding_key,
                    onboarding_id=onboarding.id,
                    event_type=event_type,
                    actor=actor,
                    occurred_at=now,
                    stage=onboarding.stage.value,
                    stage_owner=onboarding.stage_owner_email,
                    details=details,
                    dedupe_key=dedupe,
                )
            ],
        )


def plan(store: Store, config: OnboardingConfig, onboarding_key: str, now: datetime, actor: str) -> list[str]:
    """Write the account's checklist, approvals and setup steps (tier + per-account conditions).

    Returns the checklist item keys, in configuration order.
    """
    onboarding = load(store, onboarding_key)
    tier = tier_of(config, onboarding)
    items = tier.checklist_for(onboarding.facts)
    approvals = tier.approvals_for(onboarding.facts)
    steps = tier.steps_for(onboarding.facts)
    with store.transaction() as cur:
        cur.executemany(
            f"""INSERT INTO {SCHEMA}.checklist_items (onboarding_id, item_key, label, item_type, critical, updated_at)
                VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (onboarding_id, item_key) DO NOTHING""",
            [(onboarding.id, i.key, i.label, i.type.value, i.critical, now) for i in items],
        )
        if approvals:
            cur.executemany(
                f"""INSERT INTO {SCHEMA}.approvals (onboarding_id, approval_key, label, approver_role, requested_at)
                    VALUES (%s, %s, %s, %s, %s) ON CONFLICT (onboarding_id, approval_key) DO NOTHING""",
                [(onboarding.id, a.key, a.label, a.approver_role, now) for a in approvals],
            )
        applicable = {s.key for s in steps}
        cur.executemany(
            f"""INSERT INTO {SCHEMA}.setup_steps
                    (onboarding_id, step_key, kind, status, idempotency_key, depends_on, updated_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (onboarding_id, step_key) DO NOTHING""",
            [
                (
                    onboarding.id,
                    s.key,
                    s.kind.value,
                    "pending" if s.key in applicable else "skipped",
                    f"{onboarding_key}:{s.key}",
                    [d for d in s.depends_on],
                    now,
                )
                for s in tier.setup_steps
            ],
        )
        Store.record_events(
            cur,
            [
                Event(
                    subject=onboarding_key,
                    onboarding_id=onboarding.id,
                    event_type=EventType.CHECKLIST_PLANNED,
                    actor=actor,
                    occurred_at=now,
                    stage=onboarding.stage.value,
                    stage_owner=onboarding.stage_owner_email,
                    details={
                        "items": [{"key": i.key, "critical": i.critical} for i in items],
                        "approvals": [a.key for a in approvals],
                        "steps": [s.key for s in steps],
                        "skipped_steps": sorted({s.key for s in tier.setup_steps} - applicable),
                    },
                    dedupe_key=f"checklist.planned:{onboarding_key}",
                )
            ],
        )
    rows = store.query(
        f"SELECT item_key FROM {SCHEMA}.checklist_items WHERE onboarding_id = %s ORDER BY id", (onboarding.id,)
    )
    return [r["item_key"] for r in rows]


def completeness(store: Store, onboarding_key: str) -> dict[str, int]:
    """Checklist counts by status for one account (received, verified, rejected, missing, ...)."""
    rows = store.query(
        f"""SELECT c.status, count(*) AS n FROM {SCHEMA}.checklist_items c
            JOIN {SCHEMA}.onboardings o ON o.id = c.onboarding_id
            WHERE o.onboarding_key = %s GROUP BY c.status""",
        (onboarding_key,),
    )
    counts = {"missing": 0, "received": 0, "verified": 0, "rejected": 0, "waived": 0}
    counts.update({r["status"]: int(r["n"]) for r in rows})
    return counts


@dataclass(frozen=True)
class Unmet:
    """What keeps an account from setup: critical inputs not verified, approvals not given."""

    inputs: list[str]
    approvals: list[str]

    @property
    def all(self) -> list[str]:
        return self.inputs + self.approvals


def unmet(store: Store, onboarding_key: str) -> Unmet:
    """Why setup may not start yet: unverified critical inputs and approvals not given, one sentence each."""
    onboarding = load(store, onboarding_key)
    inputs = [
        f"critical input {r['item_key']!r} ({r['label']}) is {r['status']}"
        + (f": {r['rejection_reason']}" if r["rejection_reason"] and r["status"] == "rejected" else "")
        for r in store.query(
            f"""SELECT item_key, label, status, rejection_reason FROM {SCHEMA}.checklist_items
                WHERE onboarding_id = %s AND critical AND status NOT IN {SETTLED_SQL} ORDER BY id""",
            (onboarding.id,),
        )
    ]
    if not store.query(f"SELECT 1 FROM {SCHEMA}.checklist_items WHERE onboarding_id = %s", (onboarding.id,)):
        inputs.append("the checklist was never planned")
    approvals = [
        f"approval {r['approval_key']!r} ({r['label']}) "
        + (
            f"was rejected by {r['decided_by']}" + (f": {r['comment']}" if r["comment"] else " (no comment given)")
            if r["status"] == "rejected"
            else "has no decision yet"
        )
        for r in store.query(
            f"""SELECT approval_key, label, status, decided_by, comment FROM {SCHEMA}.approvals
                WHERE onboarding_id = %s AND status <> '{ApprovalStatus.APPROVED}' ORDER BY id""",
            (onboarding.id,),
        )
    ]
    return Unmet(inputs, approvals)


def readiness_problems(store: Store, onboarding_key: str) -> list[str]:
    """Why setup may not start yet: unverified critical inputs and missing approvals."""
    return unmet(store, onboarding_key).all
