"""Step 1 of a pickup: stage the deals the CRM changed since the watermark.

:func:`pull_orders` reads the deals changed since the watermark (minus a small
look-back) and stages the raw records under the pickup's batch id, one COPY a
page.  Any record can be staged: control characters and unpaired surrogates
are stored as visible symbols, with a problem naming the field, and a record
PostgreSQL still refuses as JSON is kept as text, with the store's reason.
A retried or cleared pull starts its batch afresh.  The first pull under a new
pilot scope reads from the oldest order an earlier scope left out
(:mod:`.pilot`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from include.onboarding.clients.crm import CrmClient, record_modified_at
from include.onboarding.clock import Clock
from include.onboarding.config import OnboardingConfig
from include.onboarding.intake.cleaning import UNSTORABLE, clean_record, clean_text, error_text, order_at_fault
from include.onboarding.intake.orders import EPOCH, Problem, deal_key
from include.onboarding.intake.pilot import read_from_after_scope_change
from include.onboarding.intake.summary import PullSummary
from include.onboarding.store import SCHEMA, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Staged:
    """One CRM record as staged: cleaned, with what staging found wrong with it."""

    position: int
    crm_deal_id: str | None
    crm_modified_at: datetime | None
    record: Any
    problems: tuple[Problem, ...]
    received: Any

    @classmethod
    def of(cls, position: int, received: Any) -> _Staged:
        record, problems = clean_record(received)
        key = deal_key(record)
        return cls(
            position, None if key == "unknown" else key, record_modified_at(received), record, tuple(problems), received
        )

    def params(self, batch_id: str) -> tuple[Any, ...]:
        reasons = [{"field": p.field, "problem": p.problem} for p in self.problems]
        return (batch_id, self.position, self.crm_deal_id, self.crm_modified_at, Jsonb(self.record), Jsonb(reasons))

    def as_text(self, exc: Exception) -> _Staged:
        """This record kept as its Python text, for when the store refuses it as JSON."""
        record = {"id": self.crm_deal_id, UNSTORABLE: clean_text(repr(self.received))}
        problem = Problem(
            "record",
            f"could not be stored as received ({error_text(exc)}); kept as text under {UNSTORABLE!r}",
        )
        return replace(self, record=record, problems=(*self.problems, problem))


_STAGED_COLUMNS = "batch_id, position, crm_deal_id, crm_modified_at, record, problems"
_STAGE = f"INSERT INTO {SCHEMA}.intake_batch_orders ({_STAGED_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)"


def _stage(store: Store, batch_id: str, staged: list[_Staged]) -> None:
    """Stage one page in one COPY; if the store refuses a record, stage them one by one.

    One by one, a record the store refuses (as JSON) is staged as text
    instead, with the reason, so it reaches quarantine and the page goes on.
    """
    try:
        with (
            store.transaction() as cur,
            cur.copy(f"COPY {SCHEMA}.intake_batch_orders ({_STAGED_COLUMNS}) FROM STDIN".encode()) as copy,
        ):
            for item in staged:
                copy.write_row(item.params(batch_id))
        return
    except Exception as exc:
        if not order_at_fault(exc):
            raise
        log.warning("intake batch %s: a record of this page could not be staged (%s)", batch_id, error_text(exc))
    with store.transaction() as cur:
        for item in staged:
            try:
                with store.conn.transaction():
                    cur.execute(_STAGE, item.params(batch_id))
            except Exception as exc:
                if not order_at_fault(exc):
                    raise
                cur.execute(_STAGE, item.as_text(exc).params(batch_id))


def pull_orders(store: Store, crm: CrmClient, config: OnboardingConfig, batch_id: str, clock: Clock) -> PullSummary:
    """Stage every signed deal changed since the watermark under ``batch_id``."""
    settings = config.settings.intake
    source = settings.crm_source
    high_water = store.scalar(f"SELECT high_water FROM {SCHEMA}.intake_watermarks WHERE source = %s", (source,))
    if high_water is not None:
        read_from = high_water - timedelta(minutes=settings.lookback_minutes)
    else:
        read_from = settings.start_from or EPOCH
    now = clock.now()
    scope = config.settings.pilot
    with store.transaction() as cur:
        # A retried or cleared pull starts its batch afresh.
        cur.execute(f"DELETE FROM {SCHEMA}.intake_batches WHERE batch_id = %s", (batch_id,))
        # A new pilot scope may take in orders an earlier one left out: read again from the oldest.
        read_from = read_from_after_scope_change(cur, source, scope, batch_id, read_from, now)
        cur.execute(
            f"""INSERT INTO {SCHEMA}.intake_batches (batch_id, source, status, read_from, started_at, scope_fingerprint)
                VALUES (%s, %s, 'pulling', %s, %s, %s)""",
            (batch_id, source, read_from, now, scope.fingerprint),
        )
    fetched = 0
    newest: datetime | None = None
    for page in crm.signed_deals_since(since=read_from):
        staged = []
        for record in page:
            item = _Staged.of(fetched, record)
            if item.crm_modified_at is not None and (newest is None or item.crm_modified_at > newest):
                newest = item.crm_modified_at
            staged.append(item)
            fetched += 1
        _stage(store, batch_id, staged)
    with store.transaction() as cur:
        cur.execute(
            f"UPDATE {SCHEMA}.intake_batches SET status = 'pulled', fetched = %s, high_water = %s WHERE batch_id = %s",
            (fetched, newest, batch_id),
        )
    log.info("pulled %d changed deal(s) from %s since %s", fetched, source, read_from.isoformat())
    return PullSummary(batch_id, read_from.isoformat(), fetched, newest.isoformat() if newest else None)
