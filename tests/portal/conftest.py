"""Fixtures for the customer portal: accounts planned by the real intake, the SMTP sandbox,
the portal app (in process for HTTP tests, under uvicorn on loopback for the browser)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from include.onboarding import lifecycle, state
from include.onboarding.clock import FixedClock
from include.onboarding.config import OnboardingConfig, Stage, load_config
from include.onboarding.store import Store
from sandbox.mail import MailSandbox
from tests.conftest import serve_portal
from tests.factories import deal_properties
from tests.test_intake import pickup

SECRET = b"portal-test-secret-0123456789-abcdefghijklmnop"
SIGNED = datetime(2026, 11, 16, 15, 0, tzinfo=timezone.utc)


@dataclass
class Account:
    key: str
    id: int
    contact: str
    name: str


@pytest.fixture
def config() -> OnboardingConfig:
    return load_config()


@pytest.fixture
def make_account(store: Store, sandbox: Any, config: OnboardingConfig) -> Any:
    """Sign an order in the sandbox CRM, pick it up with the real intake and plan its checklist."""

    def make(**props: Any) -> Account:
        deal = sandbox.state.upsert_deal(deal_properties(closedate="2026-11-16T15:00:00.000Z", region="EMEA", **props))
        pickup(store, config, f"pickup-{deal['id']}", clock=FixedClock(SIGNED))
        key = f"hubspot-{deal['id']}"
        state.advance(store, config, key, Stage.COLLECT_INPUTS, SIGNED, "test", "planned")
        lifecycle.plan(store, config, key, SIGNED, "test")
        ob = lifecycle.load(store, key)
        return Account(key, ob.id, ob.primary_contact_email, ob.account_name)

    return make


@pytest.fixture
def mailbox(sandbox: Any) -> MailSandbox:
    """The sandbox's SMTP server, emptied, already the Airflow connection ``customer_mail``."""
    mail: MailSandbox = sandbox.mail
    mail.mailbox.clear()
    return mail


@pytest.fixture
def documents_root(tmp_path: Path) -> Path:
    root = tmp_path / "documents"
    root.mkdir()
    return root


@pytest.fixture
def portal_app(database_url: str, config: OnboardingConfig, documents_root: Path, mailbox: MailSandbox) -> Any:
    from include.portal.app import create_app

    return create_app(config=config, database_url=database_url, secret=SECRET, storage_root=documents_root.as_uri())


@pytest.fixture
def client(portal_app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(portal_app, base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture
def live_portal(portal_app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The portal under uvicorn on a free loopback port; links in emails point at it."""
    yield from serve_portal(portal_app, monkeypatch)
