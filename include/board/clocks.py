"""The board's SLA clocks: when each open account's current stage needs attention, as instants.

The escalation pass measures every open account's stage clock against *now*
every fifteen minutes; a page view cannot afford that over fifty thousand
accounts.  But what the clock says turns on instants that do not move while
nothing happens to the account:

* ``sla_due_at``: when the stage's SLA runs out, in the business time of the
  account's region, the customer's turn taken out where the tier pauses the
  clock for it; empty while the clock is stopped on the customer with SLA
  still to run;
* ``clock_started_at`` and ``clock_offset_seconds``: the clock runs from that
  instant (the stage's start, or the customer's answer; empty while stopped)
  on top of that much business time already run, so the time in the stage at
  any moment is one subtraction of business time;
* ``risk_from``: from when on the rest of the path (what is left of this
  stage's SLA plus the later stages' SLAs) no longer fits before the close of
  business on the activation target day;
* ``attention_at``: the earlier of the two, the board's urgency order.  An
  account whose stage nobody plans (no SLA, no owner) needs attention from
  the moment it entered the stage.

At any *now* an account is past its SLA when ``now >= sla_due_at`` and at risk
when ``now >= risk_from``: the escalation pass's "elapsed >= SLA" and
"needed > left" (except that an account whose last stage is past its SLA and
whose target day is over counts as at risk: it is late), as comparisons.  The
instants live in ``onboarding.board_accounts``, one row per open account with
what the board filters by; database triggers count every write that could
change a row, and :func:`refresh` re-measures just the accounts counted since
(every account once after the configuration changed).  :func:`instants` is
pure and vectorised per region, like the pass.
"""

from __future__ import annotations

import logging
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, cast

import numpy as np
import pandas as pd

from include.onboarding.calendar import as_utc, by_region, region_working_time, utc_ns
from include.onboarding.config import OnboardingConfig
from include.onboarding.constants import StepStatus
from include.onboarding.escalations.sla import load_open, stage_plans, target_end
from include.onboarding.store import SCHEMA, Scratch, Store, fingerprint

log = logging.getLogger(__name__)

COLUMNS = ("sla_due_at", "clock_started_at", "clock_offset_seconds", "risk_from", "attention_at")
_LOCK = 727_009  # pg_advisory_lock key: one refresh at a time per store
_BATCH = 20_000
_ROUNDS = 4
_MEASURED = Scratch(
    "board_measured_clocks",
    (
        ("onboarding_id", "bigint"), ("changes", "bigint"), ("sla_due_epoch", "double precision"),
        ("started_epoch", "double precision"), ("clock_offset_seconds", "double precision"),
        ("risk_epoch", "double precision"), ("attention_epoch", "double precision"),
    ),
)  # fmt: skip
"""The instants travel as epoch seconds (microsecond precision): converting 150,000 of them to Python
datetimes one by one would cost more than everything else a first refresh does."""


def basis(config: OnboardingConfig) -> str:
    """A fingerprint of everything a clock is computed from besides the account: SLAs, regions, calendars."""
    plans = {"|".join(key): [p.sla_seconds, p.pauses, p.later_seconds] for key, p in stage_plans(config).items()}
    regions = {key: region.model_dump() for key, region in config.settings.regions.items()}
    try:
        calendars = version("holidays")
    except PackageNotFoundError:
        calendars = "unknown"
    return fingerprint({"plans": plans, "regions": regions, "holidays": calendars})


def instants(frame: pd.DataFrame, config: OnboardingConfig) -> pd.DataFrame:
    """``id`` and the :data:`COLUMNS` instants of each account of ``frame`` (as :func:`load_open` reads them)."""
    plans = pd.DataFrame(
        [
            {"tier": t, "region": r, "stage": st, "planned": True, "sla_seconds": p.sla_seconds,
             "later_seconds": p.later_seconds, "pauses": p.pauses}
            for (t, r, st), p in stage_plans(config).items()
        ],
        columns=["tier", "region", "stage", "planned", "sla_seconds", "later_seconds", "pauses"],
    )  # fmt: skip
    data = frame.reset_index(drop=True).merge(plans, how="left", on=["tier", "region", "stage"])
    data["planned"] = data["planned"].eq(True)
    data["pauses"] = data["pauses"].eq(True)
    entered = pd.to_datetime(data["stage_entered_at"], utc=True)
    out = pd.DataFrame({"id": data["id"].astype("int64")})
    out["sla_due_at"] = pd.Series(pd.NaT, index=data.index, dtype="datetime64[ns, UTC]")
    out["clock_started_at"] = pd.Series(pd.NaT, index=data.index, dtype="datetime64[ns, UTC]")
    out["clock_offset_seconds"] = np.nan
    out["risk_from"] = pd.Series(pd.NaT, index=data.index, dtype="datetime64[ns, UTC]")
    out["attention_at"] = entered.astype("datetime64[ns, UTC]")  # unplanned: from the moment it entered
    planned = data[data["planned"]]
    for index, part, _, wt in by_region(planned, config.settings.regions):
        measured = _region_instants(part, wt)
        for column in COLUMNS:
            out.loc[index, column] = measured[column].to_numpy()
    return cast(pd.DataFrame, out)


def _region_instants(part: pd.DataFrame, wt: Any) -> pd.DataFrame:
    """:func:`instants` for the planned accounts of one region (``wt`` its working time).

    The clock runs from ``clock_started_at`` (the stage's start, or the customer's answer) on top of
    ``clock_offset_seconds`` already run (before the customer's turn); it is stopped (no start) while
    the customer has the checklist, where the tier pauses it.
    """
    sla = part["sla_seconds"].to_numpy(dtype=float)
    entered = utc_ns(part["stage_entered_at"])
    paused = utc_ns(part["paused_at"])
    resumed = utc_ns(part["resumed_at"])
    pausing = part["pauses"].to_numpy(dtype=bool) & ~np.isnat(paused)
    pause_from = np.where(pausing, np.maximum(np.where(pausing, paused, entered), entered), entered)
    before = np.where(pausing, wt.elapsed(as_utc(entered), as_utc(pause_from)), 0.0)  # run before the customer's turn
    stopped = pausing & np.isnat(resumed)
    started = np.where(pausing, np.maximum(np.where(np.isnat(resumed), pause_from, resumed), pause_from), entered)
    # When the SLA ran out: before the customer's turn, or that much business time after the clock restarted.
    due = np.where(
        pausing & (before >= sla),
        utc_ns(wt.add(as_utc(entered), sla)),
        utc_ns(wt.add(as_utc(started), np.maximum(sla - before, 0.0))),
    )
    left = sla - before
    due = np.where(stopped & (left > 0), np.datetime64("NaT"), due)  # stopped in time: not due while stopped
    end = target_end(wt, part["activation_target"])
    later = part["later_seconds"].to_numpy(dtype=float)
    latest_end = utc_ns(wt.back(end, later))  # the last moment this stage may end and still make the target
    risk_running = np.where(due > latest_end, entered, latest_end)  # the stage ends at its SLA, or now if past it
    risk_stopped = utc_ns(wt.back(end, np.maximum(left, 0.0) + later))
    risk = np.where(stopped & (left > 0), risk_stopped, risk_running)
    attention = np.where(np.isnat(due), risk, np.minimum(due, risk))
    started = np.where(stopped, np.datetime64("NaT"), started)
    columns = {"sla_due_at": as_utc(due), "clock_started_at": as_utc(started), "clock_offset_seconds": before,
               "risk_from": as_utc(risk), "attention_at": as_utc(attention)}  # fmt: skip
    return cast(pd.DataFrame, pd.DataFrame(columns, index=part.index))


def figures(rows: list[dict[str, Any]], config: OnboardingConfig, now: datetime) -> dict[int, dict[str, Any]]:
    """What a page shows of each account's clock at ``now``, from its stored instants, by id.

    ``rows`` carry ``id``, ``tier``, ``region``, ``stage``, ``activation_target``,
    ``clock_started_at`` and ``clock_offset_seconds``.  The figures are the escalation
    pass's: ``elapsed_seconds`` in the stage (the customer's turn taken out),
    ``sla_seconds``, ``sla_percent``, ``sla_text``, ``day_seconds``,
    ``business_days_to_target``, and ``stopped`` while the customer has the
    checklist; a page's worth costs a few array operations instead of a
    measure of each account's history.
    """
    plans = stage_plans(config)
    out: dict[int, dict[str, Any]] = {}
    by_region: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        plan = plans.get((row["tier"], row["region"], row["stage"]))
        region = config.settings.regions.get(row["region"])
        if plan is None or region is None:
            out[int(row["id"])] = {"planned": False}
            continue
        by_region.setdefault(row["region"], []).append(row | {"plan": plan})
    for key, part in by_region.items():
        out.update(_region_figures(part, region_working_time(config.settings.regions[key]), now))
    return out


def _region_figures(rows: list[dict[str, Any]], wt: Any, now: datetime) -> dict[int, dict[str, Any]]:
    sla = np.array([r["plan"].sla_seconds for r in rows], dtype=float)
    started = pd.to_datetime([r["clock_started_at"] for r in rows], utc=True)
    offset = np.array([r["clock_offset_seconds"] or 0.0 for r in rows], dtype=float)
    nows = pd.DatetimeIndex([pd.Timestamp(now).tz_convert("UTC")] * len(rows))
    running = np.asarray(started.notna(), dtype=bool)
    elapsed = offset + np.where(running, wt.elapsed(started.where(running, nows), nows), 0.0)
    today = wt.local_dates(nows)
    targets = np.array([r["activation_target"] for r in rows], dtype="datetime64[D]")
    days = np.where(
        targets >= today,
        wt.business_days_until(today, targets + np.timedelta64(1, "D")),
        -wt.business_days_until(targets + np.timedelta64(1, "D"), today + 1),
    )
    return {
        int(r["id"]): {
            "planned": True, "elapsed_seconds": float(elapsed[i]), "sla_seconds": float(sla[i]),
            "sla_percent": float(elapsed[i] / sla[i] * 100.0) if sla[i] else 0.0, "sla_text": r["plan"].sla_text,
            "day_seconds": float(wt.day_seconds), "business_days_to_target": int(days[i]),
            "stopped": not bool(running[i]),
        }
        for i, r in enumerate(rows)
    }  # fmt: skip


# --------------------------------------------------------------------------- keeping them current


def refresh(store: Store, config: OnboardingConfig, now: datetime) -> int:
    """Re-measure every board row a write has touched since it was last measured; return how many.

    A row copies the account's tier, stage, owners and whether it is blocked,
    and holds its clock's instants; rows of accounts no longer open are
    removed.  One refresh at a time (an advisory lock): a second page view
    waits for the first and then finds nothing to do.  A row whose account
    changes again while it is being measured stays counted and is measured
    next time.
    """
    with store.conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK,))
    try:
        _check_basis(store, config, now)
        done = 0
        for _ in range(_ROUNDS):
            written = _refresh_batch(store, config, now)
            if written == 0:
                break
            done += written
        return done
    finally:
        with store.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))


_bases: dict[int, tuple[OnboardingConfig, str]] = {}


def _basis_of(config: OnboardingConfig) -> str:
    """:func:`basis`, computed once per configuration object (configurations are immutable)."""
    known = _bases.get(id(config))
    if known is None or known[0] is not config:
        known = (config, basis(config))
        _bases.clear()  # one configuration is in use at a time
        _bases[id(config)] = known
    return known[1]


def _check_basis(store: Store, config: OnboardingConfig, now: datetime) -> None:
    """When the rows were computed from another configuration, count a change on every one."""
    current = _basis_of(config)
    if store.scalar(f"SELECT fingerprint FROM {SCHEMA}.board_basis") == current:
        return
    with store.transaction() as cur:
        cur.execute(f"UPDATE {SCHEMA}.board_accounts SET changes = changes + 1")
        cur.execute(
            f"""INSERT INTO {SCHEMA}.board_basis (only_row, fingerprint, changed_at) VALUES (true, %s, %s)
                ON CONFLICT (only_row) DO UPDATE SET fingerprint = excluded.fingerprint,
                                                      changed_at = excluded.changed_at""",
            (current, now),
        )
    log.info("board clocks: the configuration changed; every clock is measured again")


def _refresh_batch(store: Store, config: OnboardingConfig, now: datetime) -> int:
    stale = store.query(
        f"""SELECT b.onboarding_id, b.changes, o.status FROM {SCHEMA}.board_accounts b
            JOIN {SCHEMA}.onboardings o ON o.id = b.onboarding_id
            WHERE b.changes <> b.measured ORDER BY b.onboarding_id LIMIT %s""",
        (_BATCH,),
    )
    if not stale:
        return 0
    closed = [r["onboarding_id"] for r in stale if r["status"] != "open"]
    changes = {r["onboarding_id"]: r["changes"] for r in stale if r["status"] == "open"}
    rows: list[tuple[Any, ...]] = []
    if changes:
        frame = load_open(store, ids=sorted(changes))
        measured = instants(frame, config) if len(frame) else pd.DataFrame(columns=["id", *COLUMNS])
        columns = [_epochs(measured[c]) if c != "clock_offset_seconds" else _numbers(measured[c]) for c in COLUMNS]
        ids = measured["id"].astype("int64").tolist()
        rows = [(n, oid, changes[oid], *values) for n, (oid, *values) in enumerate(zip(ids, *columns, strict=True))]
    with store.transaction() as cur:
        written = 0
        if rows:
            _MEASURED.load(cur, rows)
            cur.execute(
                f"""UPDATE {SCHEMA}.board_accounts b
                    SET measured = s.changes, tier = o.tier, stage = o.stage, stage_owner_email = o.stage_owner_email,
                        owner_email = o.owner_email, blocked = o.blocked_reason IS NOT NULL OR EXISTS (
                            SELECT 1 FROM {SCHEMA}.setup_steps f
                            WHERE f.onboarding_id = o.id AND f.status = '{StepStatus.FAILED}'),
                        sla_due_at = to_timestamp(s.sla_due_epoch), clock_started_at = to_timestamp(s.started_epoch),
                        clock_offset_seconds = s.clock_offset_seconds, risk_from = to_timestamp(s.risk_epoch),
                        attention_at = to_timestamp(s.attention_epoch),
                        measured_at = %(now)s
                    FROM pg_temp.{_MEASURED.name} s JOIN {SCHEMA}.onboardings o ON o.id = s.onboarding_id
                    WHERE b.onboarding_id = s.onboarding_id AND b.changes = s.changes
                      AND b.onboarding_id IN (
                          SELECT onboarding_id FROM {SCHEMA}.board_accounts WHERE onboarding_id = ANY(%(ids)s)
                          ORDER BY onboarding_id FOR UPDATE SKIP LOCKED)""",
                {"now": now, "ids": [r[1] for r in rows]},
            )
            written += cur.rowcount
        if closed:  # live or cancelled: off the board
            cur.execute(
                f"""DELETE FROM {SCHEMA}.board_accounts WHERE onboarding_id IN (
                        SELECT onboarding_id FROM {SCHEMA}.board_accounts WHERE onboarding_id = ANY(%s)
                        ORDER BY onboarding_id FOR UPDATE SKIP LOCKED)""",
                (closed,),
            )
            written += cur.rowcount
    return written


def _epochs(instants: pd.Series) -> list[float | None]:
    """UTC instants as epoch seconds to the microsecond; None for none."""
    micros = pd.to_datetime(instants, utc=True).dt.floor("us").astype("int64") // 1000
    return [None if missing else value / 1e6 for value, missing in zip(micros.tolist(), instants.isna(), strict=True)]


def _numbers(values: pd.Series) -> list[float | None]:
    return [None if v != v else float(v) for v in values.astype("float64").tolist()]  # NaN is not itself
