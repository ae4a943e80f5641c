"""Opening accounts: the first stage (intake), its owner and history, for a chunk of new orders at once.

New onboardings and their first stage-history rows come from one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` over a scratch table loaded
with one COPY (:func:`open_accounts`); their audit events from one INSERT
(:func:`record_opened`).  Both run in the intake's transaction for the chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from include.onboarding.config import OnboardingConfig, Stage
from include.onboarding.owners import Assignment, stage_owner
from include.onboarding.store import SCHEMA, Scratch

if TYPE_CHECKING:
    from include.onboarding.intake.orders import Order


_ONBOARDING_COLUMNS = (
    ("onboarding_key", "text"), ("crm_source", "text"), ("crm_deal_id", "text"), ("order_number", "text"),
    ("account_name", "text"), ("account_domain", "text"), ("tier", "text"), ("region", "text"), ("segment", "text"),
    ("addons", "text[]"), ("amount", "numeric"), ("currency", "text"), ("partner_name", "text"),
    ("primary_contact_name", "text"), ("primary_contact_email", "text"), ("sales_owner_id", "text"),
    ("owner_email", "text"), ("stage", "text"), ("stage_owner_email", "text"), ("stage_entered_at", "timestamptz"),
    ("signed_at", "timestamptz"), ("activation_target", "date"), ("target_source", "text"),
    ("crm_modified_at", "timestamptz"), ("order_fingerprint", "text"), ("order_payload", "jsonb"),
    ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
)  # fmt: skip
_NEW = Scratch(
    "intake_new_onboardings",
    (*_ONBOARDING_COLUMNS, ("stage_owner_role", "text"), ("order_fields", "jsonb")),
)
_ONBOARDINGS = ", ".join(name for name, _ in _ONBOARDING_COLUMNS)
PICKED_UP = "signed order picked up"
"""The reason recorded for every account's first stage."""
# Each new onboarding's first stage-history row is written by the statement that creates it,
# from the rows it created: an onboarding someone else created meanwhile gets none.
_CREATE = f"""
    WITH created AS (
        INSERT INTO {SCHEMA}.onboardings ({_ONBOARDINGS})
        SELECT {_ONBOARDINGS} FROM pg_temp.{_NEW.name} ORDER BY seq
        ON CONFLICT DO NOTHING
        RETURNING id, onboarding_key),
    history AS (
        INSERT INTO {SCHEMA}.stage_history (onboarding_id, stage, owner_email, owner_role, entered_at, reason)
        SELECT c.id, n.stage, n.stage_owner_email, n.stage_owner_role, n.stage_entered_at, %s
        FROM created c JOIN pg_temp.{_NEW.name} n ON n.onboarding_key = c.onboarding_key
        ORDER BY n.seq)
    SELECT id, onboarding_key FROM created"""
# The audit events of the onboardings created, from the same scratch rows: for each, in the
# order they were planned, onboarding.created (details: the order's business fields, the named
# owner, the activation target and its source) then stage.entered (details: the intake owner's
# role and the reason), as Event(...) would record them.
_CREATED_EVENTS = f"""
    INSERT INTO {SCHEMA}.events
        (occurred_at, onboarding_id, subject, event_type, stage, stage_owner, actor, details, dedupe_key)
    SELECT %(now)s, c.id, n.onboarding_key, e.event_type, n.stage, n.stage_owner_email, %(actor)s,
           CASE e.event_type
               WHEN 'onboarding.created' THEN jsonb_build_object(
                   'order', n.order_fields, 'named_owner', n.owner_email,
                   'activation_target', to_char(n.activation_target, 'YYYY-MM-DD'),
                   'target_source', n.target_source)
               ELSE jsonb_build_object('owner_role', n.stage_owner_role, 'reason', %(reason)s::text)
           END,
           CASE e.event_type
               WHEN 'onboarding.created' THEN 'onboarding.created:' || n.onboarding_key
               ELSE 'stage.entered:' || n.onboarding_key || ':' || n.stage
           END
    FROM unnest(%(ids)s::bigint[], %(keys)s::text[]) AS c(id, onboarding_key)
    JOIN pg_temp.{_NEW.name} n ON n.onboarding_key = c.onboarding_key
    CROSS JOIN (VALUES (1, 'onboarding.created'), (2, 'stage.entered')) AS e(turn, event_type)
    ORDER BY n.seq, e.turn
    ON CONFLICT (dedupe_key) DO NOTHING"""


def open_accounts(cur: Any, config: OnboardingConfig, orders: Sequence[Order], now: datetime) -> dict[str, int]:
    """Create onboardings, each with its first stage-history row, in one statement; return the ids by key.

    An onboarding someone else created meanwhile (same deal, key or order
    number) is left as it is.  Their audit events are recorded by
    :func:`record_opened`, from the scratch rows loaded here.
    """
    if not orders:
        return {}
    rows = []
    for n, o in enumerate(orders):
        owner = stage_owner(
            config.settings, config.tiers[o.tier], Stage.INTAKE, o.region, Assignment(o.owner_email, o.owner_role)
        )
        rows.append(
            (
                n, o.key, o.crm_source, o.crm_deal_id, o.order_number, o.account_name, o.account_domain, o.tier,
                o.region, o.segment, list(o.addons), o.amount, o.currency, o.partner_name, o.primary_contact_name,
                o.primary_contact_email, o.sales_owner_id, o.owner_email, Stage.INTAKE.value, owner.email, now,
                o.signed_at, o.activation_target, o.target_source, o.crm_modified_at, o.fingerprint,
                Jsonb(o.payload), now, now, owner.role, o.business_json,
            )
        )  # fmt: skip
    _NEW.load(cur, rows)
    cur.execute(_CREATE, (PICKED_UP,))
    return {row["onboarding_key"]: row["id"] for row in cur.fetchall()}


def record_opened(cur: Any, created: dict[str, int], now: datetime, actor: str) -> None:
    """Record the audit events of the onboardings :func:`open_accounts` created, in one INSERT."""
    if created:
        cur.execute(
            _CREATED_EVENTS,
            {"now": now, "actor": actor, "reason": PICKED_UP, "ids": list(created.values()), "keys": list(created)},
        )
