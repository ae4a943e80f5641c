"""Deciding each verdict's fate against what the store holds, before anything is written.

For one chunk of verdicts (the newest version of each deal in the batch):

* a version older than one already seen (an onboarding or a quarantined
  version) is stale: the look-back window re-read it;
* a rejected order goes to quarantine;
* an order whose deal is already an onboarding is unchanged (same
  fingerprint), an update, or -- when it changes a field the running
  onboarding depends on (:data:`~.orders.IMMUTABLE_FIELDS`) -- a conflict,
  quarantined for a person to settle;
* a new order outside the pilot scope (``settings.pilot``) is out of pilot:
  counted and recorded, nothing more (an order already under way goes on);
* a new order with the order number of another onboarding (or of another
  order of the chunk) is a duplicate when it says the same, and quarantined
  when it does not;
* any other order is created.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from include.onboarding.config import PILOT_FIELDS, PilotScope
from include.onboarding.events import EventType
from include.onboarding.intake.orders import ACTOR, EPOCH, IMMUTABLE_FIELDS, Order, Problem, Rejected
from include.onboarding.intake.summary import ProcessSummary
from include.onboarding.store import SCHEMA, Event


@dataclass
class Plan:
    """What one chunk of verdicts will write, decided before anything is written."""

    creates: list[Order] = field(default_factory=list)
    updates: list[tuple[Order, dict[str, Any]]] = field(default_factory=list)
    quarantines: list[Rejected] = field(default_factory=list)
    duplicates: list[tuple[Order, Event]] = field(default_factory=list)
    out_of_pilot: list[Order] = field(default_factory=list)

    def one_by_one(self) -> Iterator[tuple[Order | Rejected, Plan]]:
        """Each verdict of the plan with a plan of its own."""
        for order in self.creates:
            yield order, Plan(creates=[order])
        for order, known in self.updates:
            yield order, Plan(updates=[(order, known)])
        for rejected in self.quarantines:
            yield rejected, Plan(quarantines=[rejected])
        for order, event in self.duplicates:
            yield order, Plan(duplicates=[(order, event)])
        for order in self.out_of_pilot:
            yield order, Plan(out_of_pilot=[order])


def plan_chunk(
    cur: Any,
    source: str,
    verdicts: list[Order | Rejected],
    now: datetime,
    summary: ProcessSummary,
    scope: PilotScope | None = None,
) -> Plan:
    """Decide each verdict's fate against what the store holds (locking the onboardings concerned)."""
    orders = [v for v in verdicts if isinstance(v, Order)]
    deal_ids = [v.crm_deal_id for v in verdicts]
    numbers = [o.order_number for o in orders if o.order_number]
    cur.execute(
        f"""SELECT id, onboarding_key, crm_deal_id, order_number, crm_modified_at, order_fingerprint,
                   tier, region, signed_at, stage, stage_owner_email
            FROM {SCHEMA}.onboardings
            WHERE crm_source = %s AND (crm_deal_id = ANY(%s) OR order_number = ANY(%s))
            FOR UPDATE""",
        (source, deal_ids, numbers),
    )
    existing = cur.fetchall()
    by_deal = {r["crm_deal_id"]: r for r in existing}
    by_number = {r["order_number"]: r for r in existing if r["order_number"]}
    cur.execute(
        f"""SELECT crm_deal_id, max(crm_modified_at) AS newest FROM {SCHEMA}.quarantined_orders
            WHERE crm_source = %s AND crm_deal_id = ANY(%s) GROUP BY crm_deal_id""",
        (source, deal_ids),
    )
    quarantined_newest = {r["crm_deal_id"]: r["newest"] for r in cur.fetchall()}

    plan = Plan()
    claimed_numbers: dict[str, Order] = {}
    for verdict in sorted(verdicts, key=lambda v: (v.crm_modified_at or EPOCH, v.crm_deal_id)):
        known = by_deal.get(verdict.crm_deal_id)
        # Records without an id are not versions of one another: none makes another stale.
        seen = quarantined_newest.get(verdict.crm_deal_id) if verdict.crm_deal_id != "unknown" else None
        newest_known = max([t for t in ((known or {}).get("crm_modified_at"), seen) if t], default=None)
        if newest_known is not None and verdict.crm_modified_at is not None and verdict.crm_modified_at < newest_known:
            summary.stale += 1  # an older version re-read by the look-back window
            continue
        if isinstance(verdict, Rejected):
            plan.quarantines.append(verdict)
            continue
        order = verdict
        if known is not None:
            _plan_known(plan, order, known, summary)
            continue
        if scope is not None and not scope.takes_everything and not scope.admits(pilot_facts(order)):
            plan.out_of_pilot.append(order)
            continue
        twin = by_number.get(order.order_number) if order.order_number else None
        twin_order = claimed_numbers.get(order.order_number) if order.order_number else None
        if twin is not None or twin_order is not None:
            other_key = twin["onboarding_key"] if twin is not None else twin_order.key  # type: ignore[union-attr]
            other_fp = twin["order_fingerprint"] if twin is not None else twin_order.fingerprint  # type: ignore[union-attr]
            if other_fp == order.fingerprint:
                event = Event(
                    subject=f"order:{source}-{order.crm_deal_id}",
                    event_type=EventType.ORDER_DUPLICATE_IGNORED,
                    actor=ACTOR,
                    occurred_at=now,
                    details={"order_number": order.order_number, "same_as": other_key},
                    dedupe_key=f"order.duplicate_ignored:{source}:{order.crm_deal_id}:{order.fingerprint}",
                )
                plan.duplicates.append((order, event))
            else:
                plan.quarantines.append(
                    Rejected(
                        order.crm_deal_id,
                        order.order_number,
                        order.crm_modified_at,
                        (
                            Problem(
                                "order_number",
                                f"duplicate of {other_key} (same order number {order.order_number!r})"
                                " with conflicting data",
                            ),
                        ),
                        order.payload,
                    )
                )
            continue
        if order.order_number:
            claimed_numbers[order.order_number] = order
        plan.creates.append(order)
    return plan


def _plan_known(plan: Plan, order: Order, known: dict[str, Any], summary: ProcessSummary) -> None:
    """An order whose deal is already an onboarding: unchanged, an update, or a conflict to quarantine."""
    if known["order_fingerprint"] == order.fingerprint:
        summary.unchanged += 1
        return
    conflict = _conflict(order, known)
    if conflict is not None:
        plan.quarantines.append(conflict)
    else:
        plan.updates.append((order, known))


def pilot_facts(order: Order) -> dict[str, Any]:
    """The order's fields a pilot rule can test."""
    return {name: getattr(order, name) for name in PILOT_FIELDS}


def _conflict(order: Order, known: dict[str, Any]) -> Rejected | None:
    """A change to a field the running onboarding depends on, as a quarantine; ``None`` if there is none."""
    current = {
        "tier": known["tier"],
        "region": known["region"],
        "order_number": known["order_number"],
        "signed_at": known["signed_at"],
    }
    conflicts = [name for name in IMMUTABLE_FIELDS if current[name] != getattr(order, name)]
    if not conflicts:
        return None
    changes = ", ".join(f"{name} {current[name]!s} -> {getattr(order, name)!s}" for name in conflicts)
    return Rejected(
        order.crm_deal_id,
        order.order_number,
        order.crm_modified_at,
        (Problem(conflicts[0], f"conflicts with onboarding {known['onboarding_key']} already under way ({changes})"),),
        order.payload,
    )
