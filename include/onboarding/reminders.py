"""Reminding customers by email of the checklist items they still owe, on their tier's cadence.

A tier's ``reminders: {after_business_days: [2, 4]}`` reminds the account's
primary contact after 2 and after 4 business days without progress, in
working time on the account's region calendar (the unit of the SLAs and of the
silent-customer escalation, which comes after every reminder).  "Without
progress" counts from the checklist request or the customer's last submission
of any item, whichever is later, so a submission restarts the clock and the
count: the next reminder is number 1 again.

:func:`run` (the ``remind_customers`` task of ``onboarding_escalations``, every
15 minutes) finds the accounts due a reminder with two indexed queries and
vectorised business time, never a query per account, and queues each through
:func:`include.onboarding.mail.queue_reminder`: a fresh magic link and the
items still open.  The rules:

* only while the account is collecting inputs, the checklist has been sent and
  a critical item is neither verified nor waived;
* one reminder per cadence step and stretch without progress (a pass that
  finds two steps due, after an outage, sends the later one only);
* at most one reminder per business day per contact, across all their
  accounts, and none on a day that is not a business day in the region;
* each reminder is recorded with the mail: a row in
  ``onboarding.customer_reminders`` and a ``customer.reminded`` audit event
  with its number and the open items.

Dedupe keys (account, stretch, number) make a pass safe to run again, even at
the same instant.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import numpy as np
import pandas as pd
import psycopg

from include.onboarding import mail
from include.onboarding.calendar import by_region
from include.onboarding.config import OnboardingConfig, Stage
from include.onboarding.constants import AccountStatus
from include.onboarding.escalations.sla import customer_pause_join
from include.onboarding.events import EventType
from include.onboarding.store import SCHEMA, Event, Store

log = logging.getLogger(__name__)

ACTOR = "system:reminders"
EVENT = EventType.CUSTOMER_REMINDED


@dataclass
class ReminderSummary:
    """What one pass saw and did."""

    waiting: int = 0
    """Accounts with the checklist out and a critical item still open, in a tier with a cadence."""
    due: int = 0
    """Of those, accounts whose next reminder is due now."""
    queued: int = 0
    held_same_day: int = 0
    """Due, but their contact already had a reminder today (from this or another account)."""
    held_closed: int = 0
    """Due, but today is not a business day in the account's region."""
    held_over_cap: int = 0
    """Due, but over ``escalations.max_reminders_per_pass``: queued by the next passes."""
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "waiting": self.waiting,
            "due": self.due,
            "queued": self.queued,
            "held_same_day": self.held_same_day,
            "held_closed": self.held_closed,
            "held_over_cap": self.held_over_cap,
            "failed": list(self.failed),
        }


# --------------------------------------------------------------------------- the rules (pure)


def steps_due(quiet_seconds: Any, day_seconds: Any, cadence: Sequence[int]) -> np.ndarray:
    """How many of the cadence's reminders ``quiet_seconds`` of working time without progress have reached.

    ``day_seconds`` is the working day of the account's region (one business day).
    """
    days = np.asarray(quiet_seconds, dtype=np.float64) / np.asarray(day_seconds, dtype=np.float64)
    reached = np.searchsorted(np.asarray(cadence, dtype=np.float64), np.nan_to_num(days, nan=-1.0), side="right")
    return np.asarray(reached, dtype=np.int64)


def measure(frame: pd.DataFrame, recent: pd.DataFrame, config: OnboardingConfig, now: datetime) -> pd.DataFrame:
    """Add, per region on its calendar, what the rules need to ``frame`` (from :func:`load_waiting`).

    ``recent`` has the last reminder to each contact (``contact``, ``last_reminded_at``).  Columns
    added: ``quiet_seconds`` (working time since ``quiet_since``), ``day_seconds``, ``business_day``
    (today is one in the region) and ``reminded_today`` (the contact had a reminder on today's date).
    """
    frame = frame.reset_index(drop=True).merge(recent, how="left", on="contact")
    frame["quiet_seconds"] = np.nan
    frame["day_seconds"] = np.nan
    frame["business_day"] = False
    frame["reminded_today"] = False
    now_ts = pd.Timestamp(now).tz_convert("UTC")
    for index, part, _, wt in by_region(frame, config.settings.regions):
        nows = pd.DatetimeIndex([now_ts] * len(part))
        today = wt.local_dates(nows)
        last = part["last_reminded_at"]
        frame.loc[index, "quiet_seconds"] = wt.elapsed(part["quiet_since"], nows)
        frame.loc[index, "day_seconds"] = float(wt.day_seconds)
        frame.loc[index, "business_day"] = np.is_busday(today, busdaycal=wt.calendar.busdaycal)
        frame.loc[index, "reminded_today"] = last.notna().to_numpy() & (wt.local_dates(last.fillna(now_ts)) == today)
    frame["business_day"] = frame["business_day"].astype(bool)
    frame["reminded_today"] = frame["reminded_today"].astype(bool)
    return frame


def select(frame: pd.DataFrame, config: OnboardingConfig) -> tuple[pd.DataFrame, ReminderSummary]:
    """The reminders to queue now from a frame :func:`measure` filled in (one per contact, longest wait first).

    Each row chosen carries ``step``: the reminder's number in its tier's cadence.
    """
    step = np.zeros(len(frame), dtype=np.int64)
    for tier in config.tiers.values():
        in_tier = (frame["tier"] == tier.key).to_numpy()
        if tier.reminders is None or not in_tier.any():
            continue
        part = frame.loc[in_tier]
        step[in_tier] = steps_due(part["quiet_seconds"], part["day_seconds"], tier.reminders.after_business_days)
    frame = frame.assign(step=step)
    due = frame["step"] > frame["reminded"]
    open_today = due & frame["business_day"]
    free = open_today & ~frame["reminded_today"]
    # One per contact: the account that has waited longest goes first, the others on a later day.
    one_each = frame[free].sort_values(["quiet_since", "id"]).drop_duplicates("contact")
    chosen = one_each.head(config.settings.escalations.max_reminders_per_pass)
    summary = ReminderSummary(
        waiting=len(frame),
        due=int(due.sum()),
        held_closed=int((due & ~frame["business_day"]).sum()),
        held_same_day=int(open_today.sum()) - len(one_each),
        held_over_cap=len(one_each) - len(chosen),
    )
    return chosen, summary


# --------------------------------------------------------------------------- the store

_WAITING_SQL = f"""
SELECT o.id, o.onboarding_key, o.tier, o.region, o.stage_owner_email,
       lower(o.primary_contact_email) AS contact,
       -- Microseconds since the epoch: exact, so the stretch compares equal pass after pass.
       (extract(epoch FROM greatest(p.paused_at, p.heard_at)) * 1000000)::bigint AS quiet_since_us,
       coalesce(r.reminded, 0) AS reminded
FROM {SCHEMA}.onboardings o
{customer_pause_join(only_while_collecting=True)}
LEFT JOIN LATERAL (
    SELECT max(r.reminder) AS reminded FROM {SCHEMA}.customer_reminders r
    WHERE r.onboarding_id = o.id AND r.quiet_since = greatest(p.paused_at, p.heard_at)
) r ON true
WHERE o.status = '{AccountStatus.OPEN}' AND o.stage = %(stage)s AND o.tier = ANY(%(tiers)s)
  AND p.paused_at IS NOT NULL AND p.resumed_at IS NULL
"""

_RECENT_SQL = f"""
SELECT lower(to_email) AS contact, max(queued_at) AS last_reminded_at
FROM {SCHEMA}.outbox
WHERE kind = 'reminder' AND queued_at > %(since)s AND queued_at <= %(now)s
GROUP BY 1
"""


def load_waiting(store: Store, config: OnboardingConfig) -> pd.DataFrame:
    """Every account the customer owes critical inputs on, in a tier with a cadence, in one query.

    ``quiet_since``: the checklist request or the customer's last submission, whichever is later;
    ``reminded``: the last reminder number queued for that stretch (0 if none).
    """
    tiers = sorted(t.key for t in config.tiers.values() if t.reminders is not None)
    frame = store.frame(_WAITING_SQL, {"stage": Stage.COLLECT_INPUTS.value, "tiers": tiers})
    frame["quiet_since"] = pd.to_datetime(frame["quiet_since_us"].astype("int64"), unit="us", utc=True)
    frame["reminded"] = frame["reminded"].astype("int64")
    return cast(pd.DataFrame, frame.drop(columns=["quiet_since_us"]))


def load_recent(store: Store, now: datetime) -> pd.DataFrame:
    """The last reminder to each contact queued in the two days before ``now`` (whoever queued it)."""
    frame = store.frame(_RECENT_SQL, {"since": now - timedelta(days=2), "now": now})
    frame = cast(pd.DataFrame, frame.reindex(columns=["contact", "last_reminded_at"]))
    frame["last_reminded_at"] = pd.to_datetime(frame["last_reminded_at"], utc=True)
    return frame


def _recorder(row: Any, now: datetime, cadence_length: int) -> mail.OnQueued:
    """What records one reminder beside its mail, in the mail's transaction."""
    since: datetime = row.quiet_since.to_pydatetime()
    stretch = since.astimezone(timezone.utc).isoformat()

    def record(cur: psycopg.Cursor[dict[str, Any]], outbox_id: int, open_items: list[str]) -> None:
        cur.execute(
            f"""INSERT INTO {SCHEMA}.customer_reminders
                    (onboarding_id, quiet_since, reminder, contact_email, open_items, outbox_id, queued_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (onboarding_id, quiet_since, reminder) DO NOTHING""",
            (int(row.id), since, int(row.step), row.contact, open_items, outbox_id, now),
        )
        details = {
            "reminder": int(row.step), "of": cadence_length, "open_items": open_items, "quiet_since": stretch,
            "business_days_without_progress": round(float(row.quiet_seconds) / float(row.day_seconds), 2),
            "to": row.contact, "outbox_id": outbox_id,
        }  # fmt: skip
        Store.record_events(
            cur,
            [
                Event(
                    subject=row.onboarding_key,
                    onboarding_id=int(row.id),
                    event_type=EVENT,
                    actor=ACTOR,
                    occurred_at=now,
                    stage=Stage.COLLECT_INPUTS.value,
                    stage_owner=row.stage_owner_email,
                    details=details,
                    dedupe_key=f"{EVENT}:{row.onboarding_key}:{stretch}:{int(row.step)}",
                )
            ],
        )

    return record


def _queue(store: Store, config: OnboardingConfig, secret: bytes, row: Any, now: datetime) -> bool:
    """Queue one chosen reminder; False when there was nothing to send (queued before, or nothing open)."""
    cadence = config.tiers[row.tier].reminders
    length = len(cadence.after_business_days) if cadence else 0
    outbox_id = mail.queue_reminder(
        store, config, row.onboarding_key, now, reminder=int(row.step), secret=secret,
        since=row.quiet_since.to_pydatetime(), on_queued=_recorder(row, now, length),
    )  # fmt: skip
    return outbox_id is not None


def find(store: Store, config: OnboardingConfig, now: datetime) -> tuple[pd.DataFrame, ReminderSummary]:
    """The reminders due now (one row each, with ``step``), and what the pass saw."""
    waiting = load_waiting(store, config)
    if waiting.empty:
        return waiting.assign(step=pd.Series(dtype="int64")), ReminderSummary()
    return select(measure(waiting, load_recent(store, now), config, now), config)


def run(store: Store, config: OnboardingConfig, now: datetime, *, secret: bytes | None = None) -> ReminderSummary:
    """Queue every reminder due now.  Safe to run again, at the same instant too.

    The portal's signing key (for the links) is read only when a reminder is due; without one,
    :class:`include.portal.links.PortalNotConfigured` says how to set it.  One account that fails
    does not hold up the others: the pass queues the rest, then raises naming each failure.
    """
    chosen, summary = find(store, config, now)
    if chosen.empty:
        log.info("customer reminders at %s: %s", now.isoformat(), summary.as_dict())
        return summary
    if secret is None:
        from include.portal.links import load_secret

        secret = load_secret(config.settings.portal)
    for row in chosen.itertuples(index=False):
        try:
            summary.queued += _queue(store, config, secret, row, now)
        except Exception as exc:  # one account's problem (removed, unreadable) must not stop the others
            summary.failed.append(f"{row.onboarding_key}: reminder {row.step}: {type(exc).__name__}: {exc}")
            log.exception("customer reminders: %s: reminder %s could not be queued", row.onboarding_key, row.step)
    log.info("customer reminders at %s: %s", now.isoformat(), summary.as_dict())
    if summary.failed:
        raise RuntimeError(
            f"{len(summary.failed)} customer reminder(s) could not be queued (the other {summary.queued} were): "
            + "; ".join(summary.failed[:10])
        )
    return summary
