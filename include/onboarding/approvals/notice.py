"""The approver's Slack notice: an approval waits for them, with a button to its Required Actions page.

It is the approval task's Human-in-the-loop notifier.  Airflow calls notifiers
before the task parks, and a notifier that raises fails the task, so this one
never raises: a notice Slack did not take (Slack down, webhook revoked, no
connection for the person) is recorded as ``approval.notice_failed`` with the
error, and the request waits in Required Actions all the same; the approvals
stage's SLA escalation still reaches people if nobody looks.  A delivered
notice is recorded as ``approval.notice_sent``.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

from include.onboarding.events import EventType

log = logging.getLogger(__name__)


def required_actions_url(task: Any, ti: Any, base_url: str) -> str:
    """The task's Required Actions page in the Airflow UI."""
    return str(task.generate_link_to_ui(task_instance=ti, base_url=base_url))


def message(request: Any, url: str) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, Block Kit blocks) telling the approver what waits for them."""
    from include.onboarding import blockkit

    ob, t = request.onboarding, request.timing
    name = blockkit.clip(" ".join(ob.account_name.split()), blockkit.NAME_CHARS)
    text = f"Approval needed: {request.approval.label} for {name}, by {t.local(t.due_at)}"
    blocks = [
        blockkit.header(f"Approval needed: {name}"),
        blockkit.section(
            f"*{request.approval.label}* for *{name}* ({request.tier.display_name}, {ob.region}) · `{ob.key}`\n"
            f"Decide by {t.local(t.due_at)} (approvals SLA {t.sla_text}); the request expires"
            f" {t.local(t.expires_at)}."
        ),
        *blockkit.fields(
            [("Activation target", f"{ob.activation_target:%a %d %b %Y}"), ("Asked of", request.approver_name)]
        ),
        blockkit.context("The account, its verified evidence and Approve / Reject are on the Required Actions page."),
        blockkit.link_button("Open in Airflow: Required Actions", url),
    ]
    return blockkit.fit(text, blocks)


class ApproverNotice(BaseNotifier):
    """Posts the request to the approver's Slack webhook; records, never raises, what went wrong."""

    def notify(self, context: Any) -> None:
        try:
            self._notify(context)
        except Exception:  # even recording the failure failed: the request must still park
            log.exception("the approver's notice and its record both failed; the request waits in Required Actions")

    def _notify(self, context: Any) -> None:
        from include.onboarding import runtime
        from include.onboarding.approvals import records
        from include.onboarding.escalations.routing import ui_base_url

        task, ti = context["task"], context["ti"]
        request = task.request
        cfg, store, now = runtime.config(), runtime.open_store(), runtime.clock().now()
        person = cfg.settings.people_by_email.get(request.approver_email)
        url, connection, error = "", person.slack_connection if person else None, None
        try:
            url = required_actions_url(task, ti, ui_base_url(cfg.settings))
            if connection is None:
                raise LookupError(f"{request.approver_email} has no slack_connection in settings.yaml")
            from include.onboarding.notify import slack_poster

            slack_poster(cfg)(connection, *message(request, url))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("approval notice to %s not delivered (the request still waits): %s", request.approver_email,
                        error)  # fmt: skip
        records.note(
            store, request.onboarding, request.approval.key,
            EventType.APPROVAL_NOTICE_FAILED if error else EventType.APPROVAL_NOTICE_SENT,
            records.ACTOR, now, request.attempt,
            {"to": request.approver_email, "channel": connection, "link": url} | ({"error": error} if error else {}),
        )  # fmt: skip
