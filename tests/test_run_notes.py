"""The note on each account's run: the account, who owns it now, the target; text, never markup."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from include.onboarding import intake
from include.onboarding.clock import FixedClock
from include.onboarding.config import OnboardingConfig, load_config
from include.onboarding.run_notes import MAX_NOTE_CHARS, NoteFacts, render
from include.onboarding.store import Store
from tests.factories import deal_properties
from tests.test_intake import NOW, pickup


@pytest.fixture(scope="module")
def config() -> OnboardingConfig:
    return load_config()


def _facts(**changes: Any) -> NoteFacts:
    facts = {
        "account_name": "Kestrel Analytics", "tier": "smb", "region": "NA", "stage": "approvals",
        "stage_owner_email": "rachel.kim@example.com", "owner_email": "sam.okafor@example.com",
        "activation_target": date(2026, 12, 4), "status": "open",
    }  # fmt: skip
    return NoteFacts(**(facts | changes))


@pytest.mark.unit
def test_the_note_names_the_account_its_owner_now_and_its_target(config: OnboardingConfig) -> None:
    assert render(_facts(), config) == (
        "**Kestrel Analytics** · SMB · NA\n"
        "- Owner now: Rachel Kim (approvals)\n"
        "- Onboarding owner: Sam Okafor\n"
        "- Activation target: Fri 04 Dec 2026"
    )
    live = render(_facts(stage="live", status="live", stage_owner_email="ben.foster@example.com"), config)
    assert "- Owner now: live, owned by Ben Foster" in live


@pytest.mark.unit
def test_a_crm_name_is_text_and_the_note_fits_airflows_limit(config: OnboardingConfig) -> None:
    note = render(_facts(account_name="[Click](https://evil.example) *ACME*\n# Inc"), config)
    assert note.startswith(r"**\[Click\]\(https://evil.example\) \*ACME\* \# Inc** · SMB")
    huge = render(_facts(account_name="N" * 20_000), config)
    assert len(huge) <= MAX_NOTE_CHARS and "Activation target: Fri 04 Dec 2026" in huge
    unknown = render(_facts(stage_owner_email="left.company@example.com"), config)
    assert "Owner now: left.company@example.com (approvals)" in unknown


def test_the_intake_starts_each_run_with_its_note(store: Store, sandbox: Any, config: OnboardingConfig) -> None:
    deal = sandbox.state.upsert_deal(
        deal_properties(onboarding_tier="smb", segment="commercial", amount="9000", company_name="Osprey Freight")
    )
    pickup(store, config, "pickup-notes")
    (run,) = intake.runs_to_start(store, config, FixedClock(NOW))
    assert run["trigger_run_id"] == f"onboarding__hubspot-{deal['id']}"
    assert run["note"].startswith("**Osprey Freight** · SMB · NA\n- Owner now: Sam Okafor (intake)")
    target = store.scalar("SELECT activation_target FROM onboarding.onboardings")
    assert run["note"].endswith(f"- Activation target: {target:%a %d %b %Y}")
