"""Setup calls happen exactly once per account, whatever fails around them.

Library-level tests of the steps the tier DAG runs: real PostgreSQL, the
sandbox's Jira, Stripe and SCIM over HTTP, faults injected by the sandbox.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from include.onboarding import checklist, intake, lifecycle, runtime, setup_steps
from include.onboarding.clients.http import ApiClient, ApiError
from include.onboarding.clock import SystemClock
from include.onboarding.config import Stage, StepKind, load_config
from include.onboarding.store import Store
from include.onboarding.validators import AccountContext, DocumentMeta, Submission
from tests.factories import deal_properties, move_to
from tests.test_intake import pickup

NOW = datetime.now(timezone.utc)
PORTAL_SECRET = b"setup-tests-portal-secret-0123456789abcdef"


def _client_for(conn_id: str) -> ApiClient:
    return ApiClient(
        conn_id, system=runtime.SYSTEMS.get(conn_id, conn_id), max_attempts=4, backoff_base=0.01, timeout=3
    )


def _ready_account(store: Store, sandbox: Any, **props: Any) -> str:
    """An account past its readiness gate: picked up, planned, inputs verified, approvals given."""
    config = load_config()
    deal = sandbox.state.upsert_deal(deal_properties(**props))
    pickup(store, config, f"b-{deal['id']}", clock=SystemClock())
    key = f"hubspot-{deal['id']}"
    lifecycle.plan(store, config, key, NOW, "test")
    store.conn.execute("UPDATE onboarding.checklist_items SET status = 'verified'")
    store.conn.execute("UPDATE onboarding.approvals SET status = 'approved', decided_by = 'rachel.kim@example.com'")
    move_to(store, config, key, Stage.COLLECT_INPUTS, NOW, "test", "checklist sent")
    return key


def _run(store: Store, key: str, step: str, config: Any = None) -> str | None:
    return setup_steps.run_step(store, config or load_config(), key, step, _client_for, NOW)


def _count(sandbox: Any, system: str, what: str, key: str) -> int:
    rows = sandbox.state.ledger()[system][what]
    return sum(1 for r in rows if key in str(r))


def _fault(sandbox: Any, system: str, **plan: Any) -> None:
    from sandbox.faults import FaultPlan

    sandbox.state.set_faults(system, FaultPlan(**plan))


def _with_runs(**runs: Any) -> Any:
    config = load_config()
    settings = config.settings.model_copy(update={"runs": config.settings.runs.model_copy(update=runs)})
    return config.model_copy(update={"settings": settings})


def _lagging_search(sandbox: Any) -> Any:
    """Jira's and Stripe's search lag behind their creates, as both vendors document."""
    sandbox.state.ticketing.search_delay_seconds = 1.0
    sandbox.state.billing.search_delay_seconds = 60.0
    return _with_runs(ticket_search_lag_seconds=2.0)


def _prepare(store: Store, sandbox: Any, key: str, step: str, config: Any) -> None:
    """Run the steps ``step`` depends on (enterprise tier)."""
    for before in {"tenant": ["billing_profile"], "admin_access": ["billing_profile", "tenant"]}.get(step, []):
        _run(store, key, before, config)


PARTNER = {"onboarding_tier": "partner", "partner_name": "Globex", "segment": "channel"}

CREATES = {
    "implementation_ticket": ("ticketing", "issues", "/rest/api/3/issue"),
    "billing_profile": ("billing", "customers", "/v1/customers"),
    "tenant": ("provisioning", "tenants", "/api/v1/tenants"),
    "admin_access": ("provisioning", "users", "/scim/v2/Users"),
}


def test_a_retried_or_cleared_step_creates_one_ticket_one_customer_one_user(store: Store, sandbox: Any) -> None:
    key = _ready_account(store, sandbox)
    for _ in range(3):  # the task retried, then cleared and run again
        ticket = _run(store, key, "implementation_ticket")
        customer = _run(store, key, "billing_profile")
        tenant = _run(store, key, "tenant")
        user = _run(store, key, "admin_access")
    assert ticket and customer and tenant and user
    assert _count(sandbox, "ticketing", "issues", key) == 1
    assert _count(sandbox, "billing", "customers", key) == 1
    assert _count(sandbox, "provisioning", "tenants", key) == 1
    assert len(sandbox.state.ledger()["provisioning"]["users"]) == 1
    done = store.query("SELECT step_key, external_id FROM onboarding.setup_steps WHERE status = 'done'")
    assert {r["step_key"]: r["external_id"] for r in done}["billing_profile"] == customer


@pytest.mark.parametrize("step", list(CREATES))
def test_a_worker_killed_after_the_api_succeeded_creates_nothing_twice(store: Store, sandbox: Any, step: str) -> None:
    key = _ready_account(store, sandbox)
    config = _lagging_search(sandbox)
    _prepare(store, sandbox, key, step, config)
    ob = lifecycle.load(store, key)
    tier_step = next(s for s in config.tiers[ob.tier].setup_steps if s.key == step)
    # The API call succeeds, then the worker dies before the store hears of it.
    setup_steps._call(store, config, ob, tier_step, f"{key}:{step}", _client_for)
    assert store.scalar("SELECT status FROM onboarding.setup_steps WHERE step_key = %s", (step,)) == "pending"

    external_id = _run(store, key, step, config)  # the retry, while search does not show the object yet

    ledger = sandbox.state.ledger()
    created = {
        "implementation_ticket": len(ledger["ticketing"]["issues"]),
        "billing_profile": len(ledger["billing"]["customers"]),
        # (tenant and admin_access ran billing_profile first: one customer either way)
        "tenant": len(ledger["provisioning"]["tenants"]),
        "admin_access": len(ledger["provisioning"]["users"]),
    }
    assert created[step] == 1
    assert external_id and store.scalar("SELECT external_id FROM onboarding.setup_steps WHERE step_key = %s", (step,))


def test_rate_limits_server_errors_timeouts_and_garbage_are_retried(store: Store, sandbox: Any) -> None:
    key = _ready_account(store, sandbox)
    _fault(sandbox, "billing", rate_limit=1, retry_after=1, server_error=1, malformed_json=1)
    assert _run(store, key, "billing_profile")
    statuses = [r["status"] for r in sandbox.state.requests("billing")]
    assert statuses[:3] == [429, 500, 200]  # then the garbled 200, then the good answer
    assert len(sandbox.state.ledger()["billing"]["customers"]) == 1


@pytest.mark.parametrize("fault", ["lost_after_commit", "dropped_after_commit", "garbled_after_commit"])
@pytest.mark.parametrize("step", list(CREATES))
def test_an_answer_lost_after_the_vendor_committed_creates_nothing_twice(
    store: Store, sandbox: Any, step: str, fault: str
) -> None:
    """A gateway 502, a connection cut mid-answer, or a cut-off body after the create took effect."""
    key = _ready_account(store, sandbox)
    config = _lagging_search(sandbox)
    _prepare(store, sandbox, key, step, config)
    system, what, path = CREATES[step]
    _fault(sandbox, system, **{fault: 1})

    external_id = _run(store, key, step, config)

    created = sandbox.state.ledger()[system][what]
    assert len(created) == 1
    assert external_id in str(created[0])
    posts = [r for r in sandbox.state.requests(system) if r["method"] == "POST" and r["path"] == path]
    # Jira (no idempotency key): found by look-up, never sent again; the others re-send the same request safely.
    assert len(posts) == (1 if step == "implementation_ticket" else 2)


def test_a_create_lost_every_time_gives_up_without_duplicates_and_the_retry_adopts_it(
    store: Store, sandbox: Any
) -> None:
    key = _ready_account(store, sandbox)
    config = _lagging_search(sandbox)
    sandbox.state.ticketing.search_delay_seconds = 30.0  # longer than the configured lag: the look-up misses it
    _fault(sandbox, "ticketing", lost_after_commit=5)

    with pytest.raises(ApiError, match="answer was lost 3 times") as excinfo:
        _run(store, key, "implementation_ticket", config)
    assert excinfo.value.retryable
    assert len(sandbox.state.ledger()["ticketing"]["issues"]) == setup_steps.MAX_SENDS

    # Once search catches up, the task's retry adopts an issue and sends nothing.
    sandbox.state.ticketing.search_delay_seconds = 0.0
    posts = len([r for r in sandbox.state.requests("ticketing") if r["method"] == "POST"])
    assert _run(store, key, "implementation_ticket", config)
    assert len([r for r in sandbox.state.requests("ticketing") if r["method"] == "POST"]) == posts


@pytest.mark.parametrize("step", list(CREATES))
def test_a_create_answered_without_its_id_fails_naming_it_and_the_retry_adopts_the_object(
    store: Store, sandbox: Any, step: str
) -> None:
    key = _ready_account(store, sandbox)
    _prepare(store, sandbox, key, step, load_config())
    system, what, path = CREATES[step]
    id_field = "key" if step == "implementation_ticket" else "id"
    # Where a look-up precedes the create, it is answered first (its answer has no such field to lose).
    _fault(sandbox, system, incomplete=1 if step == "admin_access" else 2, incomplete_field=id_field)

    with pytest.raises(ApiError, match=f"answered without '{id_field}'") as missing:
        _run(store, key, step)
    assert missing.value.retryable  # the task retries
    row = store.query("SELECT status, last_error FROM onboarding.setup_steps WHERE step_key = %s", (step,))[0]
    assert row["status"] == "failed" and id_field in row["last_error"]

    external_id = _run(store, key, step)

    created = sandbox.state.ledger()[system][what]
    assert len(created) == 1 and external_id in str(created[0])
    posts = [r for r in sandbox.state.requests(system) if r["method"] == "POST" and r["path"] == path]
    # Jira and Stripe find it by their search, the tenant by our key; SCIM's re-send answers 409 and is adopted.
    assert len(posts) == (2 if step == "admin_access" else 1)


def test_a_changed_order_between_a_lost_answer_and_the_retry_resends_the_frozen_request(
    store: Store, sandbox: Any
) -> None:
    key = _ready_account(store, sandbox)
    config = _lagging_search(sandbox)
    first_email = lifecycle.load(store, key).primary_contact_email
    _fault(sandbox, "billing", lost_after_commit=4)  # every send of the first try loses its answer
    with pytest.raises(ApiError):
        _run(store, key, "billing_profile", config)
    assert len(sandbox.state.ledger()["billing"]["customers"]) == 1
    # The CRM order changed (a new primary contact) before the task's retry.
    store.conn.execute("UPDATE onboarding.onboardings SET primary_contact_email = 'new.contact@northwind.example'")

    customer = _run(store, key, "billing_profile", config)

    customers = sandbox.state.ledger()["billing"]["customers"]
    assert len(customers) == 1 and customers[0]["id"] == customer
    assert customers[0]["email"] == first_email  # what was first sent, under its key
    assert store.scalar("SELECT status FROM onboarding.setup_steps WHERE step_key = 'billing_profile'") == "done"


def test_a_generic_step_without_an_idempotency_header_is_never_sent_twice(store: Store, sandbox: Any) -> None:
    key = _ready_account(store, sandbox, addons="sso")
    config = load_config()
    ob = lifecycle.load(store, key)
    tier = config.tiers[ob.tier]
    http_step = next(s for s in tier.setup_steps if s.kind.value == "http")
    assert http_step.http is not None
    for before in ("billing_profile", "tenant", "admin_access"):
        _run(store, key, before, config)
    no_key = http_step.model_copy(update={"http": http_step.http.model_copy(update={"idempotency_header": None})})
    steps = [no_key if s.key == http_step.key else s for s in tier.setup_steps]
    config = config.model_copy(
        update={"tiers": {**config.tiers, ob.tier: tier.model_copy(update={"setup_steps": steps})}}
    )
    _fault(sandbox, "provisioning", lost_after_commit=1)

    for _ in range(2):  # the task's try, then a retry or a clear
        with pytest.raises(ApiError, match="answer was lost.*not sent again") as refused:
            _run(store, key, http_step.key, config)
        assert not refused.value.retryable
    posts = [r for r in sandbox.state.requests("provisioning") if r["method"] == "POST" and "sso" in r["path"]]
    assert len(posts) == 1


def test_jira_sub_tasks_use_the_sites_own_sub_task_type(store: Store, sandbox: Any) -> None:
    sandbox.state.ticketing.set_subtask_type_name("Subtask")  # a team-managed project's name for it
    keys = [_ready_account(store, sandbox, **PARTNER) for _ in range(2)]
    for key in keys:
        _run(store, key, "implementation_ticket")
        _run(store, key, "kickoff")

    issues = sandbox.state.ledger()["ticketing"]["issues"]
    assert sorted(i["issuetype"] for i in issues) == ["Subtask", "Subtask", "Task", "Task"]
    metadata = [r for r in sandbox.state.requests("ticketing") if "createmeta" in r["path"]]
    assert len(metadata) <= 1  # found once, then cached (none if an earlier test in this process found it)


def test_a_configured_sub_task_type_is_used_as_given(store: Store, sandbox: Any) -> None:
    sandbox.state.ticketing.set_subtask_type_name("Unteraufgabe")
    config = _with_runs(ticket_subtask_type="Unteraufgabe")
    key = _ready_account(store, sandbox, **PARTNER)
    _run(store, key, "implementation_ticket", config)
    _run(store, key, "kickoff", config)
    assert [i["issuetype"] for i in sandbox.state.ledger()["ticketing"]["issues"]] == ["Task", "Unteraufgabe"]
    assert not [r for r in sandbox.state.requests("ticketing") if "createmeta" in r["path"]]


def test_scim_requests_speak_scim_json(store: Store, sandbox: Any) -> None:
    key = _ready_account(store, sandbox)
    for step in ("billing_profile", "tenant", "admin_access"):
        _run(store, key, step)
    scim = [r for r in sandbox.state.requests("provisioning") if r["path"].startswith("/scim/")]
    assert scim and all(r["accept"] == "application/scim+json" for r in scim)
    assert all(r["content_type"] == "application/scim+json" for r in scim if r["method"] == "POST")


def test_a_huge_company_name_is_clipped_where_the_vendor_limits_it(store: Store, sandbox: Any) -> None:
    name = "Northwind " + "Robotics " * 2300  # about 20,000 characters, accepted by the CRM and the intake
    key = _ready_account(store, sandbox, company_name=name)
    assert lifecycle.load(store, key).account_name == name.strip()
    for step in ("implementation_ticket", "billing_profile"):
        _run(store, key, step)

    issue = sandbox.state.ledger()["ticketing"]["issues"][0]
    assert len(issue["summary"]) == 255 and issue["summary"].endswith("…")
    full = sandbox.state.ticketing.get(issue["key"])
    assert name.strip() in str(full.description)  # the whole name, in the description
    customer = sandbox.state.ledger()["billing"]["customers"][0]
    assert len(customer["name"]) == 256 and customer["name"].endswith("…")
    assert len(customer["description"]) <= 350


def test_a_timeout_is_retried_without_a_duplicate(store: Store, sandbox: Any) -> None:
    key = _ready_account(store, sandbox)
    _fault(sandbox, "ticketing", timeout=1, hang_seconds=10)
    assert _run(store, key, "implementation_ticket")
    assert len(sandbox.state.ledger()["ticketing"]["issues"]) == 1


def test_a_refused_request_fails_fast_with_the_api_text_in_the_trail(store: Store, sandbox: Any) -> None:
    key = _ready_account(store, sandbox)
    config = load_config()
    runs = config.settings.runs.model_copy(update={"ticket_project": "NOPE"})  # a project Jira does not have
    config = config.model_copy(update={"settings": config.settings.model_copy(update={"runs": runs})})
    with pytest.raises(ApiError) as excinfo:
        _run(store, key, "implementation_ticket", config)
    assert excinfo.value.status == 400 and not excinfo.value.retryable
    failed = [e for e in store.events_for(key) if e["event_type"] == "setup.step_failed"]
    assert failed and "400" in failed[0]["details"]["error"] and failed[0]["details"]["permanent"] is True
    row = store.query("SELECT status, last_error FROM onboarding.setup_steps WHERE step_key = 'implementation_ticket'")
    assert row[0]["status"] == "failed" and "project" in row[0]["last_error"].lower()
    assert len([r for r in sandbox.state.requests("ticketing") if r["method"] == "POST"]) == 1  # not retried


def test_a_step_never_runs_before_its_dependencies(store: Store, sandbox: Any) -> None:
    key = _ready_account(store, sandbox)
    with pytest.raises(setup_steps.StepNotReady, match="waits for tenant"):
        _run(store, key, "admin_access")
    assert sandbox.state.ledger()["provisioning"]["users"] == []


def test_a_missing_critical_input_blocks_setup(store: Store, sandbox: Any) -> None:
    key = _ready_account(store, sandbox)
    store.conn.execute("UPDATE onboarding.checklist_items SET status = 'missing' WHERE item_key = 'signed_dpa'")
    problems = lifecycle.readiness_problems(store, key)
    assert problems == ["critical input 'signed_dpa' (Signed data processing agreement) is missing"]


@pytest.mark.unit
def test_every_kind_of_step_has_one_handler() -> None:
    assert set(setup_steps.HANDLERS) == set(StepKind)
    with pytest.raises(ValueError, match="'tenant' already has a handler"):
        setup_steps.handles(StepKind.TENANT)(lambda ctx: setup_steps.HANDLERS[StepKind.TENANT](ctx))
    assert setup_steps.HANDLERS[StepKind.TENANT].__name__ == "_tenant"  # the first stays


# --------------------------------------------------------------------------- customer submissions


def _requested(store: Store, sandbox: Any) -> tuple[str, Any]:
    key = _ready_account(store, sandbox, region="NA")
    store.conn.execute("UPDATE onboarding.checklist_items SET status = 'missing'")
    config = load_config()
    assert checklist.request_inputs(store, config, key, NOW, secret=PORTAL_SECRET) > 0
    return key, config


def _submit(store: Store, config: Any, key: str, item_key: str, submission_id: str, **given: Any) -> Any:
    """One submission through the one way in every channel uses (the portal calls exactly this)."""
    ob = lifecycle.load(store, key)
    item = next(i for i in lifecycle.tier_of(config, ob).checklist if i.key == item_key)
    doc = given.get("document")
    submission = Submission(
        item_key=item_key, value=given.get("value"), document=DocumentMeta(**doc) if doc is not None else None
    )
    account = AccountContext(region=ob.region, country=None, company_domain=ob.account_domain)
    return checklist.judge_submission(
        store, ob, item, submission, submission_id=submission_id, submitted_at=NOW,
        submitted_by=ob.primary_contact_email, summary={"value": str(given.get("value"))[:200]}, account=account,
        now=NOW,
    )  # fmt: skip


def _poll(store: Store, config: Any, key: str, item: str) -> bool:
    return checklist.poll_item(store, config, key, item)


@pytest.mark.parametrize(
    ("item", "submission", "reason"),
    [
        ("billing_contact_email", {"value": "jane.doe@"}, "email"),
        ("billing_contact_email", {"value": "x" * 20_000}, "long"),
        ("signed_dpa", {"document": {"filename": "dpa.exe", "content_type": "application/x-msdownload",
                                     "size_bytes": 1000, "sha256": None}}, "PDF"),
        ("signed_dpa", {"document": {"filename": "dpa.pdf", "content_type": "application/pdf",
                                     "size_bytes": 300 * 1024 * 1024, "sha256": None}}, "MB"),
        ("company_domain", {"document": {"filename": "domain.pdf", "content_type": "application/pdf",
                                         "size_bytes": 10, "sha256": None}}, ""),
    ],
    ids=["malformed", "oversized-text", "wrong-type", "oversized-document", "document-for-a-value"],
)  # fmt: skip
def test_a_bad_submission_is_rejected_with_a_reason_and_kept(
    store: Store, sandbox: Any, item: str, submission: dict[str, Any], reason: str
) -> None:
    key, config = _requested(store, sandbox)
    judgement = _submit(store, config, key, item, "s-1", **submission)

    assert judgement.outcome == "rejected" and reason.lower() in (judgement.reason or "").lower()
    assert _poll(store, config, key, item) is False  # the sensor keeps waiting
    row = store.query("SELECT status, rejection_reason FROM onboarding.checklist_items WHERE item_key = %s", (item,))
    assert row[0]["status"] == "rejected" and reason.lower() in row[0]["rejection_reason"].lower()
    kept = store.query("SELECT verdict FROM onboarding.submissions WHERE item_key = %s", (item,))
    assert kept == [{"verdict": "rejected"}]
    assert lifecycle.completeness(store, key)["rejected"] == 1


def test_an_item_submitted_twice_is_verified_once(store: Store, sandbox: Any) -> None:
    key, config = _requested(store, sandbox)
    for n in range(2):
        _submit(store, config, key, "billing_contact_email", f"s-{n}", value="ap@northwind.example")
    assert _poll(store, config, key, "billing_contact_email") is True
    assert _poll(store, config, key, "billing_contact_email") is True
    verdicts = [r["verdict"] for r in store.query("SELECT verdict FROM onboarding.submissions ORDER BY id")]
    assert verdicts == ["verified", "ignored"]
    verified = [e for e in store.events_for(key) if e["event_type"] == "input.verified"]
    assert len(verified) == 1


def test_asking_for_the_checklist_again_invites_the_customer_once(store: Store, sandbox: Any) -> None:
    key, config = _requested(store, sandbox)
    assert checklist.request_inputs(store, config, key, NOW, secret=PORTAL_SECRET) > 0  # a retried task
    invitations = store.query("SELECT to_email, subject FROM onboarding.outbox WHERE kind = 'invitation'")
    assert len(invitations) == 1 and invitations[0]["to_email"] == lifecycle.load(store, key).primary_contact_email
    requested = [e for e in store.events_for(key) if e["event_type"] == "checklist.requested"]
    assert len(requested) == 1 and requested[0]["details"]["to"] == invitations[0]["to_email"]


def test_an_order_whose_tier_file_was_removed_is_not_started(store: Store, sandbox: Any) -> None:
    sandbox.state.upsert_deal(deal_properties(onboarding_tier="smb", segment="commercial"))
    pickup(store, load_config(), "b-1")
    without_smb = load_config()
    without_smb = without_smb.model_copy(update={"tiers": {k: v for k, v in without_smb.tiers.items() if k != "smb"}})

    runs = intake.runs_to_start(store, without_smb, SystemClock())

    assert runs == []
    row = store.query("SELECT blocked_reason FROM onboarding.onboardings")[0]
    assert "tier 'smb' has no configuration file any more" in row["blocked_reason"]
    assert [e["event_type"] for e in store.query("SELECT event_type FROM onboarding.events")].count(
        "onboarding.blocked"
    ) == 1
