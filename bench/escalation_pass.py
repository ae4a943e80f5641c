"""The escalation pass over many open onboardings, with a realistic stage spread.

Seeds ``BENCH_ONBOARDINGS`` (default 50,000) open onboardings across the three
tiers and regions, spread over the stages as a busy month leaves them (many
waiting on the customer, a few stalled for weeks), with their checklists; then
runs the pass twice in a fresh interpreter each:

* the first pass finds every breach, forecast and unowned account at once
  (thousands of escalations raised);
* the second is the steady state every 15 minutes (nothing new to raise).

Reported: wall time of the pass itself, peak resident memory of the process,
and the same process doing only its imports (the floor the pass adds to).
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

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
STAGES = [
    ("intake", 0.03),
    ("collect_inputs", 0.40),
    ("approvals", 0.15),
    ("setup", 0.15),
    ("provisioning", 0.10),
    ("customer_communication", 0.05),
    ("handoff", 0.12),
]
TIERS = [("smb", 0.6), ("enterprise", 0.25), ("partner", 0.15)]

_CHILD = """
import json, time
from datetime import datetime
from bench.common import peak_rss_mib
from include.onboarding import escalations
from include.onboarding.config import load_config
from include.onboarding.store import Store, connect_dsn
config = load_config()
store = Store(connect_dsn({url!r}))
now = datetime.fromisoformat({now!r})
rss_before = peak_rss_mib()
started = time.perf_counter()
summary = escalations.run_pass(store, config, now) if {run!r} else None
seconds = time.perf_counter() - started
print(json.dumps({{"pass_seconds": round(seconds, 3), "peak_rss_mib": peak_rss_mib(),
                   "rss_after_imports_mib": rss_before, "summary": summary.as_dict() if summary else None}}))
"""


def _choice(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def seed(url: str, n: int, seed_value: int = 7) -> dict[str, Any]:
    """Insert ``n`` open onboardings with checklists (COPY) and return what was seeded."""
    from include.onboarding.calendar import region_calendar
    from include.onboarding.config import Stage, load_config
    from include.onboarding.owners import Assignment, stage_owner
    from include.onboarding.store import connect_dsn

    config = load_config()
    settings = config.settings
    rng = random.Random(seed_value)
    onboardings = io.StringIO()
    rows = []
    started = time.perf_counter()
    for i in range(n):
        tier = config.tiers[_choice(rng, TIERS)]
        region = rng.choice(tier.regions)
        stage = _choice(rng, STAGES)
        owner = settings.holder(tier.onboarding_owner_role, region) or settings.ops_lead
        # Signed within the tier's usual span: an SMB account from weeks ago is live by now.
        signed = NOW - timedelta(days=rng.uniform(0.5, tier.activation_target_business_days * 7 / 5 * 1.1))
        # Most accounts entered their stage in the last few days; a tail has been stuck for weeks.
        entered = max(signed, NOW - timedelta(days=rng.expovariate(1 / 3)))
        stage_owner_email = stage_owner(
            settings, tier, Stage(stage), region, Assignment(owner, tier.onboarding_owner_role)
        ).email
        if rng.random() < 0.005:
            stage_owner_email = "former.employee@example.com"  # left the company: unowned
        target = region_calendar(settings.regions[region]).add_business_days(
            signed.date(), tier.activation_target_business_days
        )
        rows.append((i + 1, tier, stage))
        fields = [
            str(i + 1), f"bench-{i + 1}", "hubspot", str(10_000_000 + i), f"SO-B-{i + 1}", f"Account {i + 1}",
            tier.key, region, f"contact{i}@example.com", owner, stage, stage_owner_email, entered.isoformat(),
            signed.isoformat(), target.isoformat(), "tier_default", signed.isoformat(), "f", "{}",
            signed.isoformat(), entered.isoformat(), f"onboarding__bench-{i + 1}",
        ]  # fmt: skip
        onboardings.write("\t".join(fields) + "\n")
    items = io.StringIO()
    for ob_id, tier, stage in rows:
        if stage != "collect_inputs":
            continue
        requested = NOW - timedelta(days=rng.uniform(0.5, 15))
        for item in tier.checklist:
            status = rng.choices(["missing", "verified", "rejected"], weights=[0.5, 0.45, 0.05])[0]
            verified = (requested + timedelta(hours=rng.uniform(1, 48))).isoformat() if status == "verified" else r"\N"
            items.write(
                "\t".join(
                    [
                        str(ob_id),
                        item.key,
                        item.label,
                        item.type.value,
                        "t" if item.critical else "f",
                        status,
                        requested.isoformat(),
                        verified,
                        NOW.isoformat(),
                    ]
                )  # fmt: skip
                + "\n"
            )
    with connect_dsn(url) as conn, conn.cursor() as cur:
        with cur.copy(
            """COPY onboarding.onboardings (id, onboarding_key, crm_source, crm_deal_id, order_number, account_name,
                   tier, region, primary_contact_email, owner_email, stage, stage_owner_email, stage_entered_at,
                   signed_at, activation_target, target_source, crm_modified_at, order_fingerprint, order_payload,
                   created_at, updated_at, run_id) FROM STDIN"""
        ) as copy:
            copy.write(onboardings.getvalue())
        with cur.copy(
            """COPY onboarding.checklist_items (onboarding_id, item_key, label, item_type, critical, status,
                   requested_at, verified_at, updated_at) FROM STDIN"""
        ) as copy:
            copy.write(items.getvalue())
        cur.execute("SELECT setval('onboarding.onboardings_id_seq', %s)", (n,))
        cur.execute("ANALYZE")
        checklist_rows = cur.execute("SELECT count(*) FROM onboarding.checklist_items").fetchone()
    return {"onboardings": n, "checklist_items": checklist_rows[0] if checklist_rows else 0,
            "seed_seconds": round(time.perf_counter() - started, 2)}  # fmt: skip


def run() -> dict[str, Any]:
    n = int(os.environ.get("BENCH_ONBOARDINGS", "50000"))
    with scratch_server() as server:
        url = fresh_database(server, "bench_escalations")
        seeded = seed(url, n)
        floor = measure_child(_CHILD.format(url=url, now=NOW.isoformat(), run=False))
        first = measure_child(_CHILD.format(url=url, now=NOW.isoformat(), run=True))
        later = (NOW + timedelta(minutes=15)).isoformat()
        steady = measure_child(_CHILD.format(url=url, now=later, run=True))
    result = {
        "seeded": seeded,
        "first_pass": first,
        "steady_pass": steady,
        "imports_only_peak_rss_mib": floor["peak_rss_mib"],
        "target": "under 5 s and 1 GiB for 50,000 open onboardings",
    }
    write_results("escalation_pass", result)
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
