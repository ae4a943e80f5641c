"""Starting the tier runs: one run of ``onboarding_<tier>`` per new onboarding.

The run id is derived from the onboarding key (:func:`~include.onboarding.names.run_id_for`), so a
repeated trigger starts nothing.  At most :data:`MAX_RUNS_PER_PICKUP` runs
start per pickup; the rest start at the next one.  An account whose tier has
no configuration any more is not started: it is marked blocked with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

from include.onboarding import run_notes, state
from include.onboarding.clock import Clock
from include.onboarding.config import OnboardingConfig
from include.onboarding.constants import AccountStatus
from include.onboarding.deadlines import CONF_KEY as TARGET_WARNING_KEY
from include.onboarding.deadlines import target_warning_at
from include.onboarding.events import EventType
from include.onboarding.intake.orders import ACTOR
from include.onboarding.names import dag_id_for, run_id_for
from include.onboarding.store import SCHEMA, Event, Store

log = logging.getLogger(__name__)

MAX_RUNS_PER_PICKUP = 1000  # below Airflow's max_map_length (1024); the rest start at the next pickup


def runs_to_start(
    store: Store, config: OnboardingConfig, clock: Clock, limit: int = MAX_RUNS_PER_PICKUP
) -> list[dict[str, Any]]:
    """Trigger arguments for every open onboarding without a run yet (oldest first), each with its run's note.

    Accounts whose tier has no configuration any more are not started: they
    are marked blocked with the reason and logged for a person to settle.
    """
    now = clock.now()
    rows = store.query(
        f"""SELECT id, onboarding_key, tier, region, activation_target, stage, stage_owner_email, account_name,
                   owner_email, status
            FROM {SCHEMA}.onboardings
            WHERE status = '{AccountStatus.OPEN}' AND run_triggered_at IS NULL AND blocked_reason IS NULL
            ORDER BY created_at, id LIMIT %s""",
        (limit,),
    )
    runs = []
    orphans = []
    for row in rows:
        if row["tier"] not in config.tiers:
            orphans.append(row)
            continue
        conf = {"onboarding_key": row["onboarding_key"], "activation_target": row["activation_target"].isoformat()}
        region = config.settings.regions.get(row["region"])
        if region is not None:
            # Read by the run's deadline alert: the named owner hears before the target slips.
            lead = config.settings.runs.target_warning_business_days
            warn = target_warning_at(region, row["activation_target"], lead)
            conf[TARGET_WARNING_KEY] = warn.isoformat()
        runs.append(
            {
                "trigger_dag_id": dag_id_for(row["tier"]),
                "trigger_run_id": run_id_for(row["onboarding_key"]),
                "conf": conf,
                # The grid shows who the account is and who owns it; the run keeps it current (run_notes).
                "note": run_notes.render(
                    run_notes.NoteFacts(
                        row["account_name"], row["tier"], row["region"], row["stage"], row["stage_owner_email"],
                        row["owner_email"], row["activation_target"], row["status"],
                    ),
                    config,
                ),
            }
        )  # fmt: skip
    if orphans:
        with store.transaction() as cur:
            for row in orphans:
                reason = (
                    f"tier {row['tier']!r} has no configuration file any more"
                    f" (include/config/tiers/{row['tier']}.yaml); restore it or move the account to another tier"
                )
                log.error("onboarding %s not started: %s", row["onboarding_key"], reason)
                state.block_unstartable(cur, row, reason, now, ACTOR)
    return runs


def mark_runs_started(store: Store, runs: list[dict[str, Any]], clock: Clock) -> int:
    """Record which run carries each onboarding (after the trigger succeeded or found it existing)."""
    if not runs:
        return 0
    now = clock.now()
    with store.transaction() as cur:
        cur.executemany(
            f"""UPDATE {SCHEMA}.onboardings SET run_id = %s, run_triggered_at = COALESCE(run_triggered_at, %s)
                WHERE onboarding_key = %s""",
            [(r["trigger_run_id"], now, r["conf"]["onboarding_key"]) for r in runs],
        )
        Store.record_events(
            cur,
            [
                Event(
                    subject=r["conf"]["onboarding_key"],
                    event_type=EventType.RUN_STARTED,
                    actor=ACTOR,
                    occurred_at=now,
                    details={"dag_id": r["trigger_dag_id"], "run_id": r["trigger_run_id"]},
                    dedupe_key=f"run.started:{r['trigger_run_id']}",
                )
                for r in runs
            ],
        )
    return len(runs)
