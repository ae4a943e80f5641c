"""The approval task: an Airflow Human-in-the-loop ``ApprovalOperator`` for one approval of the run's account.

``execute`` asks (:func:`~.asking.ask`): it assigns the request, at run time,
to whoever holds the approver role for the account's region, writes the
subject and body from the store, sets the response timeout from the request's
expiry in business time, posts the approver's Slack notice and parks the task
in ``awaiting_input`` (no worker slot, no trigger).  Airflow resumes it in
``execute_complete`` with the answer, or with a timeout when the request
expired: the decision is recorded and a rejection or expiry escalated
(:mod:`.answers`).

A rejection does not skip what follows (unlike the stock operator): the
readiness gate runs, finds the rejection in the store and stays closed,
recording why.  ``retries`` is 0, because every try is a new request to a person.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.onboarding.approvals.notice import ApproverNotice

COMMENT_HELP = "Why you approve or reject. A rejection's comment goes to the account's owner as you write it."


class ApprovalExpired(AirflowFailException):
    """Nobody answered before the request expired; its escalation has been raised already."""

    escalated = True


class ApprovalsHoldGate(AirflowFailException):
    """The readiness gate stays closed only because of approvals, each already escalated by its own task
    (rejected with the approver's words, expired, or its task failed and said why)."""

    escalated = True


class OnboardingApprovalOperator(ApprovalOperator):
    """One configured approval (``approvals`` of a tier file) of the run's account."""

    template_fields = ()  # the subject and body are written from the store when the task runs

    def __init__(self, *, approval_key: str, label: str, **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)
        kwargs.pop("params", None)  # the DAG's own params: the approver's form only asks for a comment
        super().__init__(
            subject=label,
            body=None,
            params={"comment": Param(None, type=["null", "string"], title="Comment", description=COMMENT_HELP)},
            notifiers=[ApproverNotice()],
            **kwargs,
        )
        self.approval_key = approval_key
        self.request: Any = None

    def execute(self, context: Any) -> Any:
        from include.onboarding import run_notes, runtime
        from include.onboarding.approvals import asking
        from include.onboarding.sensors import onboarding_key

        try:
            request = asking.ask(
                runtime.open_store(), runtime.config(), runtime.clock(), onboarding_key(context), self.approval_key,
                context["ti"].try_number,
            )  # fmt: skip
        except (asking.NotNeeded, asking.InputsOutstanding) as exc:
            raise AirflowSkipException(str(exc)) from None
        except asking.AlreadyApproved as exc:
            self.log.info("%s", exc)
            return {"approved": True, "asked": False}
        self.request = request
        self.subject, self.body = request.subject, request.body
        self.assigned_users = [{"id": request.approver_user, "name": request.approver_name}]
        self.response_timeout = request.timing.wall_timeout
        self.log.info(
            "asking %s (%s) for %s; due %s, expires %s", request.approver_name, request.approver_user,
            request.approval.label, request.timing.due_at, request.timing.expires_at,
        )  # fmt: skip
        run_notes.sync(context)  # the account just entered the approvals stage: the run's note names its new owner
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from include.onboarding import runtime
        from include.onboarding.approvals import answers
        from include.onboarding.sensors import onboarding_key

        store, cfg, clock = runtime.open_store(), runtime.config(), runtime.clock()
        key, ti = onboarding_key(context), context["ti"]
        if event.get("error_type") == "timeout":
            raise ApprovalExpired(
                answers.expire(store, cfg, clock, key, self.approval_key, ti.try_number, self.task_id)
            )
        # The Human-in-the-loop checks (valid option, params), without the stock operator's skipping on Reject.
        result = HITLOperator.execute_complete(self, context, event)
        approved = result["chosen_options"] == [self.APPROVE]
        self.hitl_summary_extra["approved"] = approved
        decision = answers.answer(
            store, cfg, clock, key, self.approval_key, ti.try_number,
            approved=approved, responder=result["responded_by_user"], responded_at=result["responded_at"],
            comment=(result["params_input"] or {}).get("comment"), task_id=self.task_id,
        )  # fmt: skip
        self.log.info("%s by %s%s", "approved" if approved else "rejected", decision.by,
                      f": {decision.comment}" if decision.comment else "")  # fmt: skip
        return {"approved": approved, "by": decision.by, "at": decision.at.isoformat(), "comment": decision.comment}
