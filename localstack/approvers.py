"""The local stack's Airflow users: one per approver, and one the tier runs use to keep their notes current.

Airflow's SimpleAuthManager takes its users from ``[core]
simple_auth_manager_users`` and their passwords from
``AIRFLOW_HOME/simple_auth_manager_passwords.json.generated``, keeping any entry
already there.  So the stack writes a password for each user before Airflow
starts (kept across restarts), and knows them: ``make demo UI=1`` prints them,
the demo's simulated ops person logs in with them to answer approvals, and the
tests log in as an approver in a real browser.

An approver's user name is their Airflow id from ``settings.yaml`` (their
email unless ``airflow_user`` says otherwise), so a request assigned to them
is theirs to answer and nobody else's.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from include.onboarding.config import OnboardingConfig

log = logging.getLogger(__name__)

RUNS_USER = "onboarding-runs"
"""Edits the tier runs' notes through the REST API (role ``user``: may edit DAG runs, nothing else)."""
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"


@dataclass(frozen=True)
class Approver:
    user: str
    name: str
    email: str
    roles: tuple[str, ...]


def approvers(config: OnboardingConfig) -> list[Approver]:
    """Everyone who holds an approver role some tier asks in one of its regions, with those roles."""
    roles: dict[str, set[str]] = {}
    for tier in config.tiers.values():
        for approval in tier.approvals:
            for region in tier.regions:
                email = config.settings.holder(approval.approver_role, region)
                if email:
                    roles.setdefault(email, set()).add(approval.approver_role)
    people = config.settings.people_by_email
    return [
        Approver(people[email].airflow_id, people[email].name, email, tuple(sorted(held)))
        for email, held in sorted(roles.items())
    ]


def users_setting(config: OnboardingConfig, admin: str = "admin") -> str:
    """The ``simple_auth_manager_users`` value: the admin, every approver and the runs' user, role ``user``."""
    users = [f"{admin}:admin"] + [f"{a.user}:user" for a in approvers(config)] + [f"{RUNS_USER}:user"]
    return ",".join(users)


def seed_passwords(airflow_home: Path, users: list[str]) -> dict[str, str]:
    """Give each of ``users`` a password in Airflow's password file unless it has one; return all of them."""
    path = airflow_home / PASSWORDS_FILE
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() and path.read_text().strip() else {}
    missing = [u for u in users if u not in known]
    if missing:
        known.update({u: secrets.token_urlsafe(12) for u in missing})
        airflow_home.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known) + "\n")
        os.chmod(path, 0o600)
    return {u: known[u] for u in users}


def runs_connection(base_url: str, password: str) -> str:
    """``AIRFLOW_CONN_AIRFLOW_API``: the api-server, as the runs' user."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    return json.dumps(
        {"conn_type": "http", "host": parts.hostname, "port": parts.port, "schema": parts.scheme,
         "login": RUNS_USER, "password": password}
    )  # fmt: skip


def passwords(airflow_home: Path) -> dict[str, str]:
    path = airflow_home / PASSWORDS_FILE
    return dict(json.loads(path.read_text())) if path.exists() else {}


def pending(api: Any) -> list[dict[str, Any]]:
    """Approval requests waiting for an answer now (their task parked in ``awaiting_input``)."""
    found = api.call("GET", "/dags/~/dagRuns/~/hitlDetails?response_received=false&state=awaiting_input&limit=100")
    return list(found["hitl_details"])


def answer(api_base: str, user: str, password: str, detail: dict[str, Any], approve: bool, comment: str) -> Any:
    """Answer one request as ``user`` through ``PATCH .../hitlDetails`` (what the Required Actions page does)."""
    from urllib.parse import quote

    from localstack.airflow_api import AirflowApi

    ti = detail["task_instance"]
    path = (
        f"/dags/{quote(ti['dag_id'], safe='')}/dagRuns/{quote(ti['dag_run_id'], safe='')}/taskInstances/"
        f"{quote(ti['task_id'], safe='')}/{ti['map_index']}/hitlDetails"
    )
    body = {"chosen_options": ["Approve" if approve else "Reject"], "params_input": {"comment": comment}}
    return AirflowApi(api_base, user, password).call("PATCH", path, body)


ANSWER_AFTER_SECONDS = 10.0
"""How long the simulated ops person lets a request sit before answering it.

Airflow 3.3.2 can take an answer given soon after the task parked for a task that died: the
scheduler, still processing the parked task's exit, finds it queued again and fails it (a second or
two on an idle machine, ten on a busy one).  The answer is still recovered from Airflow's record
(:func:`include.onboarding.approvals.answers.recover`); waiting as long as a person would keeps the
task from being failed at all."""


def approve_pending(
    api: Any,
    airflow_home: Path,
    stop: threading.Event,
    comment: str,
    every: float = 1.0,
    hold: Callable[[dict[str, Any]], bool] | None = None,
) -> None:
    """The demo's ops person: approves every request waiting in Required Actions, logged in as its approver.

    Requests ``hold`` picks are left waiting, for a person to answer in the UI."""
    seen: dict[str, float] = {}
    while not stop.is_set():
        try:
            known = passwords(airflow_home)
            for detail in pending(api):
                first = seen.setdefault(detail["task_instance"]["id"], time.monotonic())
                user = next((u["id"] for u in detail.get("assigned_users") or [] if u["id"] in known), None)
                if user is None or time.monotonic() - first < ANSWER_AFTER_SECONDS:
                    continue
                if hold is not None and hold(detail):
                    continue
                try:
                    answer(api.base_url, user, known[user], detail, True, comment)
                except RuntimeError as exc:  # answered meanwhile (409), or the run was cleared
                    log.info("could not answer %s: %s", detail["task_instance"]["task_id"], exc)
        except Exception:  # the api-server restarting, say: look again in a moment
            log.warning("could not list the approvals waiting in Airflow", exc_info=True)
        stop.wait(every)
