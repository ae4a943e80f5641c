"""The whole stack for real, for the tests that run Airflow's own components (``test_scheduler``,
``test_distributed``): a PostgreSQL, sandbox, portal and Airflow home of its own, nothing shared
with the rest of the suite, and the approvers answering in Required Actions.

Business time runs at :data:`SPEED`, as in ``make demo``; the intake and the escalation pass
run every few seconds.  With ``celery_workers`` the stack runs on the CeleryExecutor with the
embedded broker and that many workers (see :mod:`localstack.stack`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from include.onboarding.clock import AcceleratedClock
from include.onboarding.store import Store, connect_dsn, migrate
from localstack import stack
from localstack.airflow_api import AirflowApi
from localstack.month_demo import start_approver
from localstack.postgres import free_port
from tests.factories import deal_properties

SPEED = 720  # one business day every two minutes
TIERS = {
    "enterprise": {"segment": "strategic", "amount": "84000.00"},
    "smb": {"segment": "commercial", "amount": "9000.00"},
    "partner": {"segment": "channel", "amount": "30000.00", "partner_name": "Globex Resellers"},
}


@dataclass
class Stack:
    api: AirflowApi
    store: Store
    sandbox_port: int
    clock: AcceleratedClock
    env: dict[str, str] = field(default_factory=dict)

    def sandbox(self, method: str, path: str, body: object | None = None) -> Any:
        return stack.sandbox_call(self.sandbox_port, method, path, body)


@contextmanager
def real_stack(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, str] | None = None,
    celery_workers: int = 0,
    worker_concurrency: int = 3,
) -> Iterator[Stack]:
    """Start the stack (``settings`` on top of the defaults below), yield it, and stop all of it."""
    for name in list(os.environ):
        if name.startswith(("AIRFLOW", "ONBOARDING_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ONBOARDING_LOCAL_DIR", str(tmp_path / "local"))
    clock = AcceleratedClock(
        datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc), datetime.now(timezone.utc) + timedelta(seconds=30), SPEED
    )
    monkeypatch.setenv("ONBOARDING_CLOCK", clock.spec())
    stop = threading.Event()
    try:
        dbs = stack.ensure_databases(fresh=True)
        with connect_dsn(dbs.onboarding_url) as conn:
            migrate(conn)
        port, _ = stack.start_sandbox(0, 7, 0.0)
        env = stack.airflow_service_env(stack.airflow_env(dbs, port), free_port())
        if celery_workers:
            env = stack.use_celery(env, dbs, stack.ensure_broker())
        env["ONBOARDING_DATABASE_URL"] = dbs.onboarding_url
        stack.start_portal(env)  # the customers answer there, from the links in their mail
        env.update(
            {
                "ONBOARDING_INTAKE_SCHEDULE": "every 10s",
                "ONBOARDING_ESCALATION_SCHEDULE": "every 15s",
                "ONBOARDING_POKE_SECONDS": "2",
                "ONBOARDING_RETRY_DELAY_SECONDS": "2",
                "ONBOARDING_INPUT_TIMEOUT_SECONDS": "45",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__PARALLELISM": "6",
                **(settings or {}),
            }
        )
        api = stack.bring_up_airflow(
            env,
            {"onboarding_intake", "onboarding_escalations", "onboarding_smb"},
            workers=celery_workers,
            worker_concurrency=worker_concurrency,
        )
        start_approver(api, Path(env["AIRFLOW_HOME"]), stop)  # the approvers answer in Required Actions
        with connect_dsn(dbs.onboarding_url) as conn:
            yield Stack(api, Store(conn), port, clock, env)
    finally:
        stop.set()
        stack.stop()


def sign(s: Stack, tier: str, n: int, behaviour: str = "prompt", **overrides: Any) -> str:
    """Put a signed order of ``tier`` into the sandbox CRM; its customer acts as ``behaviour``.  Returns its key."""
    props = deal_properties(onboarding_tier=tier, closedate=s.clock.now().isoformat(), **{**TIERS[tier], **overrides})
    if tier == "smb":
        props["region"] = "EMEA" if n % 2 else "NA"
    s.sandbox(
        "POST", "/_sandbox/customers/behaviour", {"email": props["primary_contact_email"], "behaviour": behaviour}
    )
    deal = s.sandbox("POST", "/_sandbox/crm/deals", {"properties": props})
    return f"hubspot-{deal['id']}"
