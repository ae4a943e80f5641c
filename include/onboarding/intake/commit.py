"""Step 3 of a pickup: move the watermark to the newest record of the batch.

It runs only after processing succeeded, so a failed pickup leaves the
watermark where it was and the next pickup reads the same orders again.
Staged records are deleted a week after their batch was committed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from include.onboarding.clock import Clock
from include.onboarding.config import OnboardingConfig
from include.onboarding.events import EventType
from include.onboarding.intake.orders import ACTOR
from include.onboarding.store import SCHEMA, Event, Store


def commit_batch(store: Store, config: OnboardingConfig, batch_id: str, clock: Clock) -> dict[str, Any]:
    """Advance the watermark to the batch's newest record, once processing succeeded."""
    source = config.settings.intake.crm_source
    now = clock.now()
    with store.transaction() as cur:
        cur.execute(
            f"SELECT status, high_water, counts, read_from FROM {SCHEMA}.intake_batches WHERE batch_id = %s FOR UPDATE",
            (batch_id,),
        )
        batch = cur.fetchone()
        if batch is None or batch["status"] not in ("processed", "committed"):
            state = batch["status"] if batch else "missing"
            raise RuntimeError(f"intake batch {batch_id!r} is {state}, not processed: the watermark stays where it is")
        if batch["high_water"] is not None:
            cur.execute(
                f"""INSERT INTO {SCHEMA}.intake_watermarks (source, high_water, batch_id, updated_at)
                    VALUES (%s, %s, %s, %s)
                    ON CONFLICT (source) DO UPDATE SET
                        high_water = GREATEST({SCHEMA}.intake_watermarks.high_water, EXCLUDED.high_water),
                        batch_id = EXCLUDED.batch_id, updated_at = EXCLUDED.updated_at""",
                (source, batch["high_water"], batch_id, now),
            )
        cur.execute(
            f"UPDATE {SCHEMA}.intake_batches SET status = 'committed', finished_at = %s WHERE batch_id = %s",
            (now, batch_id),
        )
        # Staged records are only needed until their batch is committed and a week has passed.
        cur.execute(
            f"""DELETE FROM {SCHEMA}.intake_batch_orders WHERE batch_id IN (
                    SELECT batch_id FROM {SCHEMA}.intake_batches
                    WHERE status = 'committed' AND finished_at < %s)""",
            (now - timedelta(days=7),),
        )
        cur.execute(f"SELECT high_water FROM {SCHEMA}.intake_watermarks WHERE source = %s", (source,))
        row = cur.fetchone()
        watermark = row["high_water"] if row else None
        Store.record_events(
            cur,
            [
                Event(
                    subject="intake",
                    event_type=EventType.INTAKE_PICKUP_COMMITTED,
                    actor=ACTOR,
                    occurred_at=now,
                    details={"batch_id": batch_id, "counts": batch["counts"], "watermark": str(watermark)},
                    dedupe_key=f"intake.pickup_committed:{batch_id}",
                )
            ],
        )
    return {"batch_id": batch_id, "watermark": watermark.isoformat() if watermark else None, **batch["counts"]}
