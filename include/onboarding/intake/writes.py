"""Writing one chunk of verdicts, set-based, in one transaction.

New onboardings and their first stage come from
:func:`~include.onboarding.state.opening.open_accounts` (one statement for the
chunk); changed onboardings from one UPDATE; their audit events from
one INSERT each.  If the store refuses one order's values, the chunk is
written again order by order, each under its own savepoint, quarantining the
order refused with the store's reason (:func:`apply_chunk`).  Only a failure
of the store itself (connection, deadlock, disk, SQL) is raised.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from include.onboarding.clock import Clock
from include.onboarding.config import OnboardingConfig
from include.onboarding.events import EventType
from include.onboarding.intake.cleaning import UNSTORABLE, clean_text, error_text, order_at_fault
from include.onboarding.intake.orders import ACTOR, Order, Problem, Rejected
from include.onboarding.intake.pilot import mark_taken, record_out_of_pilot
from include.onboarding.intake.plan import Plan, plan_chunk
from include.onboarding.intake.quarantine import quarantine, resolve_quarantines
from include.onboarding.intake.summary import ProcessSummary
from include.onboarding.state import opening
from include.onboarding.store import SCHEMA, Event, Scratch, Store

log = logging.getLogger(__name__)


def apply_chunk(
    store: Store,
    config: OnboardingConfig,
    verdicts: list[Order | Rejected],
    batch_id: str,
    clock: Clock,
    summary: ProcessSummary,
) -> None:
    """Apply one chunk of verdicts in one transaction.

    The chunk is written set-based; if the store refuses one order's values,
    the chunk is written again one order at a time, each under its own
    savepoint, and an order the store refuses is quarantined with the store's
    reason while the others are written.
    """
    now = clock.now()
    source = config.settings.intake.crm_source
    with store.transaction() as cur:
        plan = plan_chunk(cur, source, verdicts, now, summary, config.settings.pilot)
        try:
            with store.conn.transaction():
                written = _write(cur, config, source, plan, batch_id, now)
        except Exception as exc:
            if not order_at_fault(exc):
                raise
            log.warning(
                "intake batch %s: the store refused an order (%s); writing one by one", batch_id, error_text(exc)
            )
            written = ProcessSummary(batch_id)
            for verdict, single in plan.one_by_one():
                written.add(_write_alone(store, cur, config, source, verdict, single, batch_id, now))
        summary.add(written)


def _write(cur: Any, config: OnboardingConfig, source: str, plan: Plan, batch_id: str, now: datetime) -> ProcessSummary:
    """Write a plan; return what it did (counted only once the write has succeeded).

    Orders outside the pilot scope are recorded as such (no audit event each:
    the pickup's summary counts them).  The audit events go last, in the order
    the writes were made: changed onboardings, new ones, resolved and new
    quarantine entries, duplicates.
    """
    done = ProcessSummary(batch_id)
    changes: list[Event] = []
    _update_existing(cur, plan.updates, now, changes)
    done.updated += len(plan.updates)
    created = opening.open_accounts(cur, config, plan.creates, now)
    done.created_keys.extend(o.key for o in plan.creates if o.key in created)
    done.created += len(plan.creates)
    mark_taken(cur, source, created, plan.creates, now)
    record_out_of_pilot(cur, source, plan.out_of_pilot, config.settings.pilot, batch_id, now)
    done.out_of_pilot += len(plan.out_of_pilot)
    events: list[Event] = []
    done.quarantine_resolved += resolve_quarantines(cur, source, plan.creates, now, events)
    done.quarantine_resolved += resolve_quarantines(cur, source, plan.out_of_pilot, now, events, out_of_pilot=True)
    done.quarantined += len(plan.quarantines)
    done.newly_quarantined += quarantine(cur, source, plan.quarantines, batch_id, now, events)
    events.extend(event for _, event in plan.duplicates)
    done.duplicates += len(plan.duplicates)
    Store.record_events(cur, changes)
    opening.record_opened(cur, created, now, ACTOR)
    Store.record_events(cur, events)
    return done


def _write_alone(
    store: Store,
    cur: Any,
    config: OnboardingConfig,
    source: str,
    verdict: Order | Rejected,
    plan: Plan,
    batch_id: str,
    now: datetime,
) -> ProcessSummary:
    """Write one verdict under its own savepoint; if the store refuses it, quarantine it with the store's reason.

    Should even that be refused, the order is quarantined under the id
    ``unknown`` with its record kept as text; only a failure of the store
    itself is raised.
    """
    try:
        with store.conn.transaction():
            return _write(cur, config, source, plan, batch_id, now)
    except Exception as exc:
        if not order_at_fault(exc):
            raise
        refusal = Problem("record", f"the onboarding store refused the order: {error_text(exc)}")
    problems = verdict.problems if isinstance(verdict, Rejected) else ()
    payload = verdict.record if isinstance(verdict, Rejected) else verdict.payload
    refused = Rejected(
        verdict.crm_deal_id, verdict.order_number, verdict.crm_modified_at, (*problems, refusal), payload
    )
    log.error("intake batch %s: CRM deal %s: %s", batch_id, verdict.crm_deal_id[:100], refusal)
    try:
        with store.conn.transaction():
            return _write(cur, config, source, Plan(quarantines=[refused]), batch_id, now)
    except Exception as exc:
        if not order_at_fault(exc):
            raise
        again = Problem("record", f"could not be quarantined as received either: {error_text(exc)}")
    record = {"id": verdict.crm_deal_id, UNSTORABLE: clean_text(repr(payload))}
    last = Rejected("unknown", None, None, (*refused.problems, again), record)
    return _write(cur, config, source, Plan(quarantines=[last]), batch_id, now)


_CHANGED = Scratch(
    "intake_changed_onboardings",
    (
        ("id", "bigint"), ("account_name", "text"), ("account_domain", "text"), ("segment", "text"),
        ("addons", "text[]"), ("amount", "numeric"), ("currency", "text"), ("partner_name", "text"),
        ("primary_contact_name", "text"), ("primary_contact_email", "text"), ("sales_owner_id", "text"),
        ("crm_modified_at", "timestamptz"), ("order_fingerprint", "text"), ("order_payload", "jsonb"),
    ),
)  # fmt: skip


def _update_existing(cur: Any, changes: list[tuple[Order, dict[str, Any]]], now: datetime, events: list[Event]) -> None:
    """Apply CRM changes to running onboardings (changes without conflicts, see :func:`~.plan.plan_chunk`).

    One UPDATE for them all: each onboarding is changed by one order at most.
    """
    if not changes:
        return
    _CHANGED.load(
        cur,
        (
            (
                n, known["id"], order.account_name, order.account_domain, order.segment, list(order.addons),
                order.amount, order.currency, order.partner_name, order.primary_contact_name,
                order.primary_contact_email, order.sales_owner_id, order.crm_modified_at, order.fingerprint,
                Jsonb(order.payload),
            )
            for n, (order, known) in enumerate(changes)
        ),
    )  # fmt: skip
    assignments = ", ".join(f"{name} = c.{name}" for name, _ in _CHANGED.columns if name != "id")
    cur.execute(
        f"""UPDATE {SCHEMA}.onboardings o SET {assignments}, updated_at = %s
            FROM pg_temp.{_CHANGED.name} c WHERE o.id = c.id""",
        (now,),
    )
    for order, known in changes:
        events.append(
            Event(
                subject=known["onboarding_key"],
                onboarding_id=known["id"],
                event_type=EventType.ORDER_UPDATED,
                actor=ACTOR,
                occurred_at=now,
                stage=known["stage"],
                stage_owner=known["stage_owner_email"],
                details={"order": order.business_fields()},
                dedupe_key=f"order.updated:{known['onboarding_key']}:{order.fingerprint}",
            )
        )
