"""Where the days went, on small histories worked out by hand below.

NA accounts (US holidays, New York business hours 09:00-17:00: one business
day is 8 working hours).  November 2026 from the 2nd to the 9th has no US
holiday.

A went live.  Signed Mon 2 Nov 09:00 ET.
  Mon 10:00 plan: critical items billing_contact_email and signed_dpa, approval deal_desk
  Mon 11:00 checklist sent;  Tue 10:00 billing_contact_email verified
  Wed 12:00 signed_dpa rejected;  Wed 15:00 signed_dpa verified
  Thu 12:00 deal_desk approved;  Thu 13:00 gate passed;  Thu 14:00 setup entered
  Thu 15:00 billing_profile failed;  Fri 10:00 billing_profile done;  Fri 11:00 provisioning
  Mon 9 Nov 12:00 live.  An SLA-breach escalation (not a failure) is raised on Tue and resolved on Wed.

  Elapsed: Mon-Fri 5 x 8 h + Mon 9-12 3 h = 43 h.
  customer   Mon 11:00 - Wed 15:00: Mon 6 h + Tue 8 h + Wed 6 h = 20 h = 2.5 business days
  approvals  Mon 10:00 - Thu 12:00 where the customer is not holding it: Mon 10-11 1 h + Wed 15-17 2 h
             + Thu 9-12 3 h = 6 h = 0.75
  failures   Thu 15:00 - Fri 10:00: Thu 2 h + Fri 1 h = 3 h = 0.375
  setup      Thu 14:00 - Mon 12:00 but the failure: Thu 14-15 1 h + Fri 10-17 7 h + Mon 9-12 3 h = 11 h = 1.375
  idle       Mon 9-10 (before the plan) 1 h + Thu 12-14 (approved, not yet set up) 2 h = 3 h = 0.375

B is still open at Fri 20 Nov 17:00.  Signed and sent the checklist Mon 16 Nov 09:00; no critical input
has arrived; a task gave up on Wed 18 Nov 09:00 (a failure escalation, still open).  The customer holds
it all week: 40 h = 5 business days, none of it a failure (the customer comes first).
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from include.onboarding import time_split
from include.onboarding.calendar import region_working_time
from include.onboarding.config import load_config
from include.onboarding.time_split import Fact

pytestmark = pytest.mark.unit

ET = ZoneInfo("America/New_York")
HOUR = 3600.0


def _et(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=ET).astimezone(timezone.utc)


def _events_a() -> list[dict[str, object]]:
    """Account A's audit events as onboarding.events rows (details as the store holds them)."""

    def e(when: datetime, event_type: str, stage: str | None = None, **details: object) -> dict[str, object]:
        return {"occurred_at": when, "event_type": event_type, "stage": stage, "details": details}

    return [
        e(_et(11, 2, 9), "onboarding.created", "intake", named_owner="priya.shah@example.com"),
        e(_et(11, 2, 10), "checklist.planned", "intake", approvals=["deal_desk"], steps=["billing_profile"],
          items=[{"key": "billing_contact_email", "critical": True}, {"key": "signed_dpa", "critical": True},
                 {"key": "logo", "critical": False}]),
        e(_et(11, 2, 11), "checklist.requested", "intake", request_id="r-1"),
        e(_et(11, 2, 11), "stage.entered", "collect_inputs", reason="checklist sent to the customer"),
        e(_et(11, 3, 10), "input.verified", "collect_inputs", item="billing_contact_email", critical=True),
        e(_et(11, 3, 12), "escalation.raised", "collect_inputs", kind="sla_breach", escalation_id=7, level=1),
        e(_et(11, 4, 12), "input.rejected", "collect_inputs", item="signed_dpa", critical=True, reason="not a PDF"),
        e(_et(11, 4, 13), "escalation.resolved", "collect_inputs", kind="sla_breach", escalation_id=7),
        e(_et(11, 4, 15), "input.verified", "collect_inputs", item="signed_dpa", critical=True),
        e(_et(11, 4, 16), "input.verified", "collect_inputs", item="logo", critical=False),
        e(_et(11, 5, 11), "stage.entered", "approvals", reason="inputs verified"),
        e(_et(11, 5, 12), "approval.approved", "approvals", approval="deal_desk", role="deal_desk"),
        e(_et(11, 5, 13), "gate.passed", "approvals"),
        e(_et(11, 5, 14), "stage.entered", "setup", reason="readiness gate passed"),
        e(_et(11, 5, 15), "setup.step_failed", "setup", step="billing_profile", error="Stripe answered 500"),
        e(_et(11, 6, 10), "setup.step_completed", "setup", step="billing_profile", external_id="cus_1"),
        e(_et(11, 6, 11), "stage.entered", "provisioning", reason="tenant requested"),
        e(_et(11, 9, 12), "onboarding.live", "live"),
    ]  # fmt: skip


def _facts_b() -> list[Fact]:
    return [
        Fact("checklist.planned", _et(11, 16, 9), critical_items=("billing_contact_email",)),
        Fact("checklist.requested", _et(11, 16, 9)),
        Fact("escalation.raised", _et(11, 18, 9), ref="12", kind="failure"),
    ]


@pytest.fixture(scope="module")
def wt() -> object:
    return region_working_time(load_config().settings.regions["NA"])


def test_a_live_account_s_days_split_as_worked_out_by_hand(wt: object) -> None:
    facts = [time_split.fact(e) for e in _events_a() if e["event_type"] in time_split.EVENT_TYPES]
    seconds = time_split.split(facts, _et(11, 2, 9), _et(11, 9, 12), wt)  # type: ignore[arg-type]
    assert {c: s / HOUR for c, s in seconds.items()} == {
        "customer": 20.0, "approvals": 6.0, "failures": 3.0, "setup": 11.0, "idle": 3.0,
    }  # fmt: skip
    assert sum(seconds.values()) == 43 * HOUR  # the whole elapsed business time, once


def test_the_customer_comes_first_and_open_stretches_run_to_the_end(wt: object) -> None:
    seconds = time_split.split(_facts_b(), _et(11, 16, 9), _et(11, 20, 17), wt)  # type: ignore[arg-type]
    assert seconds == {"customer": 40 * HOUR, "approvals": 0.0, "failures": 0.0, "setup": 0.0, "idle": 0.0}


def test_each_stretch_is_given_to_one_category_in_order() -> None:
    facts = [time_split.fact(e) for e in _events_a() if e["event_type"] in time_split.EVENT_TYPES]
    pieces = time_split.segments(time_split.intervals(facts, _et(11, 9, 12)), _et(11, 2, 9), _et(11, 9, 12))
    assert [(c, a.astimezone(ET).strftime("%a %H"), b.astimezone(ET).strftime("%a %H")) for c, (a, b) in pieces] == [
        ("idle", "Mon 09", "Mon 10"),
        ("approvals", "Mon 10", "Mon 11"),
        ("customer", "Mon 11", "Wed 15"),
        ("approvals", "Wed 15", "Thu 12"),
        ("idle", "Thu 12", "Thu 14"),
        ("setup", "Thu 14", "Thu 15"),
        ("failures", "Thu 15", "Fri 10"),
        ("setup", "Fri 10", "Mon 12"),
    ]


def test_many_accounts_at_once_give_the_same_split_in_business_days() -> None:
    config = load_config()
    facts_a = [time_split.fact(e) for e in _events_a() if e["event_type"] in time_split.EVENT_TYPES]
    accounts = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "region": ["NA", "NA", "MARS"],  # an unknown region is left out, not guessed
            "start": pd.to_datetime([_et(11, 2, 9), _et(11, 16, 9), _et(11, 16, 9)], utc=True),
            "end": pd.to_datetime([_et(11, 9, 12), _et(11, 20, 17), _et(11, 20, 17)], utc=True),
        }
    )
    out = time_split.split_many(accounts, {1: facts_a, 2: _facts_b()}, config.settings.regions).set_index("id")
    assert list(out.index) == [1, 2]
    assert out.loc[1].to_dict() == {
        "customer": 2.5, "approvals": 0.75, "failures": 0.375, "setup": 1.375, "idle": 0.375, "elapsed": 5.375,
    }  # fmt: skip
    assert out.loc[2, "customer"] == 5.0 and out.loc[2, "elapsed"] == 5.0


def test_an_account_with_nothing_recorded_yet_was_idle() -> None:
    config = load_config()
    accounts = pd.DataFrame(
        {"id": [9], "region": ["NA"], "start": pd.to_datetime([_et(11, 2, 9)], utc=True),
         "end": pd.to_datetime([_et(11, 2, 13)], utc=True)}
    )  # fmt: skip
    out = time_split.split_many(accounts, {}, config.settings.regions)
    assert out.loc[0, "idle"] == 0.5 and out.loc[0, "elapsed"] == 0.5
