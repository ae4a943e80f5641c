"""The demo's second half: every new onboarding from its checklist to live (or stuck).

Each account's run of ``onboarding_<tier>`` is executed by ``airflow dags test``
(a few at a time).  The simulated customers behave as real ones do: most
answer promptly, some slowly, some wrongly first, some only partly, some not
at all.  An ops person (a thread here) approves whatever waits on approval, as
the role holder.  Sensors look every second and give up on a silent customer
after ``ONBOARDING_INPUT_TIMEOUT_SECONDS`` (20 s in the demo), so the stalled
accounts show up as blocked with the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

from include.localstack import stack

# Deterministic spread of customer behaviours over the accounts, in pickup order.
BEHAVIOURS = ["prompt", "prompt", "invalid_then_correct", "prompt", "slow", "prompt", "silent", "prompt",
              "partial", "invalid_then_correct"]  # fmt: skip


def _approver(onboarding_url: str, stop: threading.Event) -> None:
    from include.onboarding import approvals
    from include.onboarding.clock import SystemClock
    from include.onboarding.config import load_config
    from include.onboarding.store import Store, connect_dsn

    config = load_config()
    with connect_dsn(onboarding_url) as conn:
        store = Store(conn)
        while not stop.is_set():
            for row in approvals.pending(store):
                holder = config.settings.holder(row["approver_role"], row["region"])
                if holder:
                    approvals.decide(
                        store, config, row["onboarding_key"], row["approval_key"], True, holder,
                        SystemClock().now(), "approved in the demo",
                    )  # fmt: skip
            stop.wait(1.0)


def run(env: dict[str, str], onboarding_url: str, sandbox_port: int, parallel: int) -> None:
    from include.onboarding.store import Store, connect_dsn

    with connect_dsn(onboarding_url) as conn:
        accounts = Store(conn).query(
            """SELECT onboarding_key, tier FROM onboarding.onboardings
               WHERE status = 'open' ORDER BY created_at, onboarding_key"""
        )
    if not accounts:
        print("==> No open onboardings to run.")
        return
    for i, account in enumerate(accounts):
        stack.sandbox_call(
            sandbox_port,
            "POST",
            "/_sandbox/forms/behaviour",
            {"external_ref": account["onboarding_key"], "behaviour": BEHAVIOURS[i % len(BEHAVIOURS)]},
        )
    stack.sandbox_call(sandbox_port, "POST", "/_sandbox/provisioning/settings", {"provision_seconds": 2})
    run_env = {
        **env,
        "ONBOARDING_POKE_SECONDS": "1",
        "ONBOARDING_INPUT_TIMEOUT_SECONDS": "20",
        "ONBOARDING_RETRY_DELAY_SECONDS": "2",
        # `airflow dags test` of Airflow 3.3.2 cannot finish a run with deadline alerts (no scheduler here).
        "ONBOARDING_DEADLINE_ALERTS": "off",
    }
    stop = threading.Event()
    approver = threading.Thread(target=_approver, args=(onboarding_url, stop), daemon=True)
    approver.start()
    base = datetime.now(timezone.utc).replace(microsecond=0)
    print(f"==> Running {len(accounts)} onboardings through their tier DAGs ({parallel} at a time)", flush=True)
    started = time.monotonic()
    logs = stack.local_dir() / "runs"
    logs.mkdir(parents=True, exist_ok=True)

    def one(i: int, account: dict[str, Any]) -> tuple[str, int, float]:
        t0 = time.monotonic()
        when = (base + timedelta(minutes=i)).isoformat()
        with open(logs / f"{account['onboarding_key']}.log", "wb") as out:
            code = subprocess.run(
                [sys.executable, "-m", "airflow", "dags", "test", f"onboarding_{account['tier']}", when,
                 "--conf", json.dumps({"onboarding_key": account["onboarding_key"]})],
                env=run_env, cwd=stack.ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            ).returncode  # fmt: skip
        return account["onboarding_key"], code, time.monotonic() - t0

    try:
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            results = list(pool.map(lambda pair: one(*pair), enumerate(accounts)))
    finally:
        stop.set()
        approver.join(timeout=5)
    elapsed = time.monotonic() - started
    _report(onboarding_url, sandbox_port, results, elapsed)
    _escalations(env, onboarding_url, sandbox_port, base)
    _reporting(env, onboarding_url, base)


def _reporting(env: dict[str, str], onboarding_url: str, base: datetime) -> None:
    """Run the reporting DAG for today and print the tables leadership reads first."""
    from tabulate import tabulate

    from include.onboarding import reporting
    from include.onboarding.store import Store, connect_dsn

    out = stack.local_dir() / "reports"
    when = base + timedelta(hours=3)
    print(f"\n==> Reporting: airflow dags test onboarding_reporting {when.isoformat()}", flush=True)
    with open(stack.local_dir() / "runs" / "reporting.log", "wb") as log:
        subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "test", "onboarding_reporting", when.isoformat()],
            env={**env, "ONBOARDING_REPORTS_DIR": str(out)}, cwd=stack.ROOT, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    with connect_dsn(onboarding_url) as conn:
        store = Store(conn)
        day = when.date()
        summary = reporting.read(store, "time_to_value_summary", day)
        bottlenecks = reporting.read(store, "stage_bottlenecks", day)
        sla = reporting.read(store, "sla_attainment", day)
        blocked = reporting.read(store, "blocked_accounts", day)
    if summary.empty:
        print("No report was written; see", stack.local_dir() / "runs" / "reporting.log")
        return
    tiers = summary[(summary["dimension"].isin(["all", "tier"])) & (summary["unit"] == "business_days")]
    print("\nTime to value (business days; first value = setup complete):")
    print(tabulate(tiers[["value", "measure", "accounts", "median", "p75", "p90"]].values.tolist(),
                   headers=["tier", "measure", "accounts", "median", "p75", "p90"], floatfmt=".1f"))  # fmt: skip
    overall = bottlenecks[bottlenecks["tier"] == "all"].sort_values("rank")
    print("\nBottlenecks (business days in stage, all tiers):")
    print(tabulate(overall[["rank", "stage", "times_longest", "median_business_days", "p90_business_days",
                            "accounts_in_stage_now"]].values.tolist(),
                   headers=["rank", "stage", "longest for", "median", "p90", "there now"], floatfmt=".2f"))  # fmt: skip
    all_weeks = sla[(sla["tier"] == "all") & (sla["week"] == reporting.ALL_WEEKS)]
    print("\nSLA attainment (all tiers):")
    print(tabulate(all_weeks[["stage", "completed", "met", "attainment_pct"]].values.tolist(),
                   headers=["stage", "ended", "within SLA", "%"], floatfmt=".0f"))  # fmt: skip
    print(f"\nBlocked or escalated accounts: {len(blocked)}")
    print(f"Summary and charts: {out / day.isoformat() / 'summary.html'}")


def _escalations(env: dict[str, str], onboarding_url: str, sandbox_port: int, base: datetime) -> None:
    """Run the escalation pass now, and as it would run a week later if nothing moved; show what it sent."""
    from tabulate import tabulate

    from include.onboarding.store import Store, connect_dsn

    for label, clock, when in (
        ("now", None, base + timedelta(hours=2)),
        *(
            (f"{days} days later, if nothing moves (ONBOARDING_CLOCK fixed {days} days ahead)", at, at)
            for days, at in ((7, base + timedelta(days=7)), (21, base + timedelta(days=21)))
        ),
    ):
        print(f"\n==> Escalation pass {label}: airflow dags test onboarding_escalations", flush=True)
        pass_env = {**env, **({"ONBOARDING_CLOCK": f"fixed:{clock.isoformat()}"} if clock else {})}
        with open(stack.local_dir() / "runs" / f"escalations-{when:%Y%m%dT%H%M}.log", "wb") as out:
            subprocess.run(
                [sys.executable, "-m", "airflow", "dags", "test", "onboarding_escalations", when.isoformat()],
                env=pass_env, cwd=stack.ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
    with connect_dsn(onboarding_url) as conn:
        rows = Store(conn).query(
            """SELECT subject, kind, level, stage, notify_email, delivery_status, reason, resolved_at
               FROM onboarding.escalations ORDER BY raised_at, subject, kind, level"""
        )
    print()
    print(
        tabulate(
            [
                (
                    r["subject"],
                    r["kind"],
                    r["level"],
                    r["stage"] or "",
                    r["notify_email"],
                    r["delivery_status"],
                    "resolved" if r["resolved_at"] else "open",
                    r["reason"][:78],
                )
                for r in rows
            ],  # fmt: skip
            headers=["account / order", "kind", "lvl", "stage", "to", "slack", "state", "why"],
        )
    )
    messages: Any = stack.sandbox_call(sandbox_port, "GET", "/_sandbox/slack/messages")
    by_hook: dict[str, int] = {}
    for m in messages:
        by_hook[m["webhook"].rsplit("/", 1)[-1]] = by_hook.get(m["webhook"].rsplit("/", 1)[-1], 0) + 1
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    print(f"\nEscalations: {len(rows)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}); "
          f"undelivered: {sum(1 for r in rows if r['delivery_status'] != 'delivered')}")  # fmt: skip
    print(f"Slack messages posted: {len(messages)} ({', '.join(f'{k} {n}' for k, n in sorted(by_hook.items()))})")
    sample = next((m for m in messages if "SLA breach" in m["text"]), messages[-1] if messages else None)
    if sample:
        print(f"For example, on {sample['webhook'].rsplit('/', 1)[-1]}: {sample['text'][:300]}")


def _report(onboarding_url: str, sandbox_port: int, results: list[tuple[str, int, float]], elapsed: float) -> None:
    from tabulate import tabulate

    from include.onboarding.store import Store, connect_dsn

    with connect_dsn(onboarding_url) as conn:
        store = Store(conn)
        rows = store.query(
            """SELECT o.onboarding_key, o.tier, o.status, o.stage, o.stage_owner_email, o.blocked_reason,
                      o.post_owner_email,
                      (SELECT count(*) FROM onboarding.checklist_items c
                        WHERE c.onboarding_id = o.id AND c.status = 'verified') AS verified,
                      (SELECT count(*) FROM onboarding.checklist_items c WHERE c.onboarding_id = o.id) AS items
               FROM onboarding.onboardings o ORDER BY o.status, o.onboarding_key"""
        )
        live_keys = {r["onboarding_key"] for r in rows if r["status"] == "live"}
    ledger: Any = stack.sandbox_call(sandbox_port, "GET", "/_sandbox/ledger")
    print()
    print(
        tabulate(
            [
                (
                    r["onboarding_key"],
                    r["tier"],
                    r["status"],
                    r["stage"],
                    r["post_owner_email"] if r["status"] == "live" else r["stage_owner_email"],
                    f"{r['verified']}/{r['items']}",
                    (r["blocked_reason"] or "")[:70],
                )
                for r in rows
            ],  # fmt: skip
            headers=["onboarding", "tier", "status", "stage", "owner now", "inputs", "waiting on"],
        )
    )
    live = len(live_keys)
    waiting = sum(1 for r in rows if r["status"] == "open")
    print(f"\nLive: {live}   still waiting (named owner, reason above): {waiting}")
    per_run = sorted(d for _, _, d in results)
    print(f"Tier runs: {len(results)} in {elapsed:.0f}s; one run took {per_run[len(per_run) // 2]:.1f}s (median)")

    def per_account(items: list[dict[str, Any]], field: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in items:
            key = str(item.get(field) or "")
            counts[key] = counts.get(key, 0) + 1
        return counts

    customers = per_account(ledger["billing"]["customers"], "onboarding_key")
    tenants = per_account(ledger["provisioning"]["tenants"], "external_id")
    users = per_account(ledger["provisioning"]["users"], "externalId")
    tickets = per_account(
        [{"k": lbl} for i in ledger["ticketing"]["issues"] for lbl in i["labels"] if lbl.startswith("onb-")], "k"
    )
    duplicates = [k for k in live_keys if customers.get(k, 0) != 1 or tenants.get(k, 0) != 1]
    duplicates += [k for k, n in {**users, **tickets}.items() if n != 1]
    print(
        f"Sandbox ledger: {sum(customers.values())} billing customers, {sum(tenants.values())} tenants, "
        f"{sum(users.values())} SCIM users, {sum(tickets.values())} Jira issues; "
        + ("exactly one of each per live account." if not duplicates else f"DUPLICATES: {duplicates}")
    )
