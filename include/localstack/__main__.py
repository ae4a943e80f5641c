"""``python -m include.localstack demo|stop``: the local stack from the command line.

``demo`` starts PostgreSQL (embedded unless one is configured), applies the
migrations, starts the sandbox (CRM seeded with signed orders, some malformed
as real CRM data is; the customer portal, Jira, Stripe, provisioning, Slack),
runs the ``onboarding_intake`` DAG through Airflow twice (the second pickup
shows that re-reading creates nothing new), then one run of the tier DAG per
new onboarding (``airflow dags test``), with simulated customers who answer
promptly, slowly, wrongly first, partly or not at all, and an ops person who
approves what waits on approval.  It prints what happened and stops what it
started.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from typing import Any

from include.localstack import stack


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)


def _airflow(env: dict[str, str], *args: str, quiet: bool = True) -> None:
    log = stack.local_dir() / "airflow-cli.log"
    with open(log, "ab") as out:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=env,
            cwd=stack.ROOT,
            stdout=out if quiet else None,
            stderr=subprocess.STDOUT if quiet else None,
            start_new_session=True,
        )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:] if quiet else ""
        raise SystemExit(f"airflow {' '.join(args)} failed (exit {result.returncode}); log: {log}\n{tail}")


def _report(onboarding_url: str, sandbox_port: int) -> None:
    from tabulate import tabulate

    from include.onboarding.store import Store, connect_dsn

    with connect_dsn(onboarding_url) as conn:
        store = Store(conn)
        rows = store.query(
            """SELECT onboarding_key, account_name, tier, region, owner_email, activation_target, target_source
               FROM onboarding.onboardings ORDER BY created_at, onboarding_key"""
        )
        quarantined = store.query(
            """SELECT crm_deal_id, order_number, reasons, seen_in_batches
               FROM onboarding.quarantined_orders WHERE status = 'open' ORDER BY crm_deal_id"""
        )
        batches = store.query(
            "SELECT batch_id, fetched, counts FROM onboarding.intake_batches ORDER BY started_at DESC LIMIT 2"
        )
        events = store.scalar("SELECT count(*) FROM onboarding.events")
        watermark = store.scalar("SELECT high_water FROM onboarding.intake_watermarks")
    print()
    print(f"Onboardings in the store: {len(rows)}")
    print(
        tabulate(
            [
                (
                    r["onboarding_key"],
                    r["account_name"][:32],
                    r["tier"],
                    r["region"],
                    r["owner_email"],
                    r["activation_target"],
                    r["target_source"],
                )
                for r in rows
            ],  # fmt: skip
            headers=["onboarding", "account", "tier", "region", "named owner", "target", "target from"],
        )
    )
    print()
    print(f"Quarantined orders waiting on a fix in the CRM: {len(quarantined)}")
    print(
        tabulate(
            [
                (q["crm_deal_id"], q["order_number"], "; ".join(f"{x['field']}: {x['problem']}" for x in q["reasons"]))
                for q in quarantined
            ],
            headers=["deal", "order", "why"],
            maxcolwidths=[None, None, 90],
        )
    )
    print()
    for batch in reversed(batches):
        counts = batch["counts"]
        print(
            f"Pickup {batch['batch_id']}: fetched {batch['fetched']}, created {counts.get('created', 0)}, "
            f"unchanged {counts.get('unchanged', 0)}, newly quarantined {counts.get('newly_quarantined', 0)} "
            f"(in quarantine {counts.get('quarantined', 0)}), "
            f"duplicates ignored {counts.get('duplicates', 0)}"
        )
    print(f"Audit events recorded: {events}; watermark now {watermark}")
    requests: Any = stack.sandbox_call(sandbox_port, "GET", "/_sandbox/requests?system=crm")
    statuses = [r["status"] for r in requests]
    print(f"CRM calls: {len(statuses)} ({statuses.count(429)} rate-limited and retried after Retry-After)")


def demo(args: argparse.Namespace) -> None:
    started = time.monotonic()
    sandbox_port: int | None = None
    dbs = None
    try:
        _say("Starting PostgreSQL")
        dbs = stack.ensure_databases(fresh=True)
        _say(f"  {'embedded, from the pip wheel' if dbs.embedded else 'external'}: {dbs.onboarding_url}")
        from include.onboarding.store import connect_dsn, migrate

        with connect_dsn(dbs.onboarding_url) as conn:
            applied = migrate(conn)
        _say(f"Onboarding store migrated ({'applied ' + str(applied) if applied else 'already up to date'})")
        _say(f"Starting the sandbox CRM with {args.orders} signed orders (about {args.bad_ratio:.0%} malformed)")
        sandbox_port, _ = stack.start_sandbox(args.orders, args.seed, args.bad_ratio)
        env = stack.airflow_env(dbs, sandbox_port)
        _say("Preparing Airflow's metadata database (airflow db migrate)")
        _airflow(env, "db", "migrate")
        # Register every DAG (the tier DAGs the intake triggers included) in Airflow's database.
        _airflow(env, "dags", "reserialize")
        # The CRM is busy: the first search is rate limited, and the pickup waits as told.
        stack.sandbox_call(
            sandbox_port, "POST", "/_sandbox/faults", {"system": "crm", "rate_limit": 1, "retry_after": 1}
        )
        for attempt in (1, 2):
            when = datetime.now(timezone.utc).replace(microsecond=0)
            _say(f"Pickup {attempt}: airflow dags test onboarding_intake {when.isoformat()}")
            _airflow(env, "dags", "test", "onboarding_intake", when.isoformat(), quiet=not args.verbose)
        _report(dbs.onboarding_url, sandbox_port)
        if args.lifecycle:
            from include.localstack import lifecycle_demo

            lifecycle_demo.run(env, dbs.onboarding_url, sandbox_port, args.parallel)
        print()
        _say(f"Done in {time.monotonic() - started:.0f}s. Airflow logs: {stack.local_dir() / 'airflow'}")
    finally:
        stopped = stack.stop(keep_database=args.keep or (dbs is not None and not dbs.embedded))
        if stopped:
            _say(f"Stopped: {', '.join(stopped)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m include.localstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("demo", help="run the intake end to end on the local stack")
    run.add_argument("--orders", type=int, default=int(os.environ.get("DEMO_ORDERS", "40")))
    run.add_argument("--seed", type=int, default=int(os.environ.get("DEMO_SEED", "7")))
    run.add_argument("--bad-ratio", type=float, default=0.15)
    run.add_argument("--keep", action="store_true", help="leave PostgreSQL running afterwards")
    run.add_argument("--verbose", action="store_true", help="show Airflow's task logs")
    run.add_argument("--intake-only", dest="lifecycle", action="store_false", help="stop after the intake")
    run.add_argument("--parallel", type=int, default=3, help="tier runs at a time")
    sub.add_parser("stop", help="stop everything the local stack started")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args)
    else:
        stopped = stack.stop()
        print(f"Stopped: {', '.join(stopped) or 'nothing was running'}")


if __name__ == "__main__":
    main()
