"""What happens when a request is answered, or expires unanswered.

The answer comes from Airflow's Human-in-the-loop response (the Required
Actions page or ``PATCH .../hitlDetails``): Approve or Reject, the user who
answered, when, and the comment.  Airflow already refuses (403) anyone the
request is not assigned to; :func:`answer` checks the answer against the
request as recorded too, because a deployment may let every user answer
(``simple_auth_manager_all_admins``) or the approver may have changed in
``settings.yaml`` since: such an answer is refused and recorded, never counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from include.onboarding import lifecycle
from include.onboarding.approvals import escalate, records
from include.onboarding.approvals.asking import approval_of
from include.onboarding.clock import AcceleratedClock, Clock
from include.onboarding.config import OnboardingConfig
from include.onboarding.constants import ApprovalStatus
from include.onboarding.events import EventType
from include.onboarding.exceptions import NotTheApprover as NotTheApprover
from include.onboarding.store import SCHEMA, Store


@dataclass(frozen=True)
class Decision:
    approved: bool
    by: str
    at: datetime
    comment: str | None
    escalations: list[int]


def _business(clock: Clock, wall: datetime) -> datetime:
    """An instant Airflow reported (wall clock) as the deployment's business clock reads it."""
    return clock.from_wall(wall) if isinstance(clock, AcceleratedClock) else wall


def answer(
    store: Store,
    config: OnboardingConfig,
    clock: Clock,
    onboarding_key: str,
    approval_key: str,
    attempt: int,
    *,
    approved: bool,
    responder: dict[str, Any] | None,
    responded_at: datetime,
    comment: str | None,
    task_id: str,
) -> Decision:
    """Record the answer to the request of try ``attempt`` and escalate a rejection."""
    onboarding = lifecycle.load(store, onboarding_key)
    approval = approval_of(lifecycle.tier_of(config, onboarding), approval_key)
    asked = records.requested_details(store, onboarding, approval_key, attempt)
    expected = str(asked.get("airflow_user") or "")
    who = str((responder or {}).get("id") or "")
    comment = (comment or "").strip() or None
    at = _business(clock, responded_at)
    if not who or who.lower() != expected.lower():
        records.note(
            store, onboarding, approval_key, EventType.APPROVAL_REFUSED, who or "unknown", clock.now(), attempt,
            {"answered_by": responder, "assigned_to": expected, "approved": approved, "comment": comment},
        )  # fmt: skip
        raise NotTheApprover(
            f"{approval.label} for onboarding {onboarding_key} was answered by {who or 'an unknown user'},"
            f" but it is assigned to {expected or 'nobody'} ({asked.get('approver', 'the role holder')});"
            f" the answer was not counted. Clear the task {task_id} to ask again."
        )
    by = str(asked.get("approver") or who)
    recorded = records.decide(
        store, onboarding, approval_key, approved=approved, by=by, at=at, comment=comment, attempt=attempt,
        details={"label": approval.label, "role": approval.approver_role, "answered_in": "airflow",
                 "airflow_user": who, "responded_at": responded_at.isoformat()},
    )  # fmt: skip
    raised: list[int] = []
    if recorded and not approved:
        raised = escalate.rejected(
            store, config, lifecycle.load(store, onboarding_key), approval_key, approval.label, by, comment, attempt,
            task_id, clock.now(),
        )  # fmt: skip
    return Decision(approved, by, at, comment, raised)


def expire(
    store: Store,
    config: OnboardingConfig,
    clock: Clock,
    onboarding_key: str,
    approval_key: str,
    attempt: int,
    task_id: str,
) -> str:
    """Record that the request of try ``attempt`` expired unanswered, escalate it, and say so in one sentence."""
    now = clock.now()
    onboarding = lifecycle.load(store, onboarding_key)
    approval = approval_of(lifecycle.tier_of(config, onboarding), approval_key)
    asked = records.requested_details(store, onboarding, approval_key, attempt)
    approver = str(asked.get("approver") or config.settings.holder(approval.approver_role, onboarding.region) or "")
    waited = str(asked.get("timeout") or "the time allowed")
    records.note(
        store, onboarding, approval_key, EventType.APPROVAL_EXPIRED, records.ACTOR, now, attempt,
        {"approver": approver, "expires_at": asked.get("expires_at"), "timeout": waited},
    )  # fmt: skip
    escalate.expired(store, config, onboarding, approval_key, approval.label, approver, waited, attempt, task_id, now)
    return (
        f"{approval.label} for onboarding {onboarding_key} expired: no answer from {approver} within {waited};"
        f" the readiness gate stays closed. Clear the task {task_id} to ask again."
    )


def recover(
    store: Store, config: OnboardingConfig, clock: Clock, onboarding_key: str, dag_id: str, run_id: str
) -> list[str]:
    """Record answers Airflow holds for this run's approvals that the store is missing; return their keys.

    Airflow 3.3.2 can fail an approval task while resuming it with its answer (an answer given within
    seconds of the task parking, on a busy scheduler): the answer is in Airflow's record, the task
    never recorded it.  The readiness gate and the failure callback look there, through the REST API
    (the ``airflow_api`` connection), before calling the approval missing.  Without that connection
    there is nothing to look at and nothing is recovered.
    """
    from include.onboarding.airflow_rest import AirflowRest, NotConfigured

    onboarding = lifecycle.load(store, onboarding_key)
    pending = [
        r["approval_key"]
        for r in store.query(
            f"""SELECT approval_key FROM {SCHEMA}.approvals
                WHERE onboarding_id = %s AND status = '{ApprovalStatus.PENDING}' ORDER BY id""",
            (onboarding.id,),
        )
    ]
    if not pending:
        return []
    try:
        client = AirflowRest.from_connection()
    except NotConfigured:
        return []
    recovered = []
    for approval_key in pending:
        task_id = f"approve_{approval_key}"
        detail = client.call(
            "GET",
            f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/-1/hitlDetails",
        )
        if not detail or not detail.get("response_received") or not detail.get("chosen_options"):
            continue
        answer(
            store, config, clock, onboarding_key, approval_key, int(detail["task_instance"]["try_number"]),
            approved=detail["chosen_options"] == ["Approve"], responder=detail.get("responded_by_user"),
            responded_at=datetime.fromisoformat(str(detail["responded_at"]).replace("Z", "+00:00")),
            comment=(detail.get("params_input") or {}).get("comment"), task_id=task_id,
        )  # fmt: skip
        recovered.append(approval_key)
    return recovered


def recover_in_run(context: Any) -> list[str]:
    """:func:`recover` for the run of an Airflow task context; logs, never raises."""
    import logging

    dag_run = context["dag_run"]
    onboarding_key = (dag_run.conf or {}).get("onboarding_key")
    try:
        from include.onboarding import runtime

        if not onboarding_key:
            return []
        return recover(
            runtime.open_store(), runtime.config(), runtime.clock(), onboarding_key, dag_run.dag_id, dag_run.run_id
        )
    except Exception:
        logging.getLogger(__name__).warning(
            "could not look for answers Airflow holds for %s", onboarding_key, exc_info=True
        )
        return []
