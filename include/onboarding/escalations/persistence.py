"""Escalations in the store: raising them once, and resolving them when their cause went away.

The dedupe key makes raising an escalation twice a no-op; every escalation
raised and resolved is an event in the audit trail (``escalation.raised``,
``escalation.resolved``), and a resolution keeps breach, escalation and
resolution times so escalation lag is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from include.onboarding.config import OnboardingConfig
from include.onboarding.constants import SETTLED_SQL, AccountStatus, QuarantineStatus
from include.onboarding.store import SCHEMA, Store

ACTOR = "system:escalations"


@dataclass(frozen=True)
class NewEscalation:
    """An escalation to raise.  The dedupe key makes raising it twice a no-op."""

    subject: str
    kind: str
    notify_email: str
    reason: str
    dedupe_key: str
    onboarding_id: int | None = None
    stage: str | None = None
    stage_owner: str | None = None
    level: int = 1
    notify_role: str | None = None
    breach_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


_COLUMNS = (
    "onboarding_id",
    "subject",
    "stage",
    "stage_owner",
    "kind",
    "level",
    "notify_email",
    "notify_role",
    "reason",
    "breach_at",
    "details",
    "dedupe_key",
)


def raise_escalations(store: Store, escalations: Sequence[NewEscalation], now: datetime) -> list[int]:
    """Insert escalations not raised before and log ``escalation.raised`` for each; return the new ids."""
    if not escalations:
        return []
    with store.transaction() as cur:
        cur.execute(
            """CREATE TEMP TABLE IF NOT EXISTS new_escalations (
                   onboarding_id bigint, subject text, stage text, stage_owner text, kind text, level integer,
                   notify_email text, notify_role text, reason text, breach_at timestamptz, details jsonb,
                   dedupe_key text) ON COMMIT DELETE ROWS"""
        )
        with cur.copy(f"COPY new_escalations ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for e in escalations:
                copy.write_row(
                    (
                        e.onboarding_id,
                        e.subject,
                        e.stage,
                        e.stage_owner,
                        e.kind,
                        e.level,
                        e.notify_email,
                        e.notify_role,
                        e.reason,
                        e.breach_at,
                        Jsonb(e.details),
                        e.dedupe_key,
                    )
                )
        cur.execute(
            f"""WITH raised AS (
                    INSERT INTO {SCHEMA}.escalations AS e
                        (onboarding_id, subject, stage, kind, level, notify_email, notify_role, reason,
                         breach_at, raised_at, details, dedupe_key)
                    SELECT DISTINCT ON (dedupe_key) onboarding_id, subject, stage, kind, level, notify_email,
                           notify_role, reason, breach_at, %(now)s, details, dedupe_key
                    FROM new_escalations ORDER BY dedupe_key
                    ON CONFLICT (dedupe_key) DO NOTHING
                    RETURNING e.id, e.onboarding_id, e.subject, e.stage, e.kind, e.level, e.notify_email,
                              e.reason, e.breach_at, e.dedupe_key
                ), logged AS (
                    INSERT INTO {SCHEMA}.events
                        (occurred_at, onboarding_id, subject, event_type, stage, stage_owner, actor, details,
                         dedupe_key)
                    SELECT %(now)s, r.onboarding_id, r.subject, 'escalation.raised', r.stage, n.stage_owner,
                           %(actor)s,
                           jsonb_build_object('escalation_id', r.id, 'kind', r.kind, 'level', r.level,
                                              'notify', r.notify_email, 'reason', r.reason,
                                              'breach_at', r.breach_at),
                           'escalation.raised:' || r.dedupe_key
                    FROM raised r JOIN new_escalations n USING (dedupe_key)
                    ON CONFLICT (dedupe_key) DO NOTHING
                )
                SELECT id FROM raised ORDER BY id""",
            {"now": now, "actor": ACTOR},
        )
        ids = [int(r["id"]) for r in cur.fetchall()]
        cur.execute("DELETE FROM new_escalations")
    return ids


_RESOLVE_SQL = f"""
WITH target AS (
    SELECT e.id,
           CASE
             WHEN e.kind = 'quarantine' THEN q.resolved_at
             WHEN o.status <> '{AccountStatus.OPEN}' THEN coalesce(o.live_at, o.updated_at)
             WHEN e.kind = 'deadline' THEN NULL
             WHEN e.stage IS DISTINCT FROM o.stage THEN (
                 SELECT max(h.exited_at) FROM {SCHEMA}.stage_history h
                 WHERE h.onboarding_id = e.onboarding_id AND h.stage = e.stage)
             WHEN e.kind = 'unowned' AND o.stage_owner_email = ANY(%(people)s) AND o.tier = ANY(%(tiers)s)
               THEN o.updated_at
             WHEN e.kind = 'silent' THEN heard.at
           END AS resolved_at,
           CASE
             WHEN e.kind = 'quarantine' THEN 'order ' || coalesce(q.status, 'gone') || ': '
                                             || coalesce(q.resolution, 'no longer quarantined')
             WHEN o.status <> '{AccountStatus.OPEN}' THEN 'account ' || o.status
             WHEN e.stage IS DISTINCT FROM o.stage THEN 'stage moved on to ' || o.stage
             WHEN e.kind = 'silent' THEN 'the customer sent an input'
             ELSE 'stage owner is now ' || o.stage_owner_email
           END AS resolution,
           (e.kind = 'quarantine' AND coalesce(q.status, '{QuarantineStatus.RESOLVED}') <> '{QuarantineStatus.OPEN}')
             OR (e.kind <> 'quarantine' AND (
                  o.status <> '{AccountStatus.OPEN}'
                  OR (e.kind <> 'deadline' AND e.stage IS DISTINCT FROM o.stage)
                  OR (e.kind = 'unowned' AND o.stage_owner_email = ANY(%(people)s) AND o.tier = ANY(%(tiers)s))
                  OR (e.kind = 'silent' AND heard.at > e.raised_at)
             )) AS done
    FROM {SCHEMA}.escalations e
    LEFT JOIN {SCHEMA}.onboardings o ON o.id = e.onboarding_id
    LEFT JOIN {SCHEMA}.quarantined_orders q
           ON e.kind = 'quarantine' AND q.id = substring(e.dedupe_key FROM 'quarantine:(\\d+)$')::bigint
    LEFT JOIN LATERAL (
        SELECT max(coalesce(c.last_submission_at, c.received_at)) AS at FROM {SCHEMA}.checklist_items c
        WHERE e.kind = 'silent' AND c.onboarding_id = e.onboarding_id
    ) heard ON true
    WHERE e.resolved_at IS NULL
), resolved AS (
    UPDATE {SCHEMA}.escalations e
    SET resolved_at = GREATEST(e.raised_at, coalesce(t.resolved_at, %(now)s)),
        resolution = t.resolution
    FROM target t
    WHERE e.id = t.id AND t.done
    RETURNING e.id, e.onboarding_id, e.subject, e.stage, e.kind, e.level, e.breach_at, e.raised_at,
              e.resolved_at, e.resolution, e.notify_email
), logged AS (
    INSERT INTO {SCHEMA}.events
        (occurred_at, onboarding_id, subject, event_type, stage, actor, details, dedupe_key)
    SELECT r.resolved_at, r.onboarding_id, r.subject, 'escalation.resolved', r.stage, %(actor)s,
           jsonb_build_object(
               'escalation_id', r.id, 'kind', r.kind, 'level', r.level, 'notify', r.notify_email,
               'resolution', r.resolution, 'breach_at', r.breach_at, 'raised_at', r.raised_at,
               'resolved_at', r.resolved_at,
               'breach_to_escalation_seconds', extract(epoch FROM r.raised_at - r.breach_at),
               'escalation_to_resolution_seconds', extract(epoch FROM r.resolved_at - r.raised_at)),
           'escalation.resolved:' || r.id
    FROM resolved r
    ON CONFLICT (dedupe_key) DO NOTHING
)
SELECT count(*) AS n FROM resolved
"""


def resolve(store: Store, config: OnboardingConfig, now: datetime) -> int:
    """Resolve every open escalation whose cause went away; return how many."""
    with store.transaction() as cur:
        cur.execute(
            _RESOLVE_SQL,
            {
                "people": sorted(config.settings.people_by_email),
                "tiers": sorted(config.tiers),
                "now": now,
                "actor": ACTOR,
            },
        )
        row = cur.fetchone()
    return int(row["n"]) if row else 0


def raised_for_current_stages(store: Store) -> set[str]:
    """Dedupe keys already raised for the stage each open onboarding is in now."""
    rows = store.query(
        f"""SELECT e.dedupe_key FROM {SCHEMA}.escalations e
            JOIN {SCHEMA}.onboardings o ON o.id = e.onboarding_id
            WHERE o.status = '{AccountStatus.OPEN}' AND e.stage = o.stage"""
    )
    return {r["dedupe_key"] for r in rows}


def missing_items(store: Store, ids: list[int]) -> dict[int, list[str]]:
    if not ids:
        return {}
    rows = store.query(
        f"""SELECT onboarding_id, label, status, rejection_reason FROM {SCHEMA}.checklist_items
            WHERE onboarding_id = ANY(%s) AND critical AND status NOT IN {SETTLED_SQL}
            ORDER BY onboarding_id, id""",
        (ids,),
    )
    out: dict[int, list[str]] = {}
    for r in rows:
        text = f"{r['label']} ({r['status']}" + (f": {r['rejection_reason']})" if r["rejection_reason"] else ")")
        out.setdefault(int(r["onboarding_id"]), []).append(text)
    return out
