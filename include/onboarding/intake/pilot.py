"""The pilot scope at the intake: orders it leaves out, and what a change of scope does.

``settings.pilot`` names which signed orders the automation takes.  A valid new
order outside it is **out of pilot**: one row in
``onboarding.out_of_pilot_orders`` (written set-based with the rest of its
chunk), counted in the pickup's summary, and nothing else: no onboarding, no
run, no quarantine.  The watermark still moves past it, so what brings it back
is a change of scope: the first pickup under a new scope records the change in
the audit trail (``pilot.scope_changed``, with both fingerprints and the rules)
and reads the CRM from the oldest order still left out, so a widened scope
takes those orders in through the usual path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from include.onboarding.config import PilotScope
from include.onboarding.events import EventType
from include.onboarding.intake.orders import ACTOR, Order
from include.onboarding.store import SCHEMA, Event, Scratch, Store

EVERYTHING = PilotScope().fingerprint
"""The scope of every pickup before scopes were recorded: every signed order."""

_OUT = Scratch(
    "intake_out_of_pilot_orders",
    (
        ("crm_deal_id", "text"), ("order_number", "text"), ("account_name", "text"), ("tier", "text"),
        ("region", "text"), ("segment", "text"), ("addons", "text[]"), ("signed_at", "timestamptz"),
        ("crm_modified_at", "timestamptz"), ("order_fingerprint", "text"),
    ),
)  # fmt: skip


def previous_scope(cur: Any, source: str) -> str:
    """The scope fingerprint of the last committed pickup (every order, if none recorded one)."""
    cur.execute(
        f"""SELECT scope_fingerprint FROM {SCHEMA}.intake_batches
            WHERE source = %s AND status = 'committed'
            ORDER BY finished_at DESC NULLS LAST, started_at DESC LIMIT 1""",
        (source,),
    )
    row = cur.fetchone()
    return (row["scope_fingerprint"] if row else None) or EVERYTHING


def read_from_after_scope_change(
    cur: Any, source: str, scope: PilotScope, batch_id: str, read_from: datetime, now: datetime
) -> datetime:
    """Where a pickup starts reading: ``read_from``, or earlier when the scope changed since the last pickup.

    A change of scope is recorded once in the audit trail; the pickup then
    re-reads from the oldest order still out of pilot, which the new scope
    may take in.
    """
    before = previous_scope(cur, source)
    if before == scope.fingerprint:
        return read_from
    cur.execute(
        f"""SELECT min(crm_modified_at) AS oldest, count(*) AS waiting FROM {SCHEMA}.out_of_pilot_orders
            WHERE crm_source = %s AND taken_at IS NULL""",
        (source,),
    )
    row = cur.fetchone()
    details = {
        "batch_id": batch_id,
        "from_fingerprint": before,
        "to_fingerprint": scope.fingerprint,
        "name": scope.name,
        "scope": scope.describe(),
        "include": scope.include,
        "exclude": scope.exclude,
        "orders_out_of_pilot": row["waiting"],
    }
    event = Event(
        subject="intake",
        event_type=EventType.PILOT_SCOPE_CHANGED,
        actor=ACTOR,
        occurred_at=now,
        details=details,
        dedupe_key=f"{EventType.PILOT_SCOPE_CHANGED}:{source}:{batch_id}",
    )
    Store.record_events(cur, [event])
    oldest = row["oldest"]
    return min(read_from, oldest) if oldest is not None else read_from


def record_out_of_pilot(
    cur: Any, source: str, orders: list[Order], scope: PilotScope, batch_id: str, now: datetime
) -> None:
    """Record orders left out by the scope: one COPY, one upsert (an order seen again is only touched)."""
    if not orders:
        return
    _OUT.load(
        cur,
        (
            (
                n, o.crm_deal_id, o.order_number, o.account_name, o.tier, o.region, o.segment, list(o.addons),
                o.signed_at, o.crm_modified_at, o.fingerprint,
            )
            for n, o in enumerate(orders)
        ),
    )  # fmt: skip
    cur.execute(
        f"""INSERT INTO {SCHEMA}.out_of_pilot_orders AS p (
                crm_source, crm_deal_id, order_number, account_name, tier, region, segment, addons, signed_at,
                crm_modified_at, order_fingerprint, scope_fingerprint, first_seen_at, last_seen_at, last_batch_id)
            SELECT %(source)s, crm_deal_id, order_number, account_name, tier, region, segment, addons, signed_at,
                   crm_modified_at, order_fingerprint, %(scope)s, %(now)s, %(now)s, %(batch)s
            FROM pg_temp.{_OUT.name} ORDER BY seq
            ON CONFLICT (crm_source, crm_deal_id) DO UPDATE SET
                order_number = EXCLUDED.order_number, account_name = EXCLUDED.account_name,
                tier = EXCLUDED.tier, region = EXCLUDED.region, segment = EXCLUDED.segment,
                addons = EXCLUDED.addons, signed_at = EXCLUDED.signed_at,
                crm_modified_at = GREATEST(p.crm_modified_at, EXCLUDED.crm_modified_at),
                order_fingerprint = EXCLUDED.order_fingerprint, scope_fingerprint = EXCLUDED.scope_fingerprint,
                last_seen_at = EXCLUDED.last_seen_at, last_batch_id = EXCLUDED.last_batch_id,
                taken_at = NULL, onboarding_key = NULL""",
        {"source": source, "scope": scope.fingerprint, "now": now, "batch": batch_id},
    )


def mark_taken(cur: Any, source: str, created: dict[str, int], orders: list[Order], now: datetime) -> None:
    """Orders once left out that have now become onboardings (a wider scope took them in): one UPDATE."""
    taken = [o for o in orders if o.key in created]
    if not taken:
        return
    cur.execute(
        f"""UPDATE {SCHEMA}.out_of_pilot_orders p SET taken_at = %s, onboarding_key = t.onboarding_key
            FROM unnest(%s::text[], %s::text[]) AS t(crm_deal_id, onboarding_key)
            WHERE p.crm_source = %s AND p.crm_deal_id = t.crm_deal_id AND p.taken_at IS NULL""",
        (now, [o.crm_deal_id for o in taken], [o.key for o in taken], source),
    )
