"""Step 2 of a pickup: judge each staged record and write the verdicts.

Good orders become onboardings (idempotent upsert keyed by the CRM deal id)
with a named owner and an activation target in business days; bad ones go to
quarantine with every reason found (and an ``order.quarantined`` event).  Of
several versions of one deal in a batch, the newest is judged against the
store; orders are written :data:`CHUNK` at a time (see :mod:`.writes`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from psycopg.types.json import Jsonb

from include.onboarding.clock import Clock
from include.onboarding.config import OnboardingConfig
from include.onboarding.intake.orders import Order, Rejected
from include.onboarding.intake.rules import judge
from include.onboarding.intake.summary import ProcessSummary
from include.onboarding.intake.writes import apply_chunk
from include.onboarding.store import SCHEMA, Store

log = logging.getLogger(__name__)

CHUNK = 500


def process_batch(store: Store, config: OnboardingConfig, batch_id: str, clock: Clock) -> ProcessSummary:
    """Turn a staged batch into onboardings and quarantined orders."""
    batch = store.query(f"SELECT status FROM {SCHEMA}.intake_batches WHERE batch_id = %s", (batch_id,))
    if not batch or batch[0]["status"] not in ("pulled", "processed", "committed"):
        raise RuntimeError(f"intake batch {batch_id!r} has not been pulled; run the pull step first")
    summary = ProcessSummary(batch_id)
    records = store.query(
        f"SELECT record, problems FROM {SCHEMA}.intake_batch_orders WHERE batch_id = %s ORDER BY position",
        (batch_id,),
    )
    summary.fetched = len(records)
    latest: dict[str, Order | Rejected] = {}
    unidentified: list[Rejected] = []
    for row in records:
        verdict = judge(row["record"], row["problems"], config)
        deal = verdict.crm_deal_id
        if isinstance(verdict, Rejected) and deal == "unknown":
            unidentified.append(verdict)
            continue
        previous = latest.get(deal)
        if previous is None or _newer(verdict.crm_modified_at, previous.crm_modified_at):
            latest[deal] = verdict
    verdicts = list(latest.values())
    for start in range(0, len(verdicts), CHUNK):
        apply_chunk(store, config, verdicts[start : start + CHUNK], batch_id, clock, summary)
    if unidentified:
        apply_chunk(store, config, list(unidentified), batch_id, clock, summary)
    with store.transaction() as cur:
        cur.execute(
            f"""UPDATE {SCHEMA}.intake_batches
                SET status = CASE WHEN status = 'committed' THEN status ELSE 'processed' END, counts = %s
                WHERE batch_id = %s""",
            (Jsonb(summary.counts()), batch_id),
        )
    log.info("intake batch %s: %s", batch_id, summary.counts())
    return summary


def _newer(a: datetime | None, b: datetime | None) -> bool:
    return b is None or (a is not None and a >= b)
