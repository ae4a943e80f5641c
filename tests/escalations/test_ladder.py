"""What is due for a measured account: the rungs of its tier's ladder reached, at risk, silent, unowned."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pytest

from include.onboarding.config import OnboardingConfig, load_config
from include.onboarding.escalations import ladder, measure, wording
from tests.escalations.test_sla import ET, account, frame

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def config() -> OnboardingConfig:
    return load_config()


def test_every_rung_reached_is_due_once_per_stage_and_rung(config: OnboardingConfig) -> None:
    # Handoff (16 working hours) entered Wed 25 Nov 10:00: Tuesday 1 Dec 10:05 is past 150 %, not 200 %.
    measured = measure(
        frame(account("handoff", datetime(2026, 11, 25, 10, tzinfo=ET))),
        config,
        datetime(2026, 12, 1, 10, 5, tzinfo=ET),
    )
    due, counts = ladder.due(measured, config)
    breaches = due[due["kind"] == "sla_breach"]
    assert list(zip(breaches["level"], breaches["notify"], breaches["percent"], breaches["dedupe"], strict=True)) == [
        (1, "stage_owner", 100.0, "sla_breach:hubspot-1:handoff:1"),
        (2, "manager", 150.0, "sla_breach:hubspot-1:handoff:2"),
    ]
    assert counts == ladder.Counts(breached=1, at_risk=0, unowned=0, silent=0)


def test_an_unknown_stage_owner_is_unowned_and_nothing_is_due_for_a_fresh_stage(config: OnboardingConfig) -> None:
    fresh = account("handoff", datetime(2026, 11, 25, 10, tzinfo=ET), stage_owner_email="left.company@example.com")
    measured = measure(frame(fresh), config, datetime(2026, 11, 25, 11, tzinfo=ET))
    due, counts = ladder.due(measured, config)
    assert list(due["kind"]) == ["unowned"]
    assert list(due["dedupe"]) == ["unowned:hubspot-1:handoff:left.company@example.com"]
    assert counts.unowned == 1 and counts.breached == 0


def test_the_breach_reason_says_how_far_over_and_who_hears_it(config: OnboardingConfig) -> None:
    measured = measure(
        frame(account("handoff", datetime(2026, 11, 25, 10, tzinfo=ET))),
        config,
        datetime(2026, 12, 1, 10, 5, tzinfo=ET),
    )
    row = SimpleNamespace(**measured.to_dict("records")[0])
    reason = wording.breach_reason(row, 2, 150.0, "manager")
    assert reason == (
        "handoff has run 3.01 business days against an SLA of 2 business days (151%, 1.01 business days over);"
        " ladder rung 2 at 150% notifies manager"
    )
    assert wording.days(12 * 3600, 8 * 3600) == 1.5 and wording.days(1, 0) == 0.0
