"""The readiness gate: setup and customer commitments wait until every critical input and approval is in.

The gate reads the store (:func:`~include.onboarding.lifecycle.unmet`), records
what holds the account (its blocked reason and a ``gate.blocked`` event per try)
or that it passed, and raises while anything is missing.
"""

from __future__ import annotations

from datetime import datetime

from include.onboarding import lifecycle
from include.onboarding.events import EventType
from include.onboarding.exceptions import OnboardingError
from include.onboarding.state.moves import set_blocked
from include.onboarding.store import Store

ACTOR = "system:gate"


class NotReadyForSetup(OnboardingError, RuntimeError):
    """A critical input is not verified (or the checklist was never planned): the gate stays closed."""


def check_readiness(store: Store, onboarding_key: str, now: datetime, attempt: int) -> None:
    """Open the gate for the account, or record why it stays closed and raise.

    Raises :class:`NotReadyForSetup` while inputs are missing, and
    ``ApprovalsHoldGate`` when only approvals hold it: each rejected or expired
    approval was escalated by its own task already.
    """
    unmet = lifecycle.unmet(store, onboarding_key)
    if unmet.all:
        reason = "; ".join(unmet.all)
        set_blocked(store, onboarding_key, reason, now)
        lifecycle.record(
            store,
            onboarding_key,
            EventType.GATE_BLOCKED,
            now,
            ACTOR,
            {"problems": unmet.all},
            dedupe=f"gate.blocked:{onboarding_key}:{attempt}",
        )
        if not unmet.inputs:
            from include.onboarding.approvals.operator import ApprovalsHoldGate  # imports Airflow's HITL operator

            raise ApprovalsHoldGate(f"onboarding {onboarding_key} is not ready for setup: {reason}")
        raise NotReadyForSetup(f"onboarding {onboarding_key} is not ready for setup: {reason}")
    set_blocked(store, onboarding_key, None, now)
    lifecycle.record(
        store, onboarding_key, EventType.GATE_PASSED, now, ACTOR, {}, dedupe=f"gate.passed:{onboarding_key}"
    )
