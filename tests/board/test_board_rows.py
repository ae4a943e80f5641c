"""The board's rows (onboarding.board_accounts): counted by the database on every write that matters,
re-measured by the board before it reads, and never overwritten with figures older than the account."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from include.board import clocks
from include.onboarding import state
from include.onboarding.config import OnboardingConfig, Stage
from include.onboarding.store import Store, connect_dsn
from tests.board.conftest import NOW, Accounts


def _rows(store: Store) -> dict[str, dict[str, Any]]:
    return {
        r["onboarding_key"]: r
        for r in store.query(
            """SELECT o.onboarding_key, b.* FROM onboarding.board_accounts b
               JOIN onboarding.onboardings o ON o.id = b.onboarding_id"""
        )
    }


def _stale(store: Store) -> set[str]:
    return {k for k, r in _rows(store).items() if r["changes"] != r["measured"]}


def test_writes_that_matter_are_counted_and_measured_once(
    store: Store, accounts: Accounts, config: OnboardingConfig
) -> None:
    clocks.refresh(store, config, NOW)
    assert _stale(store) == set()
    assert clocks.refresh(store, config, NOW) == 0  # nothing changed: nothing to do
    before = _rows(store)[accounts.late]
    assert (before["tier"], before["stage"], before["stage_owner_email"], before["blocked"]) == (
        "enterprise", "approvals", "rachel.kim@example.com", False,
    )  # fmt: skip

    store.conn.execute("UPDATE onboarding.onboardings SET updated_at = now()")  # touches nothing the board reads
    assert _stale(store) == set()

    state.advance(store, config, accounts.late, Stage.SETUP, NOW, "test", "approved")
    store.conn.execute(
        """UPDATE onboarding.checklist_items SET status = 'verified', verified_at = %s
           WHERE item_key = 'billing_contact_email'
             AND onboarding_id = (SELECT id FROM onboarding.onboardings WHERE onboarding_key = %s)""",
        (NOW, accounts.blocked),
    )
    assert _stale(store) == {accounts.late, accounts.blocked}
    assert clocks.refresh(store, config, NOW) == 2
    after = _rows(store)[accounts.late]
    assert after["stage"] == "setup" and after["stage_owner_email"] == "aisha.bello@example.com"
    assert after["sla_due_at"] > before["sla_due_at"]


def test_a_failed_step_marks_the_account_blocked_and_a_closed_one_leaves(
    store: Store, accounts: Accounts, config: OnboardingConfig
) -> None:
    clocks.refresh(store, config, NOW)
    assert {k for k, r in _rows(store).items() if r["blocked"]} == {accounts.blocked, accounts.failed}
    store.conn.execute("UPDATE onboarding.setup_steps SET status = 'pending' WHERE status = 'failed'")
    store.conn.execute(
        "UPDATE onboarding.onboardings SET status = 'live', live_at = %s WHERE onboarding_key = %s",
        (NOW, accounts.late),
    )
    clocks.refresh(store, config, NOW)
    rows = _rows(store)
    assert not rows[accounts.failed]["blocked"] and accounts.late not in rows


def test_a_new_configuration_measures_every_row_again(
    store: Store, accounts: Accounts, config: OnboardingConfig
) -> None:
    clocks.refresh(store, config, NOW)
    tier = config.tiers["enterprise"]
    stages = [s.model_copy(update={"sla_business_days": 6}) if s.key is Stage.APPROVALS else s for s in tier.stages]
    slower = config.model_copy(
        update={"tiers": {**config.tiers, "enterprise": tier.model_copy(update={"stages": stages})}}
    )
    due = _rows(store)[accounts.late]["sla_due_at"]
    assert clocks.refresh(store, slower, NOW) == 4
    assert _rows(store)[accounts.late]["sla_due_at"] > due  # six business days instead of three


def test_a_row_whose_account_changed_while_it_was_measured_stays_to_be_measured(
    store: Store, accounts: Accounts, config: OnboardingConfig, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    measure = clocks.instants

    def meanwhile(frame: Any, cfg: OnboardingConfig) -> Any:
        # Another worker moves Kestrel on after the board read it and before it writes.
        with connect_dsn(database_url) as other:
            state.advance(Store(other), config, accounts.late, Stage.SETUP, NOW, "test", "approved")
        monkeypatch.setattr(clocks, "instants", measure)
        return measure(frame, cfg)

    monkeypatch.setattr(clocks, "instants", meanwhile)
    clocks.refresh(store, config, NOW)
    rows = _rows(store)
    assert rows[accounts.late]["stage"] == "setup"  # measured again in the same refresh, after the move
    assert _stale(store) == set()


def test_only_one_refresh_measures_at_a_time(store: Store, accounts: Accounts, config: OnboardingConfig) -> None:
    other = Store(connect_dsn(store.conn.info.dsn))
    try:
        other.conn.execute("SELECT pg_advisory_lock(727009)")  # another page view is refreshing
        done: list[int] = []
        worker = threading.Thread(target=lambda: done.append(clocks.refresh(store, config, NOW + timedelta(hours=1))))
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive() and done == []  # it waits for the other one
        other.conn.execute("SELECT pg_advisory_unlock(727009)")
        worker.join(timeout=60)
        assert done == [4]
    finally:
        other.conn.close()
