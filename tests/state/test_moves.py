"""Moving an account: stage, owner, history and audit event together, along the tier's table only."""

from __future__ import annotations

from typing import Any

import pytest

from include.onboarding import lifecycle, state
from include.onboarding.config import OnboardingConfig, Stage, load_config
from include.onboarding.exceptions import TransitionNotAllowed
from include.onboarding.store import Store
from tests.test_escalations import SIGNED, _account, _at


@pytest.fixture
def config() -> OnboardingConfig:
    return load_config()


def _trail(store: Store, key: str) -> list[tuple[str, str]]:
    rows = store.query(
        """SELECT h.stage, h.owner_email FROM onboarding.stage_history h
           JOIN onboarding.onboardings o ON o.id = h.onboarding_id WHERE o.onboarding_key = %s ORDER BY h.id""",
        (key,),
    )
    return [(r["stage"], r["owner_email"]) for r in rows]


def test_a_move_records_stage_owner_history_and_event_and_a_repeat_changes_nothing(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config)
    assert state.advance(store, config, key, Stage.COLLECT_INPUTS, _at(16, 11), "test", "checklist sent")
    moved = lifecycle.load(store, key)
    assert moved.stage is Stage.COLLECT_INPUTS
    assert _trail(store, key)[-1] == ("collect_inputs", moved.stage_owner_email)
    entered = [e for e in store.events_for(key) if e["event_type"] == "stage.entered"]
    assert [(e["stage"], e["stage_owner"]) for e in entered][-1] == ("collect_inputs", moved.stage_owner_email)
    # A cleared task asking again, or asking for a stage already passed, changes nothing.
    assert not state.advance(store, config, key, Stage.COLLECT_INPUTS, _at(17, 11), "test", "again")
    assert not state.advance(store, config, key, Stage.INTAKE, _at(17, 11), "test", "back")
    assert len(_trail(store, key)) == 2


def test_a_jump_the_table_does_not_allow_is_refused_and_changes_nothing(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config)
    with pytest.raises(TransitionNotAllowed, match=rf"onboarding {key}: cannot move from stage 'intake' to 'live'"):
        state.advance(store, config, key, Stage.LIVE, SIGNED, "test", "skip everything")
    assert lifecycle.load(store, key).stage is Stage.INTAKE
    assert [stage for stage, _ in _trail(store, key)] == ["intake"]
