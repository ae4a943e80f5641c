"""Who hears an escalation, and the link that takes them to the account."""

from __future__ import annotations

from urllib.parse import quote

from include.onboarding.config import Settings, board_base_url
from include.onboarding.names import dag_id_for


def recipient(settings: Settings, notify: str, stage_owner: str | None, region: str) -> tuple[str, str]:
    """(email, role) a ladder rung reaches.  Anyone unknown falls through to the ops lead."""
    people = settings.people_by_email
    if notify == "stage_owner" and stage_owner in people:
        return str(stage_owner), "stage owner"
    if notify == "manager":
        manager = people[stage_owner].manager if stage_owner in people else None
        if manager:
            return manager, f"manager of {stage_owner}"
    if notify.startswith("role:"):
        holder = settings.holder(notify.removeprefix("role:"), region)
        if holder:
            return holder, notify.removeprefix("role:")
    return settings.ops_lead, "ops lead"


def ui_base_url(settings: Settings) -> str:
    """Where people open the Airflow UI: ``escalations.airflow_base_url``, else Airflow's ``[api] base_url``."""
    base = settings.escalations.airflow_base_url
    if not base:
        from airflow.configuration import conf

        base = conf.get("api", "base_url", fallback=None) or "http://localhost:8080"
    return base.rstrip("/")


def run_url(settings: Settings, tier: str, run_id: object) -> str:
    """Link to the account's run in the Airflow UI (the DAG's runs when it has none yet).

    ``run_id`` comes from a data frame, where an account without a run yet holds NaN, not None.
    """
    base = ui_base_url(settings)
    if isinstance(run_id, str) and run_id:
        return f"{base}/dags/{dag_id_for(tier)}/runs/{quote(run_id, safe='')}"
    return f"{base}/dags/{dag_id_for(tier)}"


def board_url(settings: Settings, subject: str) -> str:
    """Link to the board's page about an escalation's subject: the account, or the quarantine queue.

    The board's address is ``ONBOARDING_BOARD_URL``, else ``board.base_url``,
    else the Airflow UI's address plus ``/board`` (where the board plugin serves it).
    """
    base = board_base_url(settings) or f"{ui_base_url(settings)}/board"
    base = base.rstrip("/")
    if subject.startswith("order:"):
        return f"{base}/quarantine"
    return f"{base}/accounts/{quote(subject, safe='')}"
