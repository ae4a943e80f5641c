"""The note on each account's run: who the account is, who owns it now, and its target.

Airflow shows a run's note in the grid and on the run's page, so an ops
engineer scanning ``onboarding_<tier>`` reads account names and owners instead
of run ids.  The intake sets the note when it starts the run
(``TriggerDagRunOperator(note=...)``); after that, every task of the run
compares the note the run carries with the account as the store has it now
and, when the stage owner (or anything else in it) changed, writes the new one
through Airflow's REST API (``PATCH /api/v2/dags/{dag}/dagRuns/{run}``).

The REST API is reached through the Airflow connection ``airflow_api``: the
api-server's address, and a user allowed to edit DAG runs (its login and
password are exchanged for a token at ``/auth/token``).  Without that
connection the note keeps what the intake wrote.  A note that cannot be written
never fails a task: the store stays the source of truth, the note is a view of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from include.onboarding.config import OnboardingConfig
from include.onboarding.text import clip, markdown_text

if TYPE_CHECKING:  # the DAG file imports this module: the store and its driver load only when a task runs
    from include.onboarding.lifecycle import Onboarding

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 1000
"""Airflow keeps at most 1000 characters of a run's note."""
NAME_CHARS = 200
"""How much of an account name the note shows, so the owner and the target always fit."""


def person(config: OnboardingConfig, email: str | None) -> str:
    """A person's name from the directory, else their email, else "nobody"."""
    if not email:
        return "nobody"
    found = config.settings.people_by_email.get(email)
    return found.name if found else email


@dataclass(frozen=True)
class NoteFacts:
    """What the note says, as the onboardings table has it."""

    account_name: str
    tier: str
    region: str
    stage: str
    stage_owner_email: str | None
    owner_email: str | None
    activation_target: date
    status: str = "open"

    @classmethod
    def of(cls, onboarding: Onboarding) -> NoteFacts:
        return cls(
            onboarding.account_name, onboarding.tier, onboarding.region, onboarding.stage.value,
            onboarding.stage_owner_email, onboarding.owner_email, onboarding.activation_target, onboarding.status,
        )  # fmt: skip


def render(facts: NoteFacts, config: OnboardingConfig) -> str:
    """The note for the account's run (Markdown, within Airflow's 1000 characters)."""
    tier = config.tiers.get(facts.tier)
    tier_name = tier.display_name if tier else facts.tier
    name = markdown_text(clip(" ".join(facts.account_name.split()), NAME_CHARS))
    stage_owner = markdown_text(person(config, facts.stage_owner_email))
    stage = facts.stage.replace("_", " ")
    now = f"live, owned by {stage_owner}" if facts.status == "live" else f"{stage_owner} ({stage})"
    lines = [
        f"**{name}** · {markdown_text(tier_name)} · {markdown_text(facts.region)}",
        f"- Owner now: {now}",
        f"- Onboarding owner: {markdown_text(person(config, facts.owner_email))}",
        f"- Activation target: {facts.activation_target:%a %d %b %Y}",
    ]
    return clip("\n".join(lines), MAX_NOTE_CHARS)


def for_account(store: Any, config: OnboardingConfig, onboarding_key: str) -> str:
    from include.onboarding import lifecycle

    return render(NoteFacts.of(lifecycle.load(store, onboarding_key)), config)


def sync(context: Any) -> None:
    """Bring the run's note up to date with the account (every tier task's ``on_success_callback``).

    One query when nothing changed; a token and one PATCH when the owner, the
    stage or the target moved.  Never raises: a note is not worth a failed task.
    """
    onboarding_key = None
    try:
        from include.onboarding import runtime

        dag_run = context["dag_run"]
        onboarding_key = (dag_run.conf or {}).get("onboarding_key")
        if not onboarding_key:
            return
        wanted = for_account(runtime.open_store(), runtime.config(), onboarding_key)
        if wanted == (getattr(dag_run, "note", None) or ""):
            return
        if write(dag_run.dag_id, dag_run.run_id, wanted):
            dag_run.note = wanted  # later callbacks in this process compare with what is there now
    except Exception:
        log.warning("could not bring the note of onboarding %s's run up to date", onboarding_key, exc_info=True)


def write(dag_id: str, run_id: str, note: str) -> bool:
    """Set the run's note through Airflow's REST API; False when no ``airflow_api`` connection is configured."""
    from include.onboarding.airflow_rest import AirflowRest, NotConfigured

    try:
        client = AirflowRest.from_connection()
    except NotConfigured as exc:
        log.info("run notes stay as the intake wrote them: %s", exc)
        return False
    client.set_run_note(dag_id, run_id, note)
    return True
