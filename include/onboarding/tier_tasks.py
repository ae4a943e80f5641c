"""What each task of a tier DAG does for the run's account, with the run's store, configuration and clock.

The tasks of :mod:`include.onboarding.tier_dag` are one call each into this
module; everything here reads and records in the onboarding store, so a task
can be cleared and run again.  Imports are inside the functions: the DAG file
imports this module at every parse, and a task needs only its own part.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from include.onboarding.exceptions import OnboardingError, SetupStepFailed


def plan_checklist(onboarding_key: str) -> list[str]:
    from include.onboarding import lifecycle, runtime

    return lifecycle.plan(runtime.open_store(), runtime.config(), onboarding_key, runtime.clock().now(), "system:plan")


def request_inputs(onboarding_key: str) -> int:
    from include.onboarding import checklist, mail, runtime

    store, cfg, now = runtime.open_store(), runtime.config(), runtime.clock().now()
    requested = checklist.request_inputs(store, cfg, onboarding_key, now)
    mail.deliver_pending(store, cfg, now)  # never raises: a mail server that is down delays the invitation
    return requested


def readiness_gate(onboarding_key: str, context: Any) -> None:
    """Setup and customer commitments stay blocked until every critical input and approval is in."""
    from include.onboarding import runtime
    from include.onboarding.approvals.answers import recover_in_run
    from include.onboarding.state.gate import check_readiness

    recover_in_run(context)  # an answer Airflow holds but its task could not record
    check_readiness(runtime.open_store(), onboarding_key, runtime.clock().now(), context["ti"].try_number)


class SetupStepRefused(AirflowFailException, SetupStepFailed):
    """The API refused a setup step: the task fails without retries, which would only repeat the refusal."""


def setup_step(onboarding_key: str, step_key: str) -> str | None:
    """One setup step, exactly once.  Its failure names the step (:class:`SetupStepFailed`) for the escalation."""
    from include.onboarding import runtime, setup_steps
    from include.onboarding.clients.http import ApiError

    cfg = runtime.config()
    client_for = lambda conn: runtime.api(conn, cfg)  # noqa: E731
    try:
        return setup_steps.run_step(
            runtime.open_store(), cfg, onboarding_key, step_key, client_for, runtime.clock().now()
        )
    except ApiError as exc:
        if exc.retryable:
            raise SetupStepFailed(step_key, str(exc)) from exc
        raise SetupStepRefused(step_key, str(exc)) from exc
    except OnboardingError as exc:
        raise SetupStepFailed(step_key, str(exc)) from exc


def provisioned(onboarding_key: str) -> bool:
    from include.onboarding import golive, runtime

    cfg = runtime.config()
    client_for = lambda conn: runtime.api(conn, cfg)  # noqa: E731
    return golive.poll_provisioning(runtime.open_store(), cfg, onboarding_key, client_for, runtime.clock().now())


def notify_customer(onboarding_key: str) -> int:
    from include.onboarding import golive, mail, runtime

    store, cfg, now = runtime.open_store(), runtime.config(), runtime.clock().now()
    outbox_id = golive.notify_customer(store, cfg, onboarding_key, now)
    mail.deliver_pending(store, cfg, now)
    return outbox_id


def hand_off(onboarding_key: str) -> str:
    from include.onboarding import golive, runtime

    return golive.hand_off(runtime.open_store(), runtime.config(), onboarding_key, runtime.clock().now())


def mark_live(onboarding_key: str) -> dict[str, Any]:
    from include.onboarding import golive, runtime

    return golive.mark_live(runtime.open_store(), runtime.config(), onboarding_key, runtime.clock().now())
