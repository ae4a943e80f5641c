"""Approvals as Airflow Human-in-the-loop tasks, under Airflow's own api-server and scheduler.

One stack for the module (its own PostgreSQL, sandbox and Airflow home, as in
``make demo``): four signed orders go through the real intake, the customers
answer at once, and each account's approval is asked of the approver for its
region.  They are answered through Airflow's REST API as the approvers
(``PATCH .../hitlDetails``), or in a real browser on the Required Actions page:

* someone who is not the region's approver is refused (403), and the approval
  by the approver opens the readiness gate;
* a rejection keeps the gate closed and escalates with the approver's words;
* a request nobody answers expires in business time and is escalated, even
  though the approver's Slack notice could not be delivered;
* each run carries the account as its note, kept current as the owner changes.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from include.onboarding.clock import AcceleratedClock
from include.onboarding.config import DEFAULT_CONFIG_DIR
from include.onboarding.store import Store, connect_dsn, migrate
from localstack import approvers, stack
from localstack.airflow_api import AirflowApi
from localstack.postgres import free_port
from tests.browser import CHROMEDRIVER, CHROMIUM, chromium, screenshot_folder
from tests.factories import deal_properties

SPEED = 720  # one business day (8 working hours) every 40 seconds
RACHEL = "rachel.kim@example.com"  # deal desk everywhere but EMEA here
NADIA = "nadia.ferris@example.com"  # deal desk in EMEA here; her Slack webhook is revoked
REJECTION = "A 40% discount is above policy; resend the order at list price or with CFO sign-off."


@dataclass
class Stack:
    api: AirflowApi
    store: Store
    sandbox_port: int
    base_url: str
    airflow_home: Path
    keys: dict[str, str] = field(default_factory=dict)

    def sandbox(self, method: str, path: str, body: object | None = None) -> Any:
        return stack.sandbox_call(self.sandbox_port, method, path, body)

    def password(self, user: str) -> str:
        return approvers.passwords(self.airflow_home)[user]

    def as_user(self, user: str) -> AirflowApi:
        return AirflowApi(self.base_url, user, self.password(user))


def _config(target: Path) -> Path:
    """The shipped configuration, with an EMEA deal desk whose Slack is down and a short partner approval."""
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    settings = yaml.safe_load((target / "settings.yaml").read_text())
    settings["people"].append(
        {
            "email": NADIA,
            "name": "Nadia Ferris",
            "slack_connection": "slack_nadia",
            "manager": "dana.whitfield@example.com",
        }
    )
    settings["roles"]["deal_desk"]["EMEA"] = NADIA
    (target / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    partner = yaml.safe_load((target / "tiers" / "partner.yaml").read_text())
    partner["approvals"][0]["timeout_business_days"] = 0.1  # 48 business minutes: four wall seconds
    (target / "tiers" / "partner.yaml").write_text(yaml.safe_dump(partner, sort_keys=False))
    return target


def _sign(s: Stack, clock: AcceleratedClock, name: str, **props: Any) -> str:
    props = deal_properties(closedate=clock.now().isoformat(), company_name=name, **props)
    deal = s.sandbox("POST", "/_sandbox/crm/deals", {"properties": props})
    return f"hubspot-{deal['id']}"


@pytest.fixture(scope="module")
def hitl_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("approvals")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("AIRFLOW", "ONBOARDING_")):
                mp.delenv(name)
        mp.setenv("ONBOARDING_LOCAL_DIR", str(tmp / "local"))
        mp.setenv("ONBOARDING_CONFIG_DIR", str(_config(tmp / "config")))
        mp.setenv("ONBOARDING_CACHE_DIR", str(tmp / "cache"))
        clock = AcceleratedClock(
            datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc), datetime.now(timezone.utc) + timedelta(seconds=40), SPEED
        )
        mp.setenv("ONBOARDING_CLOCK", clock.spec())
        try:
            dbs = stack.ensure_databases(fresh=True)
            with connect_dsn(dbs.onboarding_url) as conn:
                migrate(conn)
            port, _ = stack.start_sandbox(0, 7, 0.0)
            env = stack.airflow_service_env(stack.airflow_env(dbs, port), free_port())
            env["ONBOARDING_DATABASE_URL"] = dbs.onboarding_url
            stack.start_portal(env)  # the customers answer there, at once, from the links in their mail
            env.update(
                {
                    "ONBOARDING_INTAKE_SCHEDULE": "every 5s",
                    "ONBOARDING_POKE_SECONDS": "2",
                    "ONBOARDING_RETRY_DELAY_SECONDS": "2",
                    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                    "AIRFLOW__CORE__PARALLELISM": "6",
                    "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
                }
            )
            api = stack.bring_up_airflow(env, {"onboarding_intake", "onboarding_smb", "onboarding_partner"})
            with connect_dsn(dbs.onboarding_url) as conn:
                s = Stack(api, Store(conn), port, env["AIRFLOW__API__BASE_URL"], Path(env["AIRFLOW_HOME"]))
                s.sandbox(
                    "POST", "/_sandbox/slack/webhooks", {"webhook": "T0SANDBOX/B0SANDBOX/slack_nadia", "enabled": False}
                )
                large = {"onboarding_tier": "smb", "segment": "commercial", "amount": "30000.00", "region": "NA"}
                s.keys = {
                    "approved": _sign(s, clock, "Kestrel Analytics", **large),
                    "rejected": _sign(s, clock, "Osprey Freight", **large),
                    "browser": _sign(s, clock, "Heron *Labs* [EU]", **large),
                    "expires": _sign(
                        s, clock, "Plover Systems", onboarding_tier="partner", segment="channel", amount="30000.00",
                        partner_name="Globex Resellers", region="EMEA", company_domain="plover.co.uk",
                    ),
                }  # fmt: skip
                for dag_id in ("onboarding_intake", "onboarding_smb", "onboarding_partner"):
                    api.set_paused(dag_id, False)
                yield s
        finally:
            stack.stop()


def _until(what: str, check: Callable[[], Any], timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(1)


def _run(key: str) -> str:
    return f"onboarding__{key}"


def _request(s: Stack, dag_id: str, key: str, waiting: bool = True) -> dict[str, Any]:
    """The approval request of the account's run: once its task waits in awaiting_input, or in any state."""
    query = "?state=awaiting_input&response_received=false" if waiting else ""

    def found() -> dict[str, Any] | None:
        details = s.api.call("GET", f"/dags/{dag_id}/dagRuns/{quote(_run(key))}/hitlDetails{query}")["hitl_details"]
        return details[0] if details else None

    request = dict(_until(f"the approval request of {key}", found))
    if waiting:
        # People take a few seconds to answer; Airflow 3.3.2 can fail a task answered within a second or two
        # of parking, while the scheduler is still processing its exit (see localstack.approvers).
        time.sleep(approvers.ANSWER_AFTER_SECONDS)
    return request


def _hitl_path(dag_id: str, key: str, task_id: str = "approve_deal_desk") -> str:
    return f"/dags/{dag_id}/dagRuns/{quote(_run(key))}/taskInstances/{task_id}/-1/hitlDetails"


def _answer(api: AirflowApi, dag_id: str, key: str, option: str, comment: str = "") -> Any:
    return api.call(
        "PATCH", _hitl_path(dag_id, key), {"chosen_options": [option], "params_input": {"comment": comment}}
    )


def _task_state(s: Stack, dag_id: str, key: str, task_id: str) -> str | None:
    ti = s.api.call("GET", f"/dags/{dag_id}/dagRuns/{quote(_run(key))}/taskInstances/{task_id}")
    return ti.get("state")


def _events(s: Stack, key: str) -> list[dict[str, Any]]:
    return s.store.events_for(key)


def test_the_run_carries_the_account_as_its_note(hitl_stack: Stack) -> None:
    s = hitl_stack
    key = s.keys["approved"]
    run = _until(
        "the run", lambda: s.store.scalar("SELECT run_id FROM onboarding.onboardings WHERE onboarding_key = %s", (key,))
    )
    note = _until("the note", lambda: s.api.call("GET", f"/dags/onboarding_smb/dagRuns/{quote(run)}")["note"])
    assert "**Kestrel Analytics** · SMB · NA" in note
    assert "Onboarding owner: Sam Okafor" in note
    target = s.store.scalar("SELECT activation_target FROM onboarding.onboardings WHERE onboarding_key = %s", (key,))
    assert f"Activation target: {target:%a %d %b %Y}" in note
    # Once the account waits on the deal desk, the note names its new owner.
    _request(s, "onboarding_smb", key)
    note = s.api.call("GET", f"/dags/onboarding_smb/dagRuns/{quote(run)}")["note"]
    assert "Owner now: Rachel Kim (approvals)" in note
    # A CRM name is shown as text, never as markup.
    browser_run = _run(s.keys["browser"])
    marked = _until("the note", lambda: s.api.call("GET", f"/dags/onboarding_smb/dagRuns/{quote(browser_run)}")["note"])
    assert marked.startswith(r"**Heron \*Labs\* \[EU\]**")


def test_only_the_regions_approver_may_answer_and_the_approval_opens_the_gate(hitl_stack: Stack) -> None:
    s = hitl_stack
    key = s.keys["approved"]
    request = _request(s, "onboarding_smb", key)
    assert request["assigned_users"] == [{"id": RACHEL, "name": "Rachel Kim"}]
    assert request["subject"] == "Deal desk sign-off on large SMB orders: Kestrel Analytics (SMB, NA)"
    body = request["body"]
    assert "### Kestrel Analytics" in body and "30,000.00 USD" in body
    assert "the approvals stage's SLA is 1 business day" in body and "expires" in body
    assert "**Billing contact email** (critical): verified" in body
    assert "[https://" in body  # the company website the customer gave, as a link
    # The approver heard about it on Slack, with a button to the task's Required Actions page.
    notices = s.sandbox("GET", "/_sandbox/slack/messages?webhook=T0SANDBOX/B0SANDBOX/slack_deal_desk")
    buttons = [e["url"] for m in notices for b in m["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert any(f"/runs/{_run(key)}/tasks/approve_deal_desk/required_actions" in url for url in buttons)

    for outsider in ("admin", "tomas.novak@example.com"):  # the admin, and the security reviewer
        api = s.api if outsider == "admin" else s.as_user(outsider)
        with pytest.raises(RuntimeError, match="HTTP 403"):
            _answer(api, "onboarding_smb", key, "Approve", "I am not the deal desk")
    _answer(s.as_user(RACHEL), "onboarding_smb", key, "Approve", "Terms within policy")
    with pytest.raises(RuntimeError, match="HTTP 409"):  # answered once, for good
        _answer(s.as_user(RACHEL), "onboarding_smb", key, "Reject", "changed my mind")

    _until("the gate to pass", lambda: _task_state(s, "onboarding_smb", key, "readiness_gate") == "success")
    row = s.store.query(
        """SELECT a.status, a.decided_by, a.decided_at, a.comment FROM onboarding.approvals a
           JOIN onboarding.onboardings o ON o.id = a.onboarding_id WHERE o.onboarding_key = %s""",
        (key,),
    )[0]
    assert (row["status"], row["decided_by"], row["comment"]) == ("approved", RACHEL, "Terms within policy")
    approved = [e for e in _events(s, key) if e["event_type"] == "approval.approved"]
    assert len(approved) == 1 and approved[0]["actor"] == RACHEL
    assert approved[0]["occurred_at"] == row["decided_at"]
    assert approved[0]["details"]["comment"] == "Terms within policy"
    assert "gate.passed" in {e["event_type"] for e in _events(s, key)}


def test_a_rejection_holds_the_gate_and_escalates_with_the_approvers_words(hitl_stack: Stack) -> None:
    s = hitl_stack
    key = s.keys["rejected"]
    _request(s, "onboarding_smb", key)
    _answer(s.as_user(RACHEL), "onboarding_smb", key, "Reject", REJECTION)

    _until("the gate to stay closed", lambda: _task_state(s, "onboarding_smb", key, "readiness_gate") == "failed")
    assert _task_state(s, "onboarding_smb", key, "approve_deal_desk") == "success"  # answered: the task did its job
    _until(
        "setup to be held", lambda: _task_state(s, "onboarding_smb", key, "setup_billing_profile") == "upstream_failed"
    )
    blocked = s.store.scalar("SELECT blocked_reason FROM onboarding.onboardings WHERE onboarding_key = %s", (key,))
    assert f"was rejected by {RACHEL}: {REJECTION}" in blocked
    escalated = s.store.query(
        """SELECT e.kind, e.notify_email, e.reason, e.details, e.delivery_status FROM onboarding.escalations e
           JOIN onboarding.onboardings o ON o.id = e.onboarding_id WHERE o.onboarding_key = %s""",
        (key,),
    )
    (rejection,) = [e for e in escalated if e["kind"] == "approval_rejected"]
    # Rachel owns the approvals stage and rejected it herself: the account's named owner takes it up.
    assert rejection["notify_email"] == "sam.okafor@example.com"
    assert REJECTION in rejection["reason"] and "Rachel Kim" in rejection["reason"]
    assert rejection["delivery_status"] == "delivered"
    assert "clear the task approve_deal_desk" in rejection["details"]["fix"]
    assert not [e for e in escalated if e["kind"] == "failure"]  # the gate did not tell them a second time
    posted = s.sandbox("GET", "/_sandbox/slack/messages?webhook=T0SANDBOX/B0SANDBOX/slack_onboarding_smb")
    assert any(REJECTION in str(m["blocks"]) for m in posted)
    types = [e["event_type"] for e in _events(s, key)]
    assert "approval.rejected" in types and "gate.blocked" in types and "gate.passed" not in types


def test_an_unanswered_approval_expires_in_business_time_and_escalates(hitl_stack: Stack) -> None:
    s = hitl_stack
    key = s.keys["expires"]
    request = _request(s, "onboarding_partner", key, waiting=False)  # it may have expired already
    assert request["assigned_users"] == [{"id": NADIA, "name": "Nadia Ferris"}]
    # Her Slack webhook is revoked: the notice failed, was recorded, and the request waits all the same.
    failed = _until(
        "the failed notice",
        lambda: [e for e in _events(s, key) if e["event_type"] == "approval.notice_failed"],
    )
    assert "404" in failed[0]["details"]["error"] or "no_service" in failed[0]["details"]["error"]

    _until("the approval to expire", lambda: _task_state(s, "onboarding_partner", key, "approve_deal_desk") == "failed")
    _until("the gate", lambda: _task_state(s, "onboarding_partner", key, "readiness_gate") == "failed")
    escalated = s.store.query(
        """SELECT e.kind, e.notify_email, e.reason, e.delivery_status FROM onboarding.escalations e
           JOIN onboarding.onboardings o ON o.id = e.onboarding_id WHERE o.onboarding_key = %s""",
        (key,),
    )
    (expiry,) = [e for e in escalated if e["kind"] == "approval_expired"]
    # Nadia owns the approvals stage in EMEA and is the one who did not answer: her manager hears it.
    assert expiry["notify_email"] == "dana.whitfield@example.com"
    assert "got no answer from Nadia Ferris within 0.1 business days" in expiry["reason"]
    assert expiry["delivery_status"] == "delivered"
    assert not [e for e in escalated if e["kind"] == "failure"]
    expired = [e for e in _events(s, key) if e["event_type"] == "approval.expired"]
    requested = [e for e in _events(s, key) if e["event_type"] == "approval.requested"]
    assert len(expired) == 1 and len(requested) == 1
    # Expired when 0.1 business days of London working time had passed since the request, not before.
    asked_at, expires_at = requested[0]["occurred_at"], datetime.fromisoformat(requested[0]["details"]["expires_at"])
    assert expires_at > asked_at and expired[0]["occurred_at"] >= expires_at - timedelta(minutes=30)
    status = s.store.scalar(
        """SELECT a.status FROM onboarding.approvals a JOIN onboarding.onboardings o ON o.id = a.onboarding_id
           WHERE o.onboarding_key = %s""",
        (key,),
    )
    assert status == "pending"  # nobody decided

    # She answers late, on the request's page: Airflow records it, but the failed task cannot resume. Clearing
    # the readiness gate finds the answer in Airflow's record, counts it and opens the gate.
    _answer(s.as_user(NADIA), "onboarding_partner", key, "Approve", "Sorry, I was away")
    s.api.call(
        "POST",
        "/dags/onboarding_partner/clearTaskInstances",
        {"dry_run": False, "dag_run_id": _run(key), "task_ids": ["readiness_gate"], "include_downstream": True,
         "only_failed": False, "reset_dag_runs": True},
    )  # fmt: skip
    _until("the gate to pass", lambda: _task_state(s, "onboarding_partner", key, "readiness_gate") == "success")
    late = s.store.query(
        """SELECT a.status, a.decided_by, a.comment FROM onboarding.approvals a
           JOIN onboarding.onboardings o ON o.id = a.onboarding_id WHERE o.onboarding_key = %s""",
        (key,),
    )[0]
    assert late == {"status": "approved", "decided_by": NADIA, "comment": "Sorry, I was away"}


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs chromium and chromedriver (apt-get install -y chromium chromium-driver; `make test` does)")
    with chromium(1400, 1100) as driver:
        yield driver


def _shot(driver: Any, tmp_path: Path, name: str) -> Path:
    """A screenshot in ``APPROVALS_SCREENSHOTS`` (a folder) when set, else in the test's temporary folder."""
    path = screenshot_folder("APPROVALS_SCREENSHOTS", tmp_path) / f"approvals-{name}.png"
    driver.save_screenshot(str(path))
    return path


def test_the_approver_approves_in_the_airflow_ui_and_the_run_passes_its_gate(
    hitl_stack: Stack, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    s = hitl_stack
    key = s.keys["browser"]
    _request(s, "onboarding_smb", key)
    wait = WebDriverWait(browser, 60)

    browser.get(f"{s.base_url}/auth/login")
    browser.find_element(By.NAME, "username").send_keys(RACHEL)
    browser.find_element(By.NAME, "password").send_keys(s.password(RACHEL))
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "/auth/login" not in d.current_url)

    # Browse -> Required Actions lists what waits for her; the request opens on its task's page.
    browser.get(f"{s.base_url}/required_actions")
    page = f"/runs/{_run(key)}/tasks/approve_deal_desk/required_actions"
    request = wait.until(
        lambda d: next((a for a in d.find_elements(By.TAG_NAME, "a")
                        if (a.get_attribute("href") or "").endswith(page) and "Heron" in a.text), None)
    )  # fmt: skip
    request.click()
    wait.until(expected_conditions.visibility_of_element_located((By.XPATH, "//h3[contains(., 'Heron *Labs* [EU]')]")))
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "What to check: 3 of 3 checklist items verified" in text
    assert "Decide by" in text and "the approvals stage's SLA is 1 business day" in text
    browser.find_element(By.ID, "element_comment").send_keys("Within policy; evidence checked")
    _shot(browser, tmp_path, "required-action")
    approve = browser.find_element(By.XPATH, "//button[normalize-space()='Approve']")
    wait.until(lambda d: approve.is_enabled())
    approve.click()

    _until("the gate to pass", lambda: _task_state(s, "onboarding_smb", key, "readiness_gate") == "success")
    browser.get(f"{s.base_url}/dags/onboarding_smb/runs/{_run(key)}")
    wait.until(expected_conditions.visibility_of_element_located((By.XPATH, "//*[contains(., 'Heron')]")))
    time.sleep(2)  # the grid fills in
    _shot(browser, tmp_path, "gate-passed")
    decided = s.store.query(
        """SELECT a.status, a.decided_by, a.comment FROM onboarding.approvals a
           JOIN onboarding.onboardings o ON o.id = a.onboarding_id WHERE o.onboarding_key = %s""",
        (key,),
    )[0]
    assert decided == {"status": "approved", "decided_by": RACHEL, "comment": "Within policy; evidence checked"}
    assert "gate.passed" in {e["event_type"] for e in _events(s, key)}
