"""Asking for an approval and recording its answer, on real PostgreSQL with the sandbox's Slack.

What Airflow does around it (parking the task, who may answer, resuming it) is
tested under the real scheduler in ``tests/test_approvals_airflow.py``; here
are the rules of our own: who is asked, what is recorded, who hears a
rejection or an expiry, and a notice that cannot be posted failing nothing.
NA calendar, Thursday 2026-11-26 is Thanksgiving.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from include.onboarding import lifecycle, state
from include.onboarding.approvals import answers, asking
from include.onboarding.approvals.operator import OnboardingApprovalOperator
from include.onboarding.clock import FixedClock
from include.onboarding.config import OnboardingConfig, Stage, load_config
from include.onboarding.store import Store
from tests.factories import deal_properties
from tests.test_intake import pickup

ET = ZoneInfo("America/New_York")
ASKED = datetime(2026, 11, 25, 10, 0, tzinfo=ET)
RACHEL = {"id": "rachel.kim@example.com", "name": "rachel.kim@example.com"}
COMMENT = "The 40% discount needs CFO sign-off"


@pytest.fixture
def config() -> OnboardingConfig:
    return load_config()


def _account(store: Store, sandbox: Any, config: OnboardingConfig, verified: bool = True, **props: Any) -> str:
    """A large SMB order in NA with its checklist planned and (unless told otherwise) verified."""
    order = {"onboarding_tier": "smb", "segment": "commercial", "amount": "30000", "company_name": "Osprey *Freight*"}
    deal = sandbox.state.upsert_deal(deal_properties(closedate="2026-11-23T15:00:00.000Z", **(order | props)))
    pickup(store, config, f"pickup-{deal['id']}", clock=FixedClock(ASKED - timedelta(days=2)))
    key = f"hubspot-{deal['id']}"
    state.advance(store, config, key, Stage.COLLECT_INPUTS, ASKED - timedelta(days=1), "test", "requested")
    lifecycle.plan(store, config, key, ASKED - timedelta(days=1), "test")
    if verified:
        store.conn.execute(
            """UPDATE onboarding.checklist_items SET status = 'verified', verified_at = %s,
                   value = to_jsonb(CASE item_key WHEN 'company_website' THEN 'https://osprey.example'
                                    WHEN 'company_domain' THEN 'osprey.example' ELSE 'ap@osprey.example' END)""",
            (ASKED - timedelta(hours=3),),
        )
    return key


def _ask(store: Store, config: OnboardingConfig, key: str, attempt: int = 1) -> asking.Request:
    return asking.ask(store, config, FixedClock(ASKED), key, "deal_desk", attempt)


def _answer(store: Store, config: OnboardingConfig, key: str, approved: bool, **more: Any) -> answers.Decision:
    args: dict[str, Any] = {"responder": RACHEL, "responded_at": ASKED + timedelta(hours=2), "comment": COMMENT}
    return answers.answer(
        store, config, FixedClock(ASKED + timedelta(hours=2)), key, "deal_desk", 1, approved=approved,
        task_id="approve_deal_desk", **(args | more),
    )  # fmt: skip


def _events(store: Store, key: str, prefix: str = "approval.") -> list[dict[str, Any]]:
    return [e for e in store.events_for(key) if e["event_type"].startswith(prefix)]


def test_the_regions_approver_is_asked_and_the_account_enters_the_approvals_stage(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config)
    request = _ask(store, config, key)
    assert (request.approver_email, request.approver_user, request.approver_name) == (
        "rachel.kim@example.com", "rachel.kim@example.com", "Rachel Kim",
    )  # fmt: skip
    account = lifecycle.load(store, key)
    assert account.stage is Stage.APPROVALS and account.stage_owner_email == "rachel.kim@example.com"
    # Rachel owns the stage she decides in: a rejection goes to the account's named owner.
    assert request.escalate_to == "Sam Okafor"
    assert request.subject == "Deal desk sign-off on large SMB orders: Osprey *Freight* (SMB, NA)"
    assert request.body.startswith(r"### Osprey \*Freight\*")
    assert "**Decide by Fri 27 Nov 2026 10:00 (America/New_York)**" in request.body
    assert "expires Thu 10 Dec 2026 10:00 (America/New_York) (10 business days after it was asked)" in request.body
    assert "[https://osprey.example](https://osprey.example)" in request.body
    _ask(store, config, key)  # the same try asking again records nothing new
    (asked,) = _events(store, key, "approval.requested")
    assert asked["details"]["approver"] == "rachel.kim@example.com" and asked["details"]["try"] == 1


def test_nothing_is_asked_that_the_order_does_not_need_or_before_the_inputs_are_in(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    small = _account(store, sandbox, config, amount="9000")
    with pytest.raises(asking.NotNeeded, match="not needed"):
        _ask(store, config, small)
    waiting = _account(store, sandbox, config, verified=False)
    with pytest.raises(asking.InputsOutstanding, match="critical input 'billing_contact_email'"):
        _ask(store, config, waiting)
    assert lifecycle.load(store, waiting).stage is Stage.COLLECT_INPUTS


def test_an_approval_is_recorded_once_with_who_when_and_why_and_never_asked_again(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config)
    _ask(store, config, key)
    decision = _answer(store, config, key, True, comment="  Within policy ")
    assert (decision.approved, decision.by, decision.comment) == (True, "rachel.kim@example.com", "Within policy")
    _answer(store, config, key, True, comment="Within policy")  # Airflow resuming twice changes nothing
    row = store.query("SELECT status, decided_by, decided_at, comment FROM onboarding.approvals")[0]
    assert row == {"status": "approved", "decided_by": "rachel.kim@example.com",
                   "decided_at": ASKED + timedelta(hours=2), "comment": "Within policy"}  # fmt: skip
    (approved,) = _events(store, key, "approval.approved")
    assert approved["actor"] == "rachel.kim@example.com" and approved["details"]["answered_in"] == "airflow"
    assert lifecycle.unmet(store, key).all == []
    with pytest.raises(asking.AlreadyApproved, match="approved by rachel.kim@example.com"):
        _ask(store, config, key, attempt=2)  # a cleared run does not make her decide twice


def test_an_answer_from_anyone_but_the_assigned_approver_is_refused_and_not_counted(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config)
    _ask(store, config, key)
    with pytest.raises(answers.NotTheApprover, match="assigned to rachel.kim@example.com"):
        _answer(store, config, key, True, responder={"id": "admin", "name": "admin"})
    assert store.scalar("SELECT status FROM onboarding.approvals") == "pending"
    (refused,) = _events(store, key, "approval.refused")
    assert refused["actor"] == "admin" and refused["details"]["assigned_to"] == "rachel.kim@example.com"


def test_a_rejection_holds_the_gate_and_reaches_the_named_owner_with_the_approvers_words(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config)
    _ask(store, config, key)
    decision = _answer(store, config, key, False)
    assert decision.escalations
    unmet = lifecycle.unmet(store, key)
    assert unmet.inputs == []
    assert unmet.approvals == [
        "approval 'deal_desk' (Deal desk sign-off on large SMB orders) was rejected by rachel.kim@example.com: "
        + COMMENT
    ]
    (escalation,) = store.query("SELECT * FROM onboarding.escalations")
    assert escalation["kind"] == "approval_rejected" and escalation["notify_email"] == "sam.okafor@example.com"
    assert escalation["reason"] == (
        f"approval 'deal_desk' (Deal desk sign-off on large SMB orders) was rejected by Rachel Kim: “{COMMENT}”;"
        " setup stays blocked"
    )
    assert escalation["delivery_status"] == "delivered"
    (posted,) = sandbox.state.slack.messages("T0SANDBOX/B0SANDBOX/slack_onboarding_smb")
    assert COMMENT in str(posted["blocks"]) and "clear the task approve_deal_desk" in str(posted["blocks"])
    _answer(store, config, key, False)  # repeated: one escalation, one message
    assert store.scalar("SELECT count(*) FROM onboarding.escalations") == 1
    # Cleared and asked again: pending once more, the rejection kept in the audit trail.
    _ask(store, config, key, attempt=2)
    assert store.scalar("SELECT status FROM onboarding.approvals") == "pending"
    assert [e["event_type"] for e in _events(store, key)].count("approval.rejected") == 1


def test_an_expired_request_goes_to_the_silent_approvers_manager(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config)
    _ask(store, config, key)
    said = answers.expire(
        store, config, FixedClock(ASKED + timedelta(days=20)), key, "deal_desk", 1, "approve_deal_desk"
    )
    assert "no answer from rachel.kim@example.com within 10 business days" in said
    assert store.scalar("SELECT status FROM onboarding.approvals") == "pending"  # nobody decided
    (escalation,) = store.query("SELECT * FROM onboarding.escalations")
    assert escalation["kind"] == "approval_expired"
    assert escalation["notify_email"] == "dana.whitfield@example.com"  # Rachel's manager: she owns the stage
    assert "got no answer from Rachel Kim within 10 business days" in escalation["reason"]
    (expired,) = _events(store, key, "approval.expired")
    assert expired["details"]["expires_at"] == "2026-12-10T15:00:00+00:00"


def test_a_slack_notice_that_fails_is_recorded_and_fails_nothing(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config)
    op = OnboardingApprovalOperator(task_id="approve_deal_desk", approval_key="deal_desk", label="Deal desk")
    op.request = _ask(store, config, key)
    ti = SimpleNamespace(dag_id="onboarding_smb", run_id=f"onboarding__{key}", task_id=op.task_id, map_index=-1)
    sandbox.state.slack.set_enabled("T0SANDBOX/B0SANDBOX/slack_deal_desk", False)  # the webhook was revoked
    op.notifiers[0]({"task": op, "ti": ti})  # does not raise
    (failed,) = _events(store, key, "approval.notice_failed")
    assert "no_service" in failed["details"]["error"]
    assert failed["details"]["link"].endswith(f"/dags/onboarding_smb/runs/onboarding__{key}/tasks/approve_deal_desk"
                                              "/required_actions?map_index=-1")  # fmt: skip

    sandbox.state.slack.set_enabled("T0SANDBOX/B0SANDBOX/slack_deal_desk", True)
    op.request = _ask(store, config, key, attempt=2)
    op.notifiers[0]({"task": op, "ti": ti})
    (sent,) = _events(store, key, "approval.notice_sent")
    (message,) = sandbox.state.slack.messages("T0SANDBOX/B0SANDBOX/slack_deal_desk")
    button = message["blocks"][-1]["elements"][0]
    assert button["url"] == sent["details"]["link"] and "Required Actions" in button["text"]["text"]
