"""Moving one account: its stage, stage owner, status, blocked reason and post-onboarding owner.

Each move writes the account's row, its stage history and the audit event in
one transaction.  Stages only move forward, along the tier's table
(:mod:`.stages`): asking for the current stage or an earlier one (a cleared task
re-running) changes nothing; asking for a stage the table does not reach from
the current one raises :class:`~include.onboarding.exceptions.TransitionNotAllowed`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from include.onboarding import lifecycle
from include.onboarding.config import OnboardingConfig, Stage
from include.onboarding.constants import AccountStatus
from include.onboarding.events import EventType
from include.onboarding.lifecycle import Onboarding
from include.onboarding.owners import Assignment, stage_owner
from include.onboarding.state import stages
from include.onboarding.store import SCHEMA, Event, Store


def advance(
    store: Store,
    config: OnboardingConfig,
    onboarding_key: str,
    to: Stage,
    now: datetime,
    actor: str,
    reason: str,
    details: dict[str, Any] | None = None,
) -> bool:
    """Move an account to stage ``to`` with that stage's owner.  True if it moved."""
    onboarding = lifecycle.load(store, onboarding_key)
    with store.transaction() as cur:
        return _move(cur, config, onboarding, to, now, actor, reason, details)


def _move(
    cur: psycopg.Cursor[Any],
    config: OnboardingConfig,
    onboarding: Onboarding,
    to: Stage,
    now: datetime,
    actor: str,
    reason: str,
    details: dict[str, Any] | None = None,
) -> bool:
    tier = lifecycle.tier_of(config, onboarding)
    if stages.is_behind(tier, to, onboarding.stage):
        return False
    stages.check(onboarding.key, tier, onboarding.stage, to)
    owner = stage_owner(config.settings, tier, to, onboarding.region, lifecycle.named_owner(onboarding, tier))
    cur.execute(
        f"""UPDATE {SCHEMA}.onboardings
            SET stage = %s, stage_owner_email = %s, stage_entered_at = %s, updated_at = %s
            WHERE id = %s AND stage = %s""",
        (to.value, owner.email, now, now, onboarding.id, onboarding.stage.value),
    )
    if cur.rowcount == 0:  # somebody else moved it meanwhile
        return False
    cur.execute(
        # GREATEST: a stage never ends before it began, even if two workers' clocks disagree.
        f"""UPDATE {SCHEMA}.stage_history SET exited_at = GREATEST(entered_at, %s)
            WHERE onboarding_id = %s AND exited_at IS NULL""",
        (now, onboarding.id),
    )
    cur.execute(
        f"""INSERT INTO {SCHEMA}.stage_history (onboarding_id, stage, owner_email, owner_role, entered_at, reason)
            VALUES (%s, %s, %s, %s, %s, %s)""",
        (onboarding.id, to.value, owner.email, owner.role, now, reason),
    )
    Store.record_events(
        cur,
        [
            Event(
                subject=onboarding.key,
                onboarding_id=onboarding.id,
                event_type=EventType.STAGE_ENTERED,
                actor=actor,
                occurred_at=now,
                stage=to.value,
                stage_owner=owner.email,
                details={"from": onboarding.stage.value, "owner_role": owner.role, "reason": reason} | (details or {}),
                dedupe_key=f"stage.entered:{onboarding.key}:{to.value}",
            )
        ],
    )
    return True


def hand_off(
    store: Store, config: OnboardingConfig, onboarding_key: str, now: datetime, actor: str, reason: str
) -> Assignment:
    """Move the account to handoff and pass it to its post-onboarding owner; return that owner."""
    ob = lifecycle.load(store, onboarding_key)
    tier = lifecycle.tier_of(config, ob)
    new_owner = stage_owner(config.settings, tier, Stage.LIVE, ob.region, lifecycle.named_owner(ob, tier))
    with store.transaction() as cur:
        _move(cur, config, ob, Stage.HANDOFF, now, actor, reason)
        cur.execute(
            f"UPDATE {SCHEMA}.onboardings SET post_owner_email = %s, updated_at = %s WHERE id = %s",
            (new_owner.email, now, ob.id),
        )
        Store.record_events(
            cur,
            [
                Event(
                    subject=onboarding_key,
                    onboarding_id=ob.id,
                    event_type=EventType.OWNERSHIP_HANDED_OFF,
                    actor=ob.owner_email,
                    occurred_at=now,
                    stage=Stage.HANDOFF.value,
                    stage_owner=ob.stage_owner_email,
                    details={"from": ob.owner_email, "to": new_owner.email, "role": new_owner.role},
                    dedupe_key=f"ownership.handed_off:{onboarding_key}",
                )
            ],
        )
    return new_owner


def go_live(
    store: Store,
    config: OnboardingConfig,
    onboarding_key: str,
    now: datetime,
    actor: str,
    reason: str,
    details: dict[str, Any],
) -> None:
    """Move the account to live and close it (status ``live``), recording ``onboarding.live`` with ``details``."""
    ob = lifecycle.load(store, onboarding_key)
    with store.transaction() as cur:
        _move(cur, config, ob, Stage.LIVE, now, actor, reason)
        cur.execute(
            f"""UPDATE {SCHEMA}.onboardings
                SET status = '{AccountStatus.LIVE}', live_at = %s, blocked_reason = NULL, updated_at = %s
                WHERE id = %s AND status = '{AccountStatus.OPEN}'""",
            (now, now, ob.id),
        )
        Store.record_events(
            cur,
            [
                Event(
                    subject=onboarding_key,
                    onboarding_id=ob.id,
                    event_type=EventType.ONBOARDING_LIVE,
                    actor=actor,
                    occurred_at=now,
                    stage=Stage.LIVE.value,
                    stage_owner=ob.post_owner_email,
                    details=details,
                    dedupe_key=f"onboarding.live:{onboarding_key}",
                )
            ],
        )


def set_blocked(store: Store, onboarding_key: str, reason: str | None, now: datetime) -> None:
    """Record why the account cannot go on (``None``: nothing blocks it any more)."""
    with store.transaction() as cur:
        cur.execute(
            f"UPDATE {SCHEMA}.onboardings SET blocked_reason = %s, updated_at = %s WHERE onboarding_key = %s",
            (reason, now, onboarding_key),
        )


def block_unstartable(cur: psycopg.Cursor[Any], row: dict[str, Any], reason: str, now: datetime, actor: str) -> None:
    """Block an account whose run cannot start (``row``: its id, key, stage and stage owner), with the reason."""
    cur.execute(
        f"UPDATE {SCHEMA}.onboardings SET blocked_reason = %s, updated_at = %s WHERE id = %s",
        (reason, now, row["id"]),
    )
    Store.record_events(
        cur,
        [
            Event(
                subject=row["onboarding_key"],
                onboarding_id=row["id"],
                event_type=EventType.ONBOARDING_BLOCKED,
                actor=actor,
                occurred_at=now,
                stage=row["stage"],
                stage_owner=row["stage_owner_email"],
                details={"reason": reason},
                dedupe_key=f"onboarding.blocked:{row['onboarding_key']}:tier-removed",
            )
        ],
    )
