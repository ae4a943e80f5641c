"""Who hears an escalation: each ladder rung reaches a person, and anyone unknown falls through to the ops lead."""

from __future__ import annotations

import pytest

from include.onboarding import escalations
from include.onboarding.config import OnboardingConfig, load_config
from include.onboarding.escalations import recipient


@pytest.fixture(scope="module")
def config() -> OnboardingConfig:
    return load_config()


@pytest.mark.unit
def test_each_rung_reaches_its_person(config: OnboardingConfig) -> None:
    settings = config.settings
    assert recipient(settings, "stage_owner", "priya.shah@example.com", "NA") == (
        "priya.shah@example.com",
        "stage owner",
    )
    assert recipient(settings, "manager", "priya.shah@example.com", "NA") == (
        "omar.haddad@example.com",
        "manager of priya.shah@example.com",
    )
    email, role = recipient(settings, "role:vp_customer_success", "priya.shah@example.com", "NA")
    assert (email, role) == ("dana.whitfield@example.com", "vp_customer_success")


@pytest.mark.unit
def test_anyone_unknown_falls_through_to_the_ops_lead(config: OnboardingConfig) -> None:
    settings = config.settings
    ops = (settings.ops_lead, "ops lead")
    assert recipient(settings, "stage_owner", "left.company@example.com", "NA") == ops
    assert recipient(settings, "manager", "left.company@example.com", "NA") == ops
    assert recipient(settings, "manager", "dana.whitfield@example.com", "NA") == ops  # nobody above her
    assert recipient(settings, "role:no_such_role", None, "NA") == ops


def test_run_links_point_at_the_account_run(config: OnboardingConfig) -> None:
    url = escalations.run_url(config.settings, "smb", "onboarding__hubspot-1")
    assert url.endswith("/dags/onboarding_smb/runs/onboarding__hubspot-1")
    assert escalations.run_url(config.settings, "smb", None).endswith("/dags/onboarding_smb")
