"""The whole job on the CeleryExecutor, and a worker lost while it runs tasks.

The stack of ``test_scheduler`` (Airflow's own api-server, scheduler, dag-processor and
triggerer, the portal, the sandbox), but the scheduler sends every task and every
Deadline Alert callback through a real broker (Valkey, the Redis protocol) to two
Celery workers with hostnames of their own, as on two machines.  A dozen signed
orders go through the three tiers; two were promised a go-live date on the day they
were signed, so their "activation target approaching" deadline is missed at once and
its callback runs on a worker.  While tasks run on the first worker, it is killed
with SIGKILL, every process of it at once, as a machine that loses power.

Its tasks stop heartbeating; the scheduler fails them after
``[scheduler] task_instance_heartbeat_timeout`` (set low here) and retries them on the
worker that is left.  Every account still ends live or escalated to its owner, and
the sandbox's ledger holds exactly one Jira ticket, Stripe customer, tenant and SCIM
user per live account: a task retried after its worker died repeats no side effect.

Marked ``distributed``: ``make test`` leaves it out (it takes minutes); ``make
test-distributed`` runs it, and so does CI after the suite.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from localstack import processes, stack
from localstack.broker import EmbeddedBroker
from localstack.month_demo import ledger_problems
from tests.real_stack import TIERS, Stack, real_stack, sign

pytestmark = pytest.mark.distributed

TIER_DAGS = {f"onboarding_{tier}" for tier in TIERS}
HEARTBEAT_TIMEOUT = 20  # seconds without a heartbeat before the scheduler fails a task (default 300)
CELERY = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    # A message the lost worker had taken but not started leaves its task queued: sent again sooner.
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "15",
    # The accounts' own work gets the six task slots: the orders are all signed at the start, and no
    # account here waits on a silent customer.
    "ONBOARDING_INTAKE_SCHEDULE": "every 30s",
    "ONBOARDING_ESCALATION_SCHEDULE": "every 60s",
}


@pytest.fixture
def celery_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    # Not under pytest's basetemp: another pytest run on the machine prunes old basetemps, and this
    # test's PostgreSQL would lose its data directory mid-run.
    home = Path(tempfile.mkdtemp(prefix="onboarding-distributed-"))
    try:
        with real_stack(home, monkeypatch, CELERY, celery_workers=2, worker_concurrency=3) as s:
            yield s
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _task_processes(worker: psutil.Process) -> dict[int, psutil.Process]:
    """The task processes a worker runs: below its pool processes (each runs a task's supervisor)."""
    found: dict[int, psutil.Process] = {}
    try:
        for pool_process in worker.children():
            found.update((p.pid, p) for p in pool_process.children(recursive=True))
    except psutil.Error:
        pass
    return found


def _running_tis(s: Stack) -> list[dict[str, Any]]:
    answer = s.api.call("GET", "/dags/~/dagRuns/~/taskInstances?state=running&limit=100")
    return list(answer["task_instances"])


def _lose_worker_while_it_runs(s: Stack, hostname: str, at_least: int = 2, within: float = 300) -> list[dict[str, Any]]:
    """SIGKILL every process of the worker while it runs an account's tasks; return the task instances it ran.

    Waits until it runs a task of a tier's run (an account's own work, not the intake's or the escalation
    pass's) and, for up to ``within`` seconds, until it runs ``at_least`` tasks at once.
    """
    worker = psutil.Process(stack.worker_pid(hostname))
    deadline = time.monotonic() + within
    while True:
        tasks = _task_processes(worker)
        if len(tasks) >= at_least or (tasks and time.monotonic() > deadline):
            lost = [ti for ti in _running_tis(s) if ti.get("pid") in tasks]
            if any(ti["dag_id"] in TIER_DAGS for ti in lost):
                break
        assert time.monotonic() < deadline + 300, f"{hostname} ran no account's task"
        time.sleep(0.5)
    everything = [worker, *worker.children(recursive=True)]
    processes.send(everything, signal.SIGKILL)  # all at once: nothing of it gets to say goodbye
    assert processes.wait_gone(everything, 10) == []
    return lost


def test_a_worker_lost_mid_run_loses_no_account_and_repeats_no_side_effect(celery_stack: Stack) -> None:
    s = celery_stack
    started = time.monotonic()
    s.sandbox("POST", "/_sandbox/provisioning/settings", {"provision_seconds": 3600})
    today = s.clock.now().date().isoformat()
    # Two accounts promised to go live the day they were signed: their target is near from the start.
    promised = {("smb", 1), ("enterprise", 2)}
    keys = {
        tier: [sign(s, tier, n, committed_go_live_date=today if (tier, n) in promised else None) for n in range(4)]
        for tier in TIERS
    }
    everyone = [k for ks in keys.values() for k in ks]
    due_now = {keys[tier][n] for tier, n in promised}
    for dag_id in ("onboarding_intake", "onboarding_escalations", *sorted(TIER_DAGS)):
        s.api.set_paused(dag_id, False)

    lost_host, kept_host = stack.worker_hostname(1), stack.worker_hostname(2)
    lost = _lose_worker_while_it_runs(s, lost_host)
    killed_at = time.monotonic()
    assert lost, "the worker was killed while it ran no task"

    deadline = time.monotonic() + 2400  # a shared 2-core machine under load
    while time.monotonic() < deadline:
        rows = s.store.query(
            """SELECT o.onboarding_key, o.status,
                      EXISTS (SELECT 1 FROM onboarding.escalations e WHERE e.onboarding_id = o.id
                              AND e.kind = 'failure' AND e.delivery_status = 'delivered') AS escalated
               FROM onboarding.onboardings o"""
        )
        state = {r["onboarding_key"]: r for r in rows}
        settled = {k for k, r in state.items() if r["status"] == "live" or r["escalated"]}
        if settled >= set(everyone):
            break
        time.sleep(3)
    assert settled >= set(everyone), f"neither live nor escalated: {sorted(set(everyone) - settled)}"
    live = {k for k in everyone if state[k]["status"] == "live"}
    assert live, "no account went live"
    finished = time.monotonic()

    # The tasks lost with the worker failed on the missed heartbeats and ran again, on the other worker.
    for ti in lost:
        path = f"/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}"
        now = s.api.call("GET", path + (f"/{ti['map_index']}" if ti["map_index"] >= 0 else ""))
        assert now["try_number"] > ti["try_number"], (ti, now)
        if now["dag_id"] != "onboarding_intake":
            assert now["state"] in ("success", "skipped", "failed", "upstream_failed"), now
    assert psutil.pid_exists(stack.worker_pid(kept_host))

    # Exactly once: one ticket, Stripe customer, tenant and SCIM user per live account, none twice for anyone.
    ledger = s.sandbox("GET", "/_sandbox/ledger")
    found, problems = ledger_problems(s.store, ledger)
    assert problems == []
    assert found["Stripe customers"] == found["tenants"] == len(live)
    assert found["SCIM users"] >= len(live) and found["Jira issues"] >= len(live)
    for what, counted in (
        ("Stripe customers", Counter(str(c.get("onboarding_key")) for c in ledger["billing"]["customers"])),
        ("tenants", Counter(str(t.get("external_id")) for t in ledger["provisioning"]["tenants"])),
        ("SCIM users", Counter(str(u.get("externalId")) for u in ledger["provisioning"]["users"])),
    ):
        assert [k for k, n in counted.items() if n > 1] == [], f"{what} made twice"

    # The Deadline Alert callbacks ran on the Celery workers (the scheduler runs no callback itself here)
    # and escalated the two promised accounts to their named owners.
    deadline_escalations = s.store.query(
        """SELECT o.onboarding_key, e.delivery_status, e.notify_email, o.stage_owner_email
           FROM onboarding.escalations e JOIN onboarding.onboardings o ON o.id = e.onboarding_id
           WHERE e.kind = 'deadline'"""
    )
    assert {e["onboarding_key"] for e in deadline_escalations} >= due_now
    assert all(e["delivery_status"] == "delivered" for e in deadline_escalations)
    logs = {host: _worker_log(host) for host in (lost_host, kept_host)}
    callbacks_run = sum(
        line.count("on_deadline_missed")
        for text in logs.values()
        for line in text.splitlines()
        if "Executing workload in Celery" in line
    )
    assert callbacks_run >= len(due_now), "no deadline callback went through Celery"
    # Both workers took tasks from the broker.
    assert all("Executing workload in Celery" in text for text in logs.values())
    print(
        f"\n{len(everyone)} accounts ({len(live)} live) on CeleryExecutor with 2 workers: {len(lost)} tasks lost"
        f" with {lost_host} after {killed_at - started:.0f}s; all settled {finished - killed_at:.0f}s later"
        f" ({finished - started:.0f}s in all)"
    )


def _worker_log(hostname: str) -> str:
    name = hostname.split("@")[0]
    return (stack.local_dir() / "airflow" / "services" / f"{name}.log").read_text(errors="replace")


def test_stop_ends_the_celery_workers_and_the_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``make stop`` and an interrupted ``make demo CELERY=1`` run: nothing of the workers or broker stays."""
    for name in list(os.environ):
        if name.startswith(("AIRFLOW", "ONBOARDING_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ONBOARDING_LOCAL_DIR", str(tmp_path))
    dbs = stack.ensure_databases()
    env = stack.use_celery(stack.airflow_env(dbs, None), dbs, stack.ensure_broker())
    hostnames = stack.start_workers(env, 2, 1)
    stack.wait_for_workers(env["AIRFLOW__CELERY__BROKER_URL"], hostnames)
    workers = [psutil.Process(stack.worker_pid(h)) for h in hostnames]
    family = [p for w in workers for p in (w, *w.children(recursive=True))]
    broker = EmbeddedBroker(tmp_path / "broker")
    assert broker.ping() and len(family) >= 4  # each worker and its pool process

    stopped = stack.stop()

    assert {"airflow-worker-1", "airflow-worker-2", "broker", "postgres"} <= set(stopped), stopped
    assert processes.wait_gone(family, 5) == []
    assert not broker.is_running() and not broker.ping()
    assert stack.worker_names() == []
    assert stack.stop() == []  # stopping again is harmless
