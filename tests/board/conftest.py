"""Fixtures for the board: Airflow's own API app (its auth manager, the plugin mounting the board), and a
handful of accounts brought to where they are by the real intake, checklist, approvals, setup steps and
escalation pass against the sandbox.

Nothing here imports Airflow when the file is loaded: pytest loads this file before the suite's
configuration points Airflow at its own home and plugins folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from include.onboarding import checklist, escalations, lifecycle, mail, setup_steps, state
from include.onboarding.clients.http import ApiClient, ApiError
from include.onboarding.clock import FixedClock
from include.onboarding.config import OnboardingConfig, Stage, load_config
from include.onboarding.store import Store
from include.onboarding.validators import AccountContext, DocumentMeta, Submission
from tests.factories import deal_properties

SIGNED = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)  # Monday 16 Nov, 10:00 in New York
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)  # Tuesday 24 Nov, 10:00 in New York
USERS = {"ops.engineer": ("op", "ops-engineer-password-1"), "viewer.only": ("viewer", "viewer-password-1")}
MAIL_SECRET = b"board-test-mail-secret-0123456789-abcdefghij"


@dataclass
class Accounts:
    """The accounts the board tests look at, by what happened to them."""

    blocked: str  # Cedar Freight, SMB: a critical input refused, the readiness gate says why
    late: str  # Kestrel Labs, enterprise: waiting on approvals far past the stage's SLA
    failed: str  # Juniper Retail, partner: the billing profile set up, the Jira ticket refused
    fresh: str  # Alder Health, SMB: just picked up
    quarantined_deal: str


PORTAL_SECRET = b"board-tests-portal-secret-0123456789abcdef"


def _client(conn_id: str) -> ApiClient:
    return ApiClient(conn_id, system=conn_id, max_attempts=3, backoff_base=0.01, timeout=5)


def _answer_everything(store: Store, config: OnboardingConfig, key: str, at: datetime) -> None:
    """The customer sends a good answer to every item, each judged as the portal judges it."""
    onboarding = lifecycle.load(store, key)
    tier = config.tiers[onboarding.tier]
    domain = onboarding.account_domain or "example.com"
    context = AccountContext(region=onboarding.region, company_domain=domain)
    planned = {r["item_key"] for r in store.query(
        "SELECT item_key FROM onboarding.checklist_items WHERE onboarding_id = %s", (onboarding.id,))}  # fmt: skip
    for n, item in enumerate(i for i in tier.checklist if i.key in planned):
        values = {"email": f"it@{domain}", "domain": domain, "url": f"https://{domain}", "tax_id": "04-2103594",
                  "choice": (item.choices or [""])[0]}  # fmt: skip
        if item.type.value == "document":
            submission = Submission(item.key, document=DocumentMeta(f"{item.key}.pdf", "application/pdf", 20_000))
        else:
            submission = Submission(item.key, value=values[item.type.value])
        when = at + timedelta(minutes=n)
        checklist.judge_submission(
            store, onboarding, item, submission, submission_id=f"s-{key}-{item.key}", submitted_at=when,
            submitted_by=onboarding.primary_contact_email, summary={}, account=context, now=when,
        )  # fmt: skip


@pytest.fixture
def accounts(store: Store, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Accounts:
    from tests.test_intake import pickup  # imports Airflow: not before the suite has configured it

    config = load_config()
    monkeypatch.setenv("ONBOARDING_CLOCK", f"fixed:{NOW.isoformat()}")
    closing = SIGNED.isoformat()
    deals = {
        "blocked": dict(company_name="Cedar Freight", onboarding_tier="smb", segment="commercial", amount="9000"),
        "late": dict(company_name="Kestrel Labs"),
        "failed": dict(company_name="Juniper Retail", onboarding_tier="partner", segment="channel",
                       amount="30000", partner_name="Globex Resellers"),
        "fresh": dict(company_name="Alder Health", onboarding_tier="smb", segment="commercial", amount="5000"),
    }  # fmt: skip
    keys = {}
    for role, props in deals.items():
        deal = sandbox.state.upsert_deal(deal_properties(closedate=closing, **props))
        keys[role] = f"hubspot-{deal['id']}"
    bad = sandbox.state.upsert_deal(deal_properties(closedate=closing, primary_contact_email="not an email"))
    pickup(store, config, "board-pickup", clock=FixedClock(SIGNED))

    for role in ("blocked", "late", "failed"):
        key = keys[role]
        lifecycle.plan(store, config, key, SIGNED + timedelta(minutes=5), "system:plan")
        checklist.request_inputs(store, config, key, SIGNED + timedelta(minutes=10), secret=PORTAL_SECRET)

    # Cedar: the billing contact refused, the domain verified, the gate refuses with the reason.
    cedar = lifecycle.load(store, keys["blocked"])
    tier = config.tiers["smb"]
    context = AccountContext(region=cedar.region, company_domain=cedar.account_domain)
    for item_key, value, when in (
        ("billing_contact_email", "billing@", SIGNED + timedelta(days=1)),
        ("company_domain", cedar.account_domain, SIGNED + timedelta(days=1, hours=1)),
    ):
        item = next(i for i in tier.checklist if i.key == item_key)
        checklist.judge_submission(
            store, cedar, item, Submission(item_key, value=value), submission_id=f"s-{item_key}", submitted_at=when,
            submitted_by=cedar.primary_contact_email, summary={"value": value}, account=context, now=when,
        )  # fmt: skip
    mail.queue_invitation(store, config, keys["blocked"], SIGNED + timedelta(minutes=15), secret=MAIL_SECRET)
    problems = lifecycle.readiness_problems(store, keys["blocked"])
    state.set_blocked(store, keys["blocked"], "; ".join(problems), SIGNED + timedelta(days=2))
    lifecycle.record(store, keys["blocked"], "gate.blocked", SIGNED + timedelta(days=2), "system:gate",
                     {"problems": problems}, dedupe=f"gate.blocked:{keys['blocked']}:1")  # fmt: skip

    # Kestrel: every input in, waiting on the deal desk and security since Wednesday.
    _answer_everything(store, config, keys["late"], SIGNED + timedelta(days=1))
    state.advance(store, config, keys["late"], Stage.APPROVALS, SIGNED + timedelta(days=2), "system:approvals",
                      "inputs verified")  # fmt: skip

    # Juniper: ready; the billing profile is created in the sandbox's Stripe, the ticket refused by Jira.
    _answer_everything(store, config, keys["failed"], SIGNED + timedelta(days=1))
    from include.onboarding.approvals import records

    records.decide(
        store, lifecycle.load(store, keys["failed"]), "deal_desk", approved=True, by="rachel.kim@example.com",
        at=SIGNED + timedelta(days=2), comment="margin within policy", attempt=1, details={},
    )  # fmt: skip
    setup_steps.run_step(store, config, keys["failed"], "billing_profile", _client, SIGNED + timedelta(days=3))
    runs = config.settings.runs.model_copy(update={"ticket_project": "NOPE"})  # a project the Jira site lacks
    refusing = config.model_copy(update={"settings": config.settings.model_copy(update={"runs": runs})})
    with pytest.raises(ApiError):
        setup_steps.run_step(store, refusing, keys["failed"], "implementation_ticket", _client,
                             SIGNED + timedelta(days=3, hours=1))  # fmt: skip

    escalations.run_pass(store, config, NOW)
    return Accounts(**keys, quarantined_deal=str(bad["id"]))


# --------------------------------------------------------------------------- Airflow's API app


@pytest.fixture(scope="session")
def airflow_app(airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Airflow's api-server app, in process: the simple auth manager with an ops engineer and a viewer,
    and the plugins folder, so the board is mounted at /board exactly as in the api-server."""
    passwords = tmp_path_factory.mktemp("auth") / "passwords.json"
    passwords.write_text(json.dumps({name: password for name, (_, password) in USERS.items()}))
    patch = pytest.MonkeyPatch()
    patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
    patch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER",
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    )
    patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", ",".join(f"{n}:{r}" for n, (r, _) in USERS.items()))
    patch.setenv(
        "AIRFLOW__API_AUTH__JWT_SECRET", "board-tests-jwt-secret-0123456789abcdef-0123456789abcdef-0123456789abcdef"
    )
    patch.setenv("AIRFLOW__API__BASE_URL", "http://testserver")
    from airflow.api_fastapi.app import create_app, purge_cached_app

    app = create_app()
    try:
        yield app
    finally:
        purge_cached_app()
        patch.undo()


@pytest.fixture
def airflow_client(airflow_app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(airflow_app, base_url="http://testserver") as client:
        yield client


def token_for(client: Any, user: str) -> str:
    """A token from Airflow's own login endpoint, as the UI gets one."""
    response = client.post("/auth/token", json={"username": user, "password": USERS[user][1]})
    assert response.status_code == 201, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def ops(airflow_client: Any) -> Any:
    """A client signed in as the ops engineer (bearer token)."""
    airflow_client.headers["Authorization"] = f"Bearer {token_for(airflow_client, 'ops.engineer')}"
    return airflow_client


@pytest.fixture
def config() -> OnboardingConfig:
    return load_config()
