"""Reporting over a large store: ~1,000,000 audit events for 50,000 onboardings.

Seeds onboardings (70% live), their stage history, checklists, escalations and
audit events, then measures in a fresh interpreter:

* the whole report (load with SQL aggregation pushed down, every metric in
  pandas, write every ``reporting`` table): wall time and peak memory;
* the floor: one plain SQL aggregation of the same median time to live, in
  PostgreSQL.

Reported side by side, with the ratio.
"""

from __future__ import annotations

import io
import json
import os
import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from bench.common import fresh_database, measure_child, scratch_server, write_results

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
STAGES = ["intake", "collect_inputs", "approvals", "setup", "provisioning", "customer_communication", "handoff"]
NULL = "\\N"  # COPY's empty value
EVENT_TYPES = ["input.verified", "input.rejected", "checklist.requested", "setup.step_completed", "stage.entered"]

_CHILD = """
import json, time
from datetime import date, datetime
from bench.common import peak_rss_mib
from include.onboarding import reporting
from include.onboarding.config import load_config
from include.onboarding.store import Store, connect_dsn
store = Store(connect_dsn({url!r}))
if {floor!r}:
    started = time.perf_counter()
    median = store.scalar(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM live_at - signed_at) / 86400)"
        " FROM onboarding.onboardings WHERE status = 'live'")
    seconds = time.perf_counter() - started
    print(json.dumps({{"seconds": round(seconds, 3), "median_days_to_live": float(median),
                       "peak_rss_mib": peak_rss_mib()}}))
else:
    config = load_config()
    started = time.perf_counter()
    written = reporting.build(store, config, date(2026, 11, 24), datetime.fromisoformat({now!r}))
    seconds = time.perf_counter() - started
    overall = store.scalar(
        "SELECT median FROM reporting.time_to_value_summary WHERE dimension = 'all' AND measure = 'live'"
        " AND unit = 'calendar_days'")
    print(json.dumps({{"seconds": round(seconds, 3), "rows": written, "median_days_to_live": overall,
                       "peak_rss_mib": peak_rss_mib()}}))
"""


def seed(url: str, n: int, events_per_onboarding: int, seed_value: int = 11) -> dict[str, Any]:
    from include.onboarding.config import load_config
    from include.onboarding.store import connect_dsn

    config = load_config()
    settings = config.settings
    rng = random.Random(seed_value)
    tiers = [("smb", 0.6), ("enterprise", 0.25), ("partner", 0.15)]
    ob, hist, items, esc, ev = (io.StringIO() for _ in range(5))
    started = time.perf_counter()
    event_id = 0
    for i in range(1, n + 1):
        tier = config.tiers[rng.choices([t for t, _ in tiers], weights=[w for _, w in tiers])[0]]
        region = rng.choice(tier.regions)
        owner = settings.holder(tier.onboarding_owner_role, region) or settings.ops_lead
        signed = NOW - timedelta(days=rng.uniform(1, 180))
        live = rng.random() < 0.7
        reached = len(STAGES) if live else rng.randrange(1, len(STAGES) + 1)
        durations = [timedelta(days=rng.expovariate(1 / 2.0)) for _ in STAGES[:reached]]
        if live and signed + sum(durations, timedelta()) > NOW:
            live, durations = False, durations[:-1] or durations  # still in its last stage today
            reached = len(durations)
        t = signed
        for s, dur in zip(STAGES[:reached], durations, strict=True):
            exit_ = t + dur if (live or s != STAGES[reached - 1]) else None
            hist.write(f"{i}\t{s}\t{owner}\t{s}_owner\t{t.isoformat()}\t{exit_.isoformat() if exit_ else NULL}\n")
            t = exit_ or t
        live_at = t if live else None
        stage = "live" if live else STAGES[reached - 1]
        target = (signed + timedelta(days=tier.activation_target_business_days * 1.4)).date()
        ob.write(
            "\t".join(
                [
                    str(i),
                    f"bench-{i}",
                    "hubspot",
                    str(20_000_000 + i),
                    f"Account {i}",
                    tier.key,
                    region,
                    tier.segments[0],
                    f"c{i}@example.com",
                    owner,
                    stage,
                    owner,
                    t.isoformat(),
                    "live" if live else "open",
                    signed.isoformat(),
                    target.isoformat(),
                    "tier_default",
                    signed.isoformat(),
                    "f",
                    "{}",
                    signed.isoformat(),
                    t.isoformat(),
                    live_at.isoformat() if live_at else NULL,
                ]  # fmt: skip
            )
            + "\n"
        )
        for item in tier.checklist[:5]:
            status = "verified" if live or rng.random() < 0.5 else rng.choice(["missing", "rejected"])
            items.write(f"{i}\t{item.key}\t{item.label}\t{item.type.value}\t{'t' if item.critical else 'f'}\t"
                        f"{status}\t{signed.isoformat()}\t"
                        f"{(signed + timedelta(days=1)).isoformat() if status == 'verified' else NULL}\t"
                        f"{signed.isoformat()}\n")  # fmt: skip
        if rng.random() < 0.3:
            breach = signed + timedelta(days=rng.uniform(1, 10))
            raised = breach + timedelta(minutes=rng.uniform(0, 15))
            resolved = (raised + timedelta(hours=rng.uniform(1, 72))).isoformat() if live else NULL
            esc.write(f"{i}\tbench-{i}\tsetup\tsla_breach\t1\t{owner}\tbreached\t{breach.isoformat()}\t"
                      f"{raised.isoformat()}\t{resolved}\tsla_breach:bench-{i}\n")  # fmt: skip
        for k in range(events_per_onboarding):
            event_id += 1
            kind = "setup.completed" if (k == 0 and live) else EVENT_TYPES[k % len(EVENT_TYPES)]
            actor = "priya.shah@example.com" if k % 9 == 4 else "system:bench"
            when = signed + timedelta(hours=k * 3)
            ev.write(f"{when.isoformat()}\t{i}\tbench-{i}\t{kind}\t{actor}\t{{}}\n")
    with connect_dsn(url) as conn, conn.cursor() as cur:
        for table, columns, data in (
            ("onboardings", "id, onboarding_key, crm_source, crm_deal_id, account_name, tier, region, segment, "
             "primary_contact_email, owner_email, stage, stage_owner_email, stage_entered_at, status, signed_at, "
             "activation_target, target_source, crm_modified_at, order_fingerprint, order_payload, created_at, "
             "updated_at, live_at", ob),
            ("stage_history", "onboarding_id, stage, owner_email, owner_role, entered_at, exited_at", hist),
            ("checklist_items", "onboarding_id, item_key, label, item_type, critical, status, requested_at, "
             "verified_at, updated_at", items),
            ("escalations", "onboarding_id, subject, stage, kind, level, notify_email, reason, breach_at, raised_at, "
             "resolved_at, dedupe_key", esc),
            ("events", "occurred_at, onboarding_id, subject, event_type, actor, details", ev),
        ):  # fmt: skip
            with cur.copy(f"COPY onboarding.{table} ({columns}) FROM STDIN") as copy:
                copy.write(data.getvalue())
        cur.execute("SELECT setval('onboarding.onboardings_id_seq', %s)", (n,))
        cur.execute("ANALYZE")
    return {"onboardings": n, "events": event_id, "seed_seconds": round(time.perf_counter() - started, 1)}


def run() -> dict[str, Any]:
    n = int(os.environ.get("BENCH_ONBOARDINGS", "50000"))
    per = int(os.environ.get("BENCH_EVENTS_PER_ONBOARDING", "20"))
    with scratch_server() as server:
        url = fresh_database(server, "bench_reporting")
        seeded = seed(url, n, per)
        floor = measure_child(_CHILD.format(url=url, now=NOW.isoformat(), floor=True))
        report = measure_child(_CHILD.format(url=url, now=NOW.isoformat(), floor=False))
        rerun = measure_child(_CHILD.format(url=url, now=NOW.isoformat(), floor=False))
    result = {
        "seeded": seeded,
        "report": report,
        "rerun_same_date": rerun,
        "floor_sql_median": floor,
        "ratio_to_floor": round(report["seconds"] / max(floor["seconds"], 1e-6), 1),
        "medians_agree": abs(float(report["median_days_to_live"]) - floor["median_days_to_live"]) < 1e-6,
        "target": "under 60 s and 2 GiB over 1,000,000 events",
    }
    write_results("reporting", result)
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
