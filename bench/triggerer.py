"""What one triggerer holds: waiting checklist sensors (``ChecklistItemTrigger``) at 1,000 and 10,000.

Every open account waits on its customer with one deferred sensor per checklist item
(seven for most tiers), so 200 open accounts already exceed Airflow's default
``[triggerer] capacity`` of 1,000.  For each size, ``BENCH_TRIGGER_ACCOUNTS`` scaled
(default 143 and 1,429 accounts of 7 items: 1,001 and 10,003 triggers), in a fresh
interpreter:

* the triggers' ``run()`` coroutines are started in one asyncio loop, as the
  triggerer's runner does (one loop, one ``LISTEN`` connection and one look-up
  connection per loop);
* ``startup``: until every trigger has looked once and is waiting;
* ``steady``: ``BENCH_TRIGGER_WINDOW`` seconds (20) of waiting at production's poll
  (``[runs] poke_seconds`` = 300 s) right after the start, when no trigger is due
  to look: the process's CPU for holding them;
* ``look``: a poll round for 2,000 of them at once (each trigger's ``look()``,
  what ``run()`` does at each poll: one statement): CPU per look in the process
  and in PostgreSQL's backends;
* ``at_production_poll``: steady state, every trigger looking once per 300 s:
  queries per second (triggers / 300), and CPU (holding + looks per second x CPU
  per look), in the process and in PostgreSQL;
* ``wake``: a portal-style commit (the item verified, ``NOTIFY onboarding_input``)
  for 20 accounts, one after another: how long until that account's triggers fire.

The floor is the same loop holding as many bare ``asyncio.sleep`` waits: what the
event loop costs for so many coroutines before any trigger does anything.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.common import fresh_database, measure_child, scratch_server, write_results

ITEMS = 7
PRODUCTION_POLL_SECONDS = 300.0  # RunSettings.poke_seconds' default: the slow safety-net poll in production

_CHILD = """
import asyncio, json, os, time
import psutil, psycopg
from bench.common import peak_rss_mib
from include.onboarding.triggers import ChecklistItemTrigger

url, accounts, items, poll, window = {url!r}, {accounts!r}, {items!r}, {poll!r}, {window!r}
me = psutil.Process()

def database_cpu(conn):
    pids = [r[0] for r in conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total, len(pids)

def commits(conn):
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]

def cpu():
    t = me.cpu_times()
    return t.user + t.system

async def main():
    admin = psycopg.connect(url, autocommit=True)
    keys = [(r[0], r[1]) for r in admin.execute(
        "SELECT o.onboarding_key, c.item_key FROM onboarding.checklist_items c"
        " JOIN onboarding.onboardings o ON o.id = c.onboarding_id ORDER BY o.id, c.item_key")]
    if {floor!r}:
        started, cpu0 = time.perf_counter(), cpu()
        sleepers = [asyncio.ensure_future(asyncio.sleep(poll)) for _ in keys]
        await asyncio.sleep(0)
        startup = time.perf_counter() - started
        cpu1, t1 = cpu(), time.perf_counter()
        await asyncio.sleep(window)
        busy = (cpu() - cpu1) / (time.perf_counter() - t1)
        for s in sleepers:
            s.cancel()
        print(json.dumps({{"triggers": len(keys), "startup_seconds": round(startup, 3),
                           "cpu_percent": round(100 * busy, 2), "peak_rss_mib": peak_rss_mib()}}))
        return
    fired = {{}}
    triggers = []
    looks = [0, 0]  # statements sent; triggers that have looked at least once
    class Counted(ChecklistItemTrigger):
        # The real trigger, counting its looks (each one statement to PostgreSQL).
        first = True
        async def look(self):
            try:
                return await super().look()
            finally:
                looks[0] += 1
                if self.first:
                    self.first = False
                    looks[1] += 1
    async def drive(trigger):
        async for event in trigger.run():
            fired[(trigger.onboarding_key, trigger.item_key)] = time.perf_counter()
            return
    rss0, cpu0, c0, started = me.memory_info().rss, cpu(), commits(admin), time.perf_counter()
    triggers.extend(Counted(onboarding_key=a, item_key=k, poll_seconds=poll) for a, k in keys)
    tasks = [asyncio.ensure_future(drive(t)) for t in triggers]
    # Started: every trigger has made its first look and waits.
    while looks[1] < len(keys) and time.perf_counter() - started < 300:
        await asyncio.sleep(0.05)
    startup = time.perf_counter() - started
    startup_cpu = cpu() - cpu0
    await asyncio.sleep(1)
    db0, backends = database_cpu(admin)
    cpu1, c1, l1, t1 = cpu(), commits(admin), looks[0], time.perf_counter()
    await asyncio.sleep(window)
    elapsed = time.perf_counter() - t1
    steady = {{"seconds": round(elapsed, 1), "cpu_percent": round(100 * (cpu() - cpu1) / elapsed, 2),
              "queries_per_second": round((looks[0] - l1) / elapsed, 2),
              "database_commits_per_second": round((commits(admin) - c1) / elapsed, 2),
              "database_cpu_percent": round(100 * (database_cpu(admin)[0] - db0) / elapsed, 2),
              "database_backends": backends}}
    # A poll round: what every trigger does at each poll (its look), for a sample of them at once.
    sample = triggers[:2000]
    db0 = database_cpu(admin)[0]
    cpu2, t2 = cpu(), time.perf_counter()
    await asyncio.gather(*(t.look() for t in sample))
    round_seconds = time.perf_counter() - t2
    look = {{"sample": len(sample), "cpu_ms": round(1000 * (cpu() - cpu2) / len(sample), 3),
             "database_cpu_ms": round(1000 * (database_cpu(admin)[0] - db0) / len(sample), 3),
             "wall_ms": round(1000 * round_seconds / len(sample), 3)}}
    # Wake: the portal's commit for one item of an account; how long until that trigger fires.
    latencies = []
    for a in range(1, min(accounts, 20) + 1):
        key = f"bench-{{a}}"
        item = next(k for o, k in keys if o == key)
        sent = time.perf_counter()
        with admin.transaction():
            admin.execute(
                "UPDATE onboarding.checklist_items c SET status = 'verified' FROM onboarding.onboardings o"
                " WHERE o.id = c.onboarding_id AND o.onboarding_key = %s AND c.item_key = %s", (key, item))
            admin.execute("SELECT pg_notify('onboarding_input', %s)", (f"{{key}}\\t{{item}}",))
        while (key, item) not in fired and time.perf_counter() - sent < 30:
            await asyncio.sleep(0.001)
        latencies.append((fired.get((key, item), float("inf")) - sent) * 1000)
    latencies.sort()
    waiting = sum(1 for t in tasks if not t.done())
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({{
        "triggers": len(keys), "accounts": accounts, "still_waiting_after_wakes": waiting,
        "startup": {{"seconds": round(startup, 2), "cpu_seconds": round(startup_cpu, 2)}},
        "steady": steady,
        "look": look,
        "wake_ms": {{"p50": round(latencies[len(latencies) // 2], 1), "max": round(latencies[-1], 1),
                     "count": len(latencies)}},
        "rss_mib_for_triggers": round((me.memory_info().rss - rss0) / 2**20, 1),
        "peak_rss_mib": peak_rss_mib(),
    }}))

asyncio.run(main())
"""


def seed(url: str, accounts: int) -> None:
    """``accounts`` open onboardings collecting inputs, each with ``ITEMS`` items none of which is in yet."""
    from include.onboarding.store import connect_dsn

    with connect_dsn(url) as conn:
        conn.execute(
            """INSERT INTO onboarding.onboardings (id, onboarding_key, crm_source, crm_deal_id, order_number,
                   account_name, tier, region, primary_contact_email, owner_email, stage, stage_owner_email,
                   stage_entered_at, signed_at, activation_target, target_source, crm_modified_at,
                   order_fingerprint, order_payload, created_at, updated_at, run_id)
               SELECT i, 'bench-' || i, 'hubspot', (10000000 + i)::text, 'SO-T-' || i, 'Account ' || i,
                   'enterprise', 'NA', 'contact' || i || '@example.com', 'owner@example.com', 'collect_inputs',
                   'owner@example.com', now(), now(), current_date + 20, 'tier_default', now(), 'f', '{}',
                   now(), now(), 'onboarding__bench-' || i
               FROM generate_series(1, %s) AS i""",
            (accounts,),
        )
        conn.execute(
            """INSERT INTO onboarding.checklist_items (onboarding_id, item_key, label, item_type, critical, status,
                   requested_at, updated_at)
               SELECT o.id, 'item_' || n, 'Item ' || n, 'text', n <= 5, 'missing', now(), now()
               FROM onboarding.onboardings o, generate_series(1, %s) AS n""",
            (ITEMS,),
        )
        conn.execute("SELECT setval('onboarding.onboardings_id_seq', %s)", (accounts,))
        conn.execute("ANALYZE")
        conn.commit()


def _measure(url: str, accounts: int, poll: float, window: float, tmp: Path, floor: bool = False) -> dict[str, Any]:
    from localstack.stack import postgres_connection_json

    env = {
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_ONBOARDING_DB": postgres_connection_json(url),
    }
    code = _CHILD.format(url=url, accounts=accounts, items=ITEMS, poll=poll, window=window, floor=floor)
    return measure_child(code, env)


def run() -> dict[str, Any]:
    poll = PRODUCTION_POLL_SECONDS
    window = float(os.environ.get("BENCH_TRIGGER_WINDOW", "20"))
    sizes = [int(n) for n in os.environ.get("BENCH_TRIGGER_ACCOUNTS", "143,1429").split(",")]
    out: dict[str, Any] = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "items_per_account": ITEMS,
        "poll_seconds": poll,
        "production_poll_seconds": PRODUCTION_POLL_SECONDS,
        "window_seconds": window,
        "sizes": {},
    }
    with scratch_server() as server, tempfile.TemporaryDirectory(prefix="bench-triggerer-") as tmp:
        for accounts in sizes:
            url = fresh_database(server, f"bench_triggerer_{accounts}")
            seed(url, accounts)
            result = _measure(url, accounts, poll, window, Path(tmp))
            result["floor"] = _measure(url, accounts, poll, min(window, 5), Path(tmp), floor=True)
            steady, floor = result["steady"], result["floor"]
            result["ratio_cpu_to_floor"] = round(steady["cpu_percent"] / max(floor["cpu_percent"], 0.01), 1)
            # Steady state: every trigger looks once per poll; between looks the loop only holds them.
            n, look = result["triggers"], result["look"]
            rate = n / poll
            result["at_production_poll"] = {
                "queries_per_second": round(rate, 2),
                "cpu_percent": round(steady["cpu_percent"] + 100 * rate * look["cpu_ms"] / 1000, 2),
                "database_cpu_percent": round(100 * rate * look["database_cpu_ms"] / 1000, 2),
            }
            out["sizes"][str(result["triggers"])] = result
    write_results("triggerer", out)
    return out
