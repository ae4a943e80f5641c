"""Airflow callbacks that turn failures and missed deadlines into escalations.

* :func:`on_task_failure` is every tier task's ``on_failure_callback``: a
  checklist sensor that timed out on the customer, a setup step the API
  refused, a readiness gate that could not open, a provisioning failure.
  What failed is read from the exception's type (:mod:`.exceptions`).  It
  escalates to the owner of the stage with the cause and tries to post the
  notice at once; if Slack is down the escalation pass posts it later.  A
  failure whose task already escalated it in better words (an expired approval,
  a gate held only by approvals that were rejected or expired) is not escalated twice.
* :func:`on_deadline_missed` is the callback of the runs' Deadline Alerts
  (activation target approaching, run window overrun).

A callback never raises: losing the escalation must not hide the failure
itself, and an error here is logged with the account key.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

_WHAT = {
    "wait_for_input": "the customer's input",
    "wait_for_provisioning": "provisioning of the tenant",
    "readiness_gate": "the readiness gate",
}


def already_escalated(exception: BaseException | None) -> bool:
    """A failure whose task raised its own, better-worded escalation (an expired or rejected approval)."""
    return bool(getattr(exception, "escalated", False))


def failure_cause(
    task_id: str, map_key: str | None, exception: BaseException | None, approval: str | None = None
) -> str:
    """One sentence a stage owner can act on, from what the exception says failed.

    ``approval``: the key of the approval the failed task asks for, when it is an approval task.
    """
    from airflow.sdk.exceptions import AirflowSensorTimeout

    from include.onboarding.exceptions import SetupStepFailed
    from include.onboarding.state.gate import NotReadyForSetup

    text = str(exception) if exception is not None else "no error was reported"
    if isinstance(exception, AirflowSensorTimeout):
        what = _WHAT.get(task_id, task_id)
        if task_id == "wait_for_input" and map_key:
            what = f"the customer's input {map_key!r}"
        return f"gave up waiting for {what}: {text}"
    if isinstance(exception, SetupStepFailed):
        return f"setup step {exception.step_key!r} failed: {text}"
    if isinstance(exception, NotReadyForSetup):
        return f"setup stays blocked: {text}"
    if approval is not None:
        return f"approval {approval!r} failed: {text}"
    return f"{task_id} failed: {text}"


def on_task_failure(context: Any) -> None:
    """``on_failure_callback`` of the tier DAGs' tasks."""
    onboarding_key = None
    try:
        from include.onboarding import escalations, notify, runtime

        dag_run = context["dag_run"]
        onboarding_key = (dag_run.conf or {}).get("onboarding_key")
        if not onboarding_key:
            return
        ti = context["ti"]
        if already_escalated(context.get("exception")):
            log.info("onboarding %s: %s failed and has escalated it itself", onboarding_key, ti.task_id)
            return
        approval = getattr(context.get("task"), "approval_key", None)  # an OnboardingApprovalOperator's
        if approval is not None and _answered_after_all(context, approval):
            log.info("onboarding %s: %s failed while resuming, but its answer is recorded", onboarding_key, ti.task_id)
            return
        map_index = getattr(ti, "map_index", -1)
        map_key = getattr(ti, "rendered_map_index", None) or (str(map_index) if map_index >= 0 else None)
        cause = failure_cause(ti.task_id, map_key, context.get("exception"), approval)
        store, cfg, now = runtime.open_store(), runtime.config(), runtime.clock().now()
        ids = escalations.account_escalation(
            store,
            cfg,
            onboarding_key,
            kind="failure",
            reason=cause,
            # One notice per task and try: a silent customer times out every mapped item
            # sensor at once, and the owner needs to hear it once (the notice lists them all).
            dedupe_key=f"failure:{onboarding_key}:{ti.task_id}:{ti.try_number}",
            now=now,
            extra={"task": ti.task_id + (f"[{map_key}]" if map_key else ""), "try_number": ti.try_number},
        )
        if ids:
            notify.deliver(store, cfg, now, only=ids)
    except Exception:
        log.exception("could not escalate the failure of onboarding %s; the task failure stands", onboarding_key)


def _answered_after_all(context: Any, approval_key: str) -> bool:
    """Whether an approval task that failed was answered all the same (Airflow failed it while resuming it):
    the answer is then recorded from Airflow's own record, and a rejection escalated with its words."""
    from include.onboarding.approvals.answers import recover_in_run

    return approval_key in recover_in_run(context)


def on_deadline_missed(**kwargs: Any) -> None:
    """Deadline Alert callback: the run is near its activation target, or has overrun its window."""
    onboarding_key = None
    try:
        from include.onboarding import escalations, notify, runtime

        context = kwargs.get("context") or {}
        dag_run = context.get("dag_run") or {}
        conf = (dag_run.get("conf") if isinstance(dag_run, dict) else getattr(dag_run, "conf", None)) or {}
        onboarding_key = conf.get("onboarding_key")
        which = str(kwargs.get("which") or "deadline")
        if not onboarding_key:
            log.warning("deadline %s missed on a run without an onboarding key: %s", which, dag_run)
            return
        store, cfg, now = runtime.open_store(), runtime.config(), runtime.clock().now()
        reason = str(kwargs.get("reason") or f"deadline {which} passed")
        ids = escalations.account_escalation(
            store,
            cfg,
            onboarding_key,
            kind="deadline",
            reason=reason,
            dedupe_key=f"deadline:{onboarding_key}:{which}",
            now=now,
            notify="named_owner",
            extra={"deadline": which},
        )
        if ids:
            notify.deliver(store, cfg, now, only=ids)
    except Exception:
        log.exception("could not escalate a missed deadline of onboarding %s", onboarding_key)
