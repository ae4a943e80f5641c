"""Per-tier onboarding runs end to end with ``dag.test()``: the real task runner,
real PostgreSQL, the customer portal, the sandbox's SMTP server, Jira, Stripe,
SCIM and Slack over HTTP.

The simulated customer reads the invitation from the SMTP server, opens its
magic link and answers in the portal; an ops person (a thread here) answers the
approval requests as the approvers they are assigned to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from include.onboarding import intake, lifecycle
from include.onboarding.clock import SystemClock
from include.onboarding.config import load_config
from include.onboarding.store import Store
from tests.factories import deal_properties
from tests.test_intake import pickup

DAGS = Path(__file__).resolve().parents[1] / "dags"
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


def _signed(store: Store, sandbox: Any, behaviour: str = "prompt", **props: Any) -> str:
    """Put one signed order in the CRM, pick it up, return its onboarding key.

    The order's contact answers the invitation in the portal as ``behaviour`` says.
    """
    properties = deal_properties(**props)
    sandbox.state.customers.set_behaviour(behaviour, properties["primary_contact_email"])
    deal = sandbox.state.upsert_deal(properties)
    # The runs that follow use the system clock too.
    pickup(store, load_config(), f"pickup-{deal['id']}", clock=SystemClock())
    return f"hubspot-{deal['id']}"


@pytest.fixture
def ops(database_url: str) -> Iterator[list[str]]:
    """An ops person answering every approval request as its assigned approver, as soon as it appears.

    ``dag.test()`` cannot answer a Human-in-the-loop request itself; this records the answer and resumes
    the task the way Airflow's ``PATCH .../hitlDetails`` handler does, in the metadata database that
    ``dag.test()`` runs on.  Who may answer is checked by the api-server (see test_approvals_airflow).
    """
    stop = threading.Event()
    decided: list[str] = []

    def work() -> None:
        from airflow._shared.timezones import timezone
        from airflow.models.taskinstance import TaskInstance
        from airflow.models.trigger import handle_event_submit
        from airflow.triggers.base import TriggerEvent
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState
        from sqlalchemy import select
        from sqlalchemy.orm import joinedload

        while not stop.is_set():
            with create_session() as session:
                waiting = session.scalars(
                    select(TaskInstance)
                    .where(TaskInstance.state == TaskInstanceState.AWAITING_INPUT)
                    .options(joinedload(TaskInstance.hitl_detail), joinedload(TaskInstance.dag_run))
                ).all()
                for ti in waiting:
                    detail = ti.hitl_detail
                    detail.responded_by = dict(detail.assigned_users[0])
                    detail.responded_at = timezone.utcnow()
                    detail.chosen_options = ["Approve"]
                    detail.params_input = {"comment": "checked"}
                    session.add(detail)
                    handle_event_submit(
                        TriggerEvent(detail.as_resume_event_payload()), task_instance=ti, session=session
                    )
                    decided.append(f"{ti.dag_run.conf['onboarding_key']}:{ti.task_id.removeprefix('approve_')}")
            time.sleep(0.2)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield decided
    stop.set()
    thread.join(timeout=5)


def _run(tier: str, key: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS)).dags[f"onboarding_{tier}"]
    # dag.test() in Airflow 3.3.2 fails a successful run of a DAG with deadline alerts while
    # pruning them; the alerts themselves are tested through the scheduler path in test_deadlines.
    dag.deadline = None
    run_id = intake.run_id_for(key)
    return dag.test(run_conf={"onboarding_key": key}, logical_date=None, run_after=None), run_id


def _ledger_for(sandbox: Any, key: str, store: Store) -> dict[str, int]:
    ledger = sandbox.state.ledger()
    contact = lifecycle.load(store, key).primary_contact_email
    return {
        "issues": sum(1 for i in ledger["ticketing"]["issues"] if any(key in label for label in i["labels"])),
        "customers": sum(1 for c in ledger["billing"]["customers"] if c["onboarding_key"] == key),
        "users": sum(1 for u in ledger["provisioning"]["users"] if u["externalId"] and u["externalId"].startswith(key)),
        "tenants": sum(1 for t in ledger["provisioning"]["tenants"] if t["external_id"] == key),
        "sso": len(ledger["provisioning"]["sso_connections"]),
        "live_notices": sum(1 for m in sandbox.mail.messages(contact) if m.subject.endswith(" is live")),
    }


def _events(store: Store, key: str) -> list[str]:
    return [e["event_type"] for e in store.events_for(key)]


def test_enterprise_happy_path_goes_live_with_one_of_everything(
    airflow_db: None, store: Store, sandbox: Any, portal: str, ops: list[str]
) -> None:
    sandbox.state.provisioning.provision_seconds = 0.5
    key = _signed(store, sandbox, region="EMEA", company_domain="northwind.co.uk")

    run, _ = _run("enterprise", key)

    assert run.state == "success"
    row = store.query("SELECT status, stage, post_owner_email, live_at FROM onboarding.onboardings")[0]
    assert row["status"] == "live" and row["stage"] == "live"
    assert row["post_owner_email"] == "carla.mendes@example.com"
    assert sorted(ops) == [f"{key}:deal_desk", f"{key}:security_review"]
    # One ticket and its kickoff sub-task, one billing customer, one tenant, one admin user, one notice.
    assert _ledger_for(sandbox, key, store) == {
        "issues": 2, "customers": 1, "users": 1, "tenants": 1, "sso": 0, "live_notices": 1,
    }  # fmt: skip
    trail = _events(store, key)
    for expected in (
        "onboarding.created", "checklist.planned", "checklist.requested", "input.verified", "approval.approved",
        "gate.passed", "setup.step_completed", "provisioning.done", "setup.completed", "customer.notified",
        "ownership.handed_off", "handoff.announced", "onboarding.live",
    ):  # fmt: skip
        assert expected in trail, expected
    # Every stage had a named owner, in lifecycle order.
    history = store.query("SELECT stage, owner_email FROM onboarding.stage_history ORDER BY entered_at, id")
    assert [h["stage"] for h in history] == [
        "intake", "collect_inputs", "approvals", "setup", "provisioning", "customer_communication", "handoff", "live",
    ]  # fmt: skip
    assert all(h["owner_email"] for h in history)
    assert history[3]["owner_email"] == "jonas.lind@example.com"  # EMEA implementation lead
    # The new owner heard about it on their own Slack webhook.
    posted = sandbox.state.slack.messages()
    assert any("northwind" in m["text"].lower() or key in m["text"] for m in posted)


def test_an_sso_account_gets_the_extra_item_and_step(
    airflow_db: None, store: Store, sandbox: Any, portal: str, ops: list[str]
) -> None:
    sandbox.state.provisioning.provision_seconds = 0.2
    key = _signed(
        store, sandbox, onboarding_tier="smb", segment="commercial", addons="sso", amount="9000",
        company_domain="kestrel-sso.com",
    )  # fmt: skip

    run, _ = _run("smb", key)

    assert run.state == "success"
    items = [r["item_key"] for r in store.query("SELECT item_key FROM onboarding.checklist_items")]
    assert "sso_metadata" in items
    steps = {r["step_key"]: r["status"] for r in store.query("SELECT step_key, status FROM onboarding.setup_steps")}
    assert steps["sso_connection"] == "done"
    assert _ledger_for(sandbox, key, store)["sso"] == 1
    assert ops == []  # an SMB order under 25k needs no deal desk


def test_an_invalid_input_is_rejected_with_a_reason_then_corrected(
    airflow_db: None, store: Store, sandbox: Any, portal: str, ops: list[str]
) -> None:
    sandbox.state.provisioning.provision_seconds = 0.2
    key = _signed(
        store, sandbox, "invalid_then_correct", onboarding_tier="partner", segment="channel", partner_name="Kestrel IT"
    )

    run, _ = _run("partner", key)

    assert run.state == "success"
    verdicts = store.query(
        "SELECT verdict, reason FROM onboarding.submissions WHERE item_key = 'partner_contact_email' ORDER BY id"
    )
    assert [v["verdict"] for v in verdicts] == ["rejected", "verified"]
    assert verdicts[0]["reason"]  # a reason the customer can act on
    # The customer read the reason on the page that answered the submission, and corrected it there.
    tries = [a for a in sandbox.state.customers.ledger() if a.get("item") == "partner_contact_email"]
    assert [t["verdict"] for t in tries] == ["rejected", "verified"]
    assert tries[0]["reason"] == verdicts[0]["reason"]
    assert "mail.sent" in _events(store, key)  # the invitation that brought them


def test_a_missing_critical_input_holds_the_gate_and_nothing_is_set_up(
    airflow_db: None, store: Store, sandbox: Any, portal: str, ops: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONBOARDING_INPUT_TIMEOUT_SECONDS", "4")
    # The customer answers only the nice-to-have items.
    key = _signed(store, sandbox, "partial", onboarding_tier="smb", segment="commercial", amount="9000")

    run, _ = _run("smb", key)

    assert run.state == "failed"
    row = store.query("SELECT status, blocked_reason FROM onboarding.onboardings")[0]
    assert row["status"] == "open"
    assert "critical input 'billing_contact_email'" in row["blocked_reason"]
    assert "gate.blocked" in _events(store, key)
    assert "gate.passed" not in _events(store, key)
    assert _ledger_for(sandbox, key, store) == {
        "issues": 0, "customers": 0, "users": 0, "tenants": 0, "sso": 0, "live_notices": 0,
    }  # fmt: skip
    assert store.scalar("SELECT count(*) FROM onboarding.setup_steps WHERE status = 'done'") == 0
    # The sensors that gave up on the customer and the gate that could not open escalated to
    # the owner of the stage, with the cause, and the owner was told on Slack.
    failures = store.query("SELECT * FROM onboarding.escalations WHERE kind = 'failure' ORDER BY id")
    # Every item sensor timed out; the owner hears it once, with everything still missing.
    (timed_out,) = [f for f in failures if f["details"]["task"].startswith("wait_for_input[")]
    (gate,) = [f for f in failures if f["details"]["task"] == "readiness_gate"]
    assert timed_out["notify_email"] == "sam.okafor@example.com" and timed_out["stage"] == "collect_inputs"
    assert "gave up waiting for the customer's input" in timed_out["reason"]
    assert "Billing contact email (missing)" in timed_out["details"]["blocking"]
    assert "critical input 'billing_contact_email'" in gate["reason"]
    assert all(f["delivery_status"] == "delivered" for f in failures)
    posted = sandbox.state.slack.messages("T0SANDBOX/B0SANDBOX/slack_onboarding_smb")
    assert len(posted) == 2 and any("Billing contact email" in str(m["blocks"]) for m in posted)
    assert "escalation.raised" in _events(store, key)


def test_a_setup_step_the_api_refuses_escalates_to_the_setup_owner_with_the_api_text(
    airflow_db: None,
    store: Store,
    sandbox: Any,
    portal: str,
    ops: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import shutil

    from include.onboarding.config import DEFAULT_CONFIG_DIR

    # A Jira project that does not exist: Jira answers 400 and retrying would only repeat it.
    config_dir = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config_dir)
    settings = config_dir / "settings.yaml"
    settings.write_text(settings.read_text().replace("ticket_project: ONB", "ticket_project: NOPE"))
    monkeypatch.setenv("ONBOARDING_CONFIG_DIR", str(config_dir))
    sandbox.state.provisioning.provision_seconds = 0.2
    key = _signed(store, sandbox)

    run, _ = _run("enterprise", key)

    assert run.state == "failed"
    (failure,) = store.query("SELECT * FROM onboarding.escalations WHERE kind = 'failure'")
    assert failure["details"]["task"] == "setup_implementation_ticket"
    assert failure["stage"] == "setup" and failure["notify_email"] == "aisha.bello@example.com"  # NA implementation
    assert "setup step 'implementation_ticket' failed" in failure["reason"] and "400" in failure["reason"]
    assert "project" in failure["reason"].lower()  # Jira's own words
    assert failure["delivery_status"] == "delivered"
    # Refused once, escalated once: no retries of a 4xx.
    posts = [r for r in sandbox.state.requests("ticketing") if r["method"] == "POST"]
    assert len(posts) == 1
