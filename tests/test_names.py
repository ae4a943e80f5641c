"""The tier DAGs' ids and the tier runs' ids, and reading them back."""

from __future__ import annotations

import pytest

from include.board.queries import onboarding_key_for_run
from include.onboarding.names import dag_id_for, onboarding_key_from_run_id, run_id_for, tier_from_dag_id

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("tier", ["smb", "enterprise", "partner", "mid_market"])
def test_a_tier_is_read_back_from_its_dag_id(tier: str) -> None:
    assert dag_id_for(tier) == f"onboarding_{tier}"
    assert tier_from_dag_id(dag_id_for(tier)) == tier


@pytest.mark.parametrize("dag_id", ["onboarding_", "intake", "reporting_onboarding_smb", ""])
def test_a_dag_id_of_another_shape_names_no_tier(dag_id: str) -> None:
    assert tier_from_dag_id(dag_id) is None


@pytest.mark.parametrize("onboarding_key", ["hubspot-18000000001", "salesforce-006ABC", "a__b"])
def test_an_onboarding_key_is_read_back_from_its_run_id(onboarding_key: str) -> None:
    assert run_id_for(onboarding_key) == f"onboarding__{onboarding_key}"
    assert onboarding_key_from_run_id(run_id_for(onboarding_key)) == onboarding_key


@pytest.mark.parametrize(
    "run_id", ["onboarding__", "manual__2026-01-05T10:00:00+00:00", "scheduled__2026-01-05", "onboarding_x", ""]
)
def test_any_other_run_id_carries_no_onboarding_key(run_id: str) -> None:
    assert onboarding_key_from_run_id(run_id) is None


def test_the_board_finds_the_account_of_a_tier_run_only() -> None:
    assert onboarding_key_for_run("onboarding_smb", "onboarding__hubspot-1") == "hubspot-1"
    assert onboarding_key_for_run("onboarding_smb", "manual__2026-01-05") is None
    assert onboarding_key_for_run("some_other_dag", "onboarding__hubspot-1") is None
