"""The stages of a tier's path and the moves between them, read from the tier files."""

from __future__ import annotations

import pytest

from include.onboarding import state
from include.onboarding.config import OnboardingConfig, Stage, load_config
from include.onboarding.exceptions import OnboardingError, TransitionNotAllowed
from include.onboarding.state import stages

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def config() -> OnboardingConfig:
    return load_config()


def test_a_tiers_path_is_its_configured_stages_then_live(config: OnboardingConfig) -> None:
    tier = config.tiers["enterprise"]
    assert state.path(tier) == (*(s.key for s in tier.stages), Stage.LIVE)


def test_an_account_moves_to_the_next_stage_or_past_the_stages_that_may_hold_nothing_for_it(
    config: OnboardingConfig,
) -> None:
    table = state.transitions(config.tiers["enterprise"])
    assert table[Stage.INTAKE] == (Stage.COLLECT_INPUTS,)
    # No approval applies to the order: setup follows the inputs; no setup step applies: provisioning does.
    assert table[Stage.COLLECT_INPUTS] == (Stage.APPROVALS, Stage.SETUP, Stage.PROVISIONING)
    assert table[Stage.HANDOFF] == (Stage.LIVE,)
    assert table[Stage.LIVE] == ()


def test_a_move_the_table_does_not_allow_names_the_account_and_both_stages(config: OnboardingConfig) -> None:
    with pytest.raises(TransitionNotAllowed) as raised:
        stages.check("hubspot-1", config.tiers["smb"], Stage.INTAKE, Stage.HANDOFF)
    assert isinstance(raised.value, OnboardingError)
    message = str(raised.value)
    assert "hubspot-1" in message and "'intake'" in message and "'handoff'" in message
    assert "collect_inputs" in message  # and where it may go instead
    stages.check("hubspot-1", config.tiers["smb"], Stage.HANDOFF, Stage.LIVE)  # allowed: no error
