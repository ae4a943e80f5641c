"""Quarantine: rejected orders waiting on a person, with every reason found.

A version of a deal supersedes its other open versions; a version already in
quarantine is seen again rather than added; an entry is resolved when a
corrected version of its deal becomes an onboarding.  Each new entry is
announced by an ``order.quarantined`` event.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from include.onboarding.config import Stage
from include.onboarding.constants import QuarantineStatus
from include.onboarding.events import EventType
from include.onboarding.intake.orders import ACTOR, Order, Rejected
from include.onboarding.store import SCHEMA, Event, Scratch, Store

log = logging.getLogger(__name__)


_QUARANTINE = Scratch(
    "intake_quarantined_orders",
    (
        ("crm_deal_id", "text"), ("order_number", "text"), ("crm_modified_at", "timestamptz"), ("payload", "jsonb"),
        ("payload_fingerprint", "text"), ("reasons", "jsonb"),
    ),
)  # fmt: skip


def quarantine(
    cur: Any, source: str, rejected: list[Rejected], batch_id: str, now: datetime, events: list[Event]
) -> int:
    """Record rejected orders; return how many were not already in quarantine as they are.

    Set-based, with the outcome of recording them one after the other: a
    version of a deal supersedes its other open versions, and a version
    already in quarantine is seen again rather than added.  Where two orders
    would meet in one statement (two versions of one deal, two identical
    records without an id), the second starts the next run of orders, and
    runs are written one after the other.
    """
    if not rejected:
        return 0
    runs: list[list[Rejected]] = [[]]
    meeting: set[tuple[str, str]] = set()
    for item in rejected:
        # Records without an id are not versions of one another: only identical ones meet.
        meets = ("deal", item.crm_deal_id) if item.crm_deal_id != "unknown" else ("record", item.fingerprint)
        if meets in meeting:
            runs.append([])
            meeting.clear()
        meeting.add(meets)
        runs[-1].append(item)
    new = sum(_quarantine_run(cur, source, items, batch_id, now) for items in runs)
    for item in rejected:
        reasons = [{"field": p.field, "problem": p.problem} for p in item.problems]
        log.warning("quarantined order %s-%s: %s", source, item.crm_deal_id, "; ".join(map(str, item.problems)))
        events.append(
            Event(
                subject=f"order:{source}-{item.crm_deal_id}",
                event_type=EventType.ORDER_QUARANTINED,
                actor=ACTOR,
                occurred_at=now,
                stage=Stage.INTAKE.value,
                details={"order_number": item.order_number, "reasons": reasons},
                dedupe_key=f"order.quarantined:{source}:{item.crm_deal_id}:{item.fingerprint}",
            )
        )
    return new


def _quarantine_run(cur: Any, source: str, items: list[Rejected], batch_id: str, now: datetime) -> int:
    """Record rejected orders of which no two meet (see :func:`quarantine`): one UPDATE, one upsert."""
    versions = [(item.crm_deal_id, item.fingerprint) for item in items if item.crm_deal_id != "unknown"]
    if versions:
        cur.execute(
            f"""UPDATE {SCHEMA}.quarantined_orders q
                   SET status = '{QuarantineStatus.RESOLVED}', resolved_at = %s,
                       resolution = 'superseded by a newer version of the order'
                  FROM unnest(%s::text[], %s::text[]) AS v(crm_deal_id, payload_fingerprint)
                 WHERE q.crm_source = %s AND q.crm_deal_id = v.crm_deal_id AND q.status = '{QuarantineStatus.OPEN}'
                   AND q.payload_fingerprint <> v.payload_fingerprint""",
            (now, [deal for deal, _ in versions], [fp for _, fp in versions], source),
        )
    _QUARANTINE.load(
        cur,
        (
            (
                n, item.crm_deal_id, item.order_number, item.crm_modified_at, Jsonb(item.record), item.fingerprint,
                Jsonb([{"field": p.field, "problem": p.problem} for p in item.problems]),
            )
            for n, item in enumerate(items)
        ),
    )  # fmt: skip
    cur.execute(
        f"""INSERT INTO {SCHEMA}.quarantined_orders AS q (
                crm_source, crm_deal_id, order_number, crm_modified_at, payload, payload_fingerprint, reasons,
                first_seen_at, last_seen_at, first_batch_id, last_batch_id)
            SELECT %s, crm_deal_id, order_number, crm_modified_at, payload, payload_fingerprint, reasons,
                   %s, %s, %s, %s
            FROM pg_temp.{_QUARANTINE.name} ORDER BY seq
            ON CONFLICT (crm_source, crm_deal_id, payload_fingerprint) DO UPDATE SET
                last_seen_at = EXCLUDED.last_seen_at,
                seen_in_batches = q.seen_in_batches + CASE WHEN q.last_batch_id = EXCLUDED.last_batch_id
                                                           THEN 0 ELSE 1 END,
                last_batch_id = EXCLUDED.last_batch_id,
                reasons = EXCLUDED.reasons,
                status = CASE WHEN q.status = '{QuarantineStatus.DISMISSED}' THEN '{QuarantineStatus.DISMISSED}'
                              ELSE '{QuarantineStatus.OPEN}' END,
                resolved_at = NULL, resolution = NULL
            RETURNING (xmax = 0) AS inserted""",
        (source, now, now, batch_id, batch_id),
    )
    return sum(1 for row in cur.fetchall() if row["inserted"])


def resolve_quarantines(
    cur: Any, source: str, created: list[Order], now: datetime, events: list[Event], out_of_pilot: bool = False
) -> int:
    """Close the open quarantine entries of orders that have now become onboardings (one statement).

    With ``out_of_pilot``, the corrected orders are valid but outside the pilot scope: their
    entries close all the same, as nothing is left for a person to fix.
    """
    if not created:
        return 0
    by_deal = {o.crm_deal_id: o for o in created}
    texts = [
        "a corrected version is outside the pilot scope: counted as out of pilot"
        if out_of_pilot
        else f"a corrected version became onboarding {o.key}"
        for o in by_deal.values()
    ]
    cur.execute(
        f"""UPDATE {SCHEMA}.quarantined_orders q
               SET status = '{QuarantineStatus.RESOLVED}', resolved_at = %s, resolution = r.resolution
              FROM unnest(%s::text[], %s::text[]) AS r(crm_deal_id, resolution)
             WHERE q.crm_source = %s AND q.crm_deal_id = r.crm_deal_id AND q.status = '{QuarantineStatus.OPEN}'
         RETURNING q.id, q.crm_deal_id, q.resolution""",
        (now, list(by_deal), texts, source),
    )
    resolved: dict[str, list[int]] = {}
    resolutions: dict[str, str] = {}
    for row in cur.fetchall():
        resolved.setdefault(row["crm_deal_id"], []).append(row["id"])
        resolutions[row["crm_deal_id"]] = row["resolution"]
    for deal_id, ids in resolved.items():
        events.append(
            Event(
                subject=f"order:{source}-{deal_id}",
                event_type=EventType.ORDER_QUARANTINE_RESOLVED,
                actor=ACTOR,
                occurred_at=now,
                details={"resolution": resolutions[deal_id], "quarantine_ids": ids},
                dedupe_key=f"order.quarantine_resolved:{source}:{deal_id}:{min(ids)}",
            )
        )
    return sum(len(ids) for ids in resolved.values())


def open_quarantine(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """Orders waiting on a person, newest first."""
    return store.query(f"SELECT * FROM {SCHEMA}.open_quarantine LIMIT %s", (limit,))
