"""The escalation pass in business time, with a fixed clock, real PostgreSQL and
the sandbox's Slack incoming webhooks.

Dates are worked out by hand on the US calendar of the NA region (business
hours 09:00-17:00 New York time, so one business day is eight working hours):
Thursday 2026-11-26 is Thanksgiving, 2026-12-25 Christmas.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from include.onboarding import escalations, lifecycle, notify
from include.onboarding.clock import FixedClock
from include.onboarding.config import OnboardingConfig, Stage, load_config
from include.onboarding.store import Store
from tests.factories import deal_properties, move_to
from tests.test_intake import pickup

ET = ZoneInfo("America/New_York")
SIGNED = datetime(2026, 11, 16, 10, 0, tzinfo=ET)  # a Monday


def _at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=ET)


def _account(store: Store, sandbox: Any, config: OnboardingConfig, **props: Any) -> str:
    deal = sandbox.state.upsert_deal(deal_properties(closedate="2026-11-16T15:00:00.000Z", **props))
    pickup(store, config, f"pickup-{deal['id']}", clock=FixedClock(SIGNED))
    return f"hubspot-{deal['id']}"


def _pass(store: Store, config: OnboardingConfig, at: datetime) -> escalations.PassSummary:
    return escalations.run_pass(store, config, at.astimezone(timezone.utc))


def _open(store: Store, kind: str) -> list[dict[str, Any]]:
    return store.query(
        "SELECT * FROM onboarding.escalations WHERE kind = %s ORDER BY level, id",
        (kind,),
    )


def _webhook(conn_id: str) -> str:
    return f"T0SANDBOX/B0SANDBOX/{conn_id}"


@pytest.fixture
def config() -> OnboardingConfig:
    return load_config()


def test_a_breach_escalates_once_then_climbs_the_ladder_in_business_time(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config)
    # The account reaches handoff (SLA 2 business days = 16 working hours, owned by the
    # onboarding manager Priya Shah) on the Wednesday before Thanksgiving at 10:00.
    move_to(store, config, key, Stage.HANDOFF, _at(25, 10), "test", "customer notified")

    # Wed 10-17 is 7 h, Thursday is a holiday, Friday 8 h: 15 h by Friday night, so a
    # calendar-day clock would have breached on Friday at 10:00.  Business time has not.
    for quiet in (_at(27, 16), _at(28, 12), _at(29, 20), _at(30, 9, 59)):
        _pass(store, config, quiet)
        assert _open(store, "sla_breach") == [], quiet

    # Monday 10:00 is the 16th working hour: rung 1 (100%, the stage owner).
    summary = _pass(store, config, _at(30, 10, 1))
    assert summary.raised == {"sla_breach": 1}
    (first,) = _open(store, "sla_breach")
    assert first["level"] == 1 and first["notify_email"] == "priya.shah@example.com"
    assert first["breach_at"] == _at(30, 10)
    assert first["stage"] == "handoff" and first["subject"] == key

    # The same breach is not raised again by later passes.
    for again in (_at(30, 10, 16), _at(30, 16, 45), _at(1, 9, 30, month=12)):
        assert _pass(store, config, again).raised == {}
    assert len(_open(store, "sla_breach")) == 1

    # 150% = 24 working hours: Monday 17:00 is 23 h, so Tuesday 10:00; her manager hears it.
    assert _pass(store, config, _at(1, 9, 59, month=12)).raised == {}
    assert _pass(store, config, _at(1, 10, 5, month=12)).raised == {"sla_breach": 1}
    # 200% = 32 working hours: Wednesday 10:00; leadership (the VP of customer success).
    assert _pass(store, config, _at(2, 10, 5, month=12)).raised == {"sla_breach": 1}
    ladder = _open(store, "sla_breach")
    assert [(e["level"], e["notify_email"], e["breach_at"]) for e in ladder] == [
        (1, "priya.shah@example.com", _at(30, 10)),
        (2, "omar.haddad@example.com", _at(1, 10, month=12)),
        (3, "dana.whitfield@example.com", _at(2, 10, month=12)),
    ]
    assert all(e["resolved_at"] is None for e in ladder)
    raised = [e for e in store.events_for(key) if e["event_type"] == "escalation.raised"]
    assert [e["details"]["level"] for e in raised] == [1, 2, 3]


def test_moving_on_resolves_the_escalation_with_its_lag(store: Store, sandbox: Any, config: OnboardingConfig) -> None:
    key = _account(store, sandbox, config)
    move_to(store, config, key, Stage.HANDOFF, _at(25, 10), "test", "customer notified")
    _pass(store, config, _at(30, 10, 15))  # breached at 10:00, escalated by the 10:15 pass

    # The owner acts: the account goes live at 11:00; the next pass resolves the breach.
    move_to(store, config, key, Stage.LIVE, _at(30, 11), "test", "handed off")
    summary = _pass(store, config, _at(30, 11, 30))

    assert summary.resolved == 1
    (esc,) = _open(store, "sla_breach")
    assert esc["breach_at"] == _at(30, 10)
    assert esc["raised_at"] == _at(30, 10, 15)
    assert esc["resolved_at"] == _at(30, 11)  # when the stage moved on, not when the pass noticed
    assert esc["resolution"] == "stage moved on to live"
    (resolved,) = [e for e in store.events_for(key) if e["event_type"] == "escalation.resolved"]
    assert resolved["details"]["breach_to_escalation_seconds"] == 15 * 60
    assert resolved["details"]["escalation_to_resolution_seconds"] == 45 * 60
    # A resolved rung is never raised again for that stage.
    assert _pass(store, config, _at(30, 12)).raised == {}


def test_a_slip_is_forecast_before_the_target_date(store: Store, sandbox: Any, config: OnboardingConfig) -> None:
    key = _account(store, sandbox, config)
    # Signed Monday 16 Nov: 30 business days (Thanksgiving and Christmas off) is Wed 30 Dec.
    assert store.scalar("SELECT activation_target::text FROM onboarding.onboardings") == "2026-12-30"
    # The checklist goes out at once and the customer stays silent.  Collecting inputs pauses
    # its clock while the customer has it, so it never breaches; but the path after it still
    # needs its full budget: collect 10 + approvals 3 + setup 5 + provisioning 3 +
    # customer communication 1 + handoff 2 = 24 business days.
    move_to(store, config, key, Stage.COLLECT_INPUTS, SIGNED, "test", "planned")
    lifecycle.plan(store, config, key, SIGNED, "test")
    store.conn.execute("UPDATE onboarding.checklist_items SET requested_at = %s", (SIGNED,))

    # Wed 25 Nov 09:00 leaves Wed, Fri 27, then 22 business days to Dec 30: exactly 24. Not yet.
    _pass(store, config, _at(25, 9))
    assert _open(store, "at_risk") == []
    assert _open(store, "sla_breach") == []  # paused on the customer
    # Three working hours later it no longer fits: the named owner hears it 24 business days early.
    summary = _pass(store, config, _at(25, 12))
    assert summary.raised == {"at_risk": 1}
    (risk,) = _open(store, "at_risk")
    assert risk["notify_email"] == "priya.shah@example.com"
    assert "2026-12-30" in risk["reason"] and "need 24 business days" in risk["reason"]
    assert risk["details"]["business_days_to_target"] == 24
    assert "waiting on the customer for" in risk["details"]["blocking"]
    assert "Billing contact email (missing)" in risk["details"]["blocking"]
    assert _pass(store, config, _at(27, 12)).raised == {}  # once per stage


def test_an_unowned_account_goes_to_the_ops_lead(store: Store, sandbox: Any, config: OnboardingConfig) -> None:
    key = _account(store, sandbox, config)
    move_to(store, config, key, Stage.APPROVALS, _at(24, 10), "test", "inputs in")
    # The deal desk holder left and was removed from the directory; the account sits with nobody.
    store.conn.execute("UPDATE onboarding.onboardings SET stage_owner_email = 'left.company@example.com'")

    summary = _pass(store, config, _at(24, 11))

    assert summary.unowned == 1 and summary.raised.get("unowned") == 1
    (esc,) = _open(store, "unowned")
    assert esc["notify_email"] == config.settings.ops_lead
    assert "left.company@example.com" in esc["reason"] and esc["subject"] == key

    # Someone takes it: the next pass resolves the escalation.
    store.conn.execute("UPDATE onboarding.onboardings SET stage_owner_email = 'rachel.kim@example.com'")
    assert _pass(store, config, _at(24, 11, 15)).resolved == 1
    assert _open(store, "unowned")[0]["resolution"] == "stage owner is now rachel.kim@example.com"


def test_quarantined_orders_are_reported_once_and_resolved_when_fixed(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    deal = sandbox.state.upsert_deal(deal_properties(onboarding_tier="platinum"))
    pickup(store, config, "p1", clock=FixedClock(SIGNED))

    _pass(store, config, _at(16, 11))
    _pass(store, config, _at(16, 11, 15))
    (esc,) = _open(store, "quarantine")
    assert esc["notify_email"] == config.settings.ops_lead
    assert "onboarding_tier" in esc["reason"]

    sandbox.state.upsert_deal({"onboarding_tier": "enterprise"}, deal_id=deal["id"])
    pickup(store, config, "p2", clock=FixedClock(_at(16, 12)))
    assert _pass(store, config, _at(16, 12, 15)).resolved == 1


def test_notices_reach_each_person_on_slack_with_what_they_need(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config, company_name="Kestrel Analytics")
    move_to(store, config, key, Stage.HANDOFF, _at(25, 10), "test", "customer notified")
    store.conn.execute("UPDATE onboarding.onboardings SET run_id = %s", (f"onboarding__{key}",))
    _pass(store, config, _at(1, 10, 5, month=12))  # rungs 1 and 2 at once

    counts = notify.deliver(store, config, _at(1, 10, 6, month=12))

    assert counts == {"delivered": 2, "undelivered": 0, "deferred": 0}
    (to_priya,) = sandbox.state.slack.messages(_webhook("slack_onboarding_na"))
    (to_omar,) = sandbox.state.slack.messages(_webhook("slack_onboarding_ops"))
    text = str(to_priya["blocks"])
    for expected in ("Kestrel Analytics", "handoff", "priya.shah@example.com", "2 business days", "2026-12-30"):
        assert expected in text, expected
    button = to_priya["blocks"][-1]["elements"][0]
    assert button["url"].endswith(f"/dags/onboarding_enterprise/runs/onboarding__{key}")
    assert "level 2" in to_omar["text"]
    # Delivered notices are never posted again.
    assert notify.deliver(store, config, _at(1, 10, 20, month=12))["delivered"] == 0
    delivered = [e for e in store.events_for(key) if e["event_type"] == "escalation.delivered"]
    assert len(delivered) == 2


def _fault(sandbox: Any, **plan: Any) -> None:
    from sandbox.faults import FaultPlan

    sandbox.state.set_faults("slack", FaultPlan(**plan))


def test_an_account_without_a_run_yet_does_not_stop_the_pass(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    with_run = _account(store, sandbox, config, company_name="Kestrel Analytics")
    without = _account(store, sandbox, config, company_name="Osprey Labs")
    for key in (with_run, without):
        move_to(store, config, key, Stage.HANDOFF, _at(25, 10), "test", "customer notified")
    store.conn.execute(
        "UPDATE onboarding.onboardings SET run_id = %s WHERE onboarding_key = %s", (f"onboarding__{with_run}", with_run)
    )

    _pass(store, config, _at(1, 10, 5, month=12))

    links = {e["subject"]: e["details"]["run_url"] for e in _open(store, "sla_breach")}
    assert links[with_run].endswith(f"/runs/onboarding__{with_run}")
    assert links[without].endswith("/dags/onboarding_enterprise")


def test_a_slack_rate_limit_is_waited_out_and_loses_nothing(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config)
    move_to(store, config, key, Stage.HANDOFF, _at(25, 10), "test", "customer notified")
    _pass(store, config, _at(30, 10, 5))
    _fault(sandbox, rate_limit=2, retry_after=1)

    counts = notify.deliver(store, config, _at(30, 10, 6))

    assert counts["delivered"] == 1
    assert len(sandbox.state.slack.messages()) == 1
    statuses = [r["status"] for r in sandbox.state.requests("slack")]
    assert statuses == [429, 429, 200]


def test_a_slack_outage_keeps_the_notice_and_the_next_pass_delivers_it(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config)
    move_to(store, config, key, Stage.HANDOFF, _at(25, 10), "test", "customer notified")
    _pass(store, config, _at(1, 10, 5, month=12))  # two notices, to two people
    _fault(sandbox, server_error=50)

    counts = notify.deliver(store, config, _at(1, 10, 6, month=12))

    assert counts["delivered"] == 0 and counts["undelivered"] == 2
    rows = store.query("SELECT delivery_status, delivery_attempts, last_delivery_error FROM onboarding.escalations")
    assert all(r["delivery_status"] == "undelivered" and r["delivery_attempts"] == 1 for r in rows)
    assert all("500" in r["last_delivery_error"] for r in rows)
    assert sandbox.state.slack.messages() == []
    assert [e["event_type"] for e in store.events_for(key)].count("escalation.undelivered") == 2

    # Slack is back; the next pass posts each notice exactly once.
    sandbox.state.set_faults("slack", None)
    counts = notify.deliver(store, config, _at(1, 10, 21, month=12))
    assert counts["delivered"] == 2
    assert len(sandbox.state.slack.messages()) == 2
    rows = store.query("SELECT delivery_status, delivery_attempts FROM onboarding.escalations ORDER BY level")
    assert [(r["delivery_status"], r["delivery_attempts"]) for r in rows] == [("delivered", 2), ("delivered", 2)]


def test_a_revoked_webhook_does_not_hold_up_other_people(store: Store, sandbox: Any, config: OnboardingConfig) -> None:
    key = _account(store, sandbox, config)
    move_to(store, config, key, Stage.HANDOFF, _at(25, 10), "test", "customer notified")
    _pass(store, config, _at(1, 10, 5, month=12))
    sandbox.state.slack.set_enabled(_webhook("slack_onboarding_na"), False)

    counts = notify.deliver(store, config, _at(1, 10, 6, month=12))

    assert counts == {"delivered": 1, "undelivered": 1, "deferred": 0}
    (failed,) = store.query("SELECT * FROM onboarding.escalations WHERE delivery_status = 'undelivered'")
    assert failed["notify_email"] == "priya.shah@example.com" and "404" in failed["last_delivery_error"]


def test_the_pass_is_idempotent_at_the_same_instant(store: Store, sandbox: Any, config: OnboardingConfig) -> None:
    for _ in range(3):
        key = _account(store, sandbox, config)
        move_to(store, config, key, Stage.SETUP, _at(17, 10), "test", "ready")
    at = _at(1, 10, month=12)
    first = _pass(store, config, at)
    assert first.raised["sla_breach"] == 6  # 5 business days of setup: 100% and 150% reached
    assert _pass(store, config, at).raised == {}
    assert store.scalar("SELECT count(*) FROM onboarding.escalations") == 6
    assert store.scalar("SELECT count(*) FROM onboarding.events WHERE event_type = 'escalation.raised'") == 6


def test_breach_time_skips_the_customer_pause(store: Store, sandbox: Any, config: OnboardingConfig) -> None:
    key = _account(store, sandbox, config)
    # Enterprise collect_inputs: 10 business days, paused while the customer has the checklist.
    move_to(store, config, key, Stage.COLLECT_INPUTS, _at(16, 10), "test", "planned")
    lifecycle.plan(store, config, key, _at(16, 10), "test")
    # Our own work took until Tuesday 10:00 (one business day), then the customer had it
    # until Monday 30th 10:00, when the last critical input was verified.
    store.conn.execute("UPDATE onboarding.checklist_items SET requested_at = %s", (_at(17, 10),))
    store.conn.execute("UPDATE onboarding.checklist_items SET status = 'verified', verified_at = %s", (_at(30, 10),))
    # Nine more business days after Monday 30 Nov 10:00 is Friday 11 Dec 10:00.
    assert _pass(store, config, _at(11, 9, 55, month=12)).raised.get("sla_breach") is None
    _pass(store, config, _at(11, 10, 5, month=12))
    (esc,) = _open(store, "sla_breach")
    assert esc["breach_at"] == _at(11, 10, month=12)


def test_a_notice_being_posted_elsewhere_is_not_posted_twice(
    store: Store, sandbox: Any, config: OnboardingConfig, database_url: str
) -> None:
    from include.onboarding.store import connect_dsn

    key = _account(store, sandbox, config)
    move_to(store, config, key, Stage.HANDOFF, _at(25, 10), "test", "customer notified")
    _pass(store, config, _at(30, 10, 5))
    # Another process (a failure callback, an overlapping pass) is posting this notice right now.
    with connect_dsn(database_url) as other, other.transaction():
        other.execute("SELECT id FROM onboarding.escalations FOR UPDATE")
        assert notify.deliver(store, config, _at(30, 10, 6)) == {"delivered": 0, "undelivered": 0, "deferred": 1}
    assert sandbox.state.slack.messages() == []
    assert notify.deliver(store, config, _at(30, 10, 7))["delivered"] == 1
    assert len(sandbox.state.slack.messages()) == 1


@pytest.mark.parametrize(
    ("props", "item"),
    [
        ({}, "billing_contact_email"),  # enterprise: the stage clock pauses while the customer has the checklist
        ({"onboarding_tier": "partner", "partner_name": "Globex", "segment": "channel"}, "partner_contact_email"),
    ],
    ids=["clock-paused", "clock-running"],
)
def test_a_silent_customer_is_chased_through_the_stage_owner_once_per_silence(
    store: Store, sandbox: Any, config: OnboardingConfig, props: dict[str, str], item: str
) -> None:
    key = _account(store, sandbox, config, **props)
    lifecycle.plan(store, config, key, SIGNED, "test")
    requested = _at(16, 11)  # the checklist went out on Monday 16 November at 11:00
    store.conn.execute("UPDATE onboarding.checklist_items SET requested_at = %s", (requested,))
    move_to(store, config, key, Stage.COLLECT_INPUTS, requested, "test", "checklist sent")
    owner = lifecycle.load(store, key).stage_owner_email

    # Three business days = 24 working hours: Mon 11-17 (6 h), Tue (8), Wed (8), Thu 09-11 (2).
    assert "silent" not in _pass(store, config, _at(19, 10, 59)).raised
    summary = _pass(store, config, _at(19, 11, 5))
    assert summary.raised.get("silent") == 1 and summary.silent == 1
    (first,) = _open(store, "silent")
    assert first["notify_email"] == owner and first["stage"] == "collect_inputs"
    assert "sent nothing for 3.01 business days since the request on 2026-11-16" in first["reason"]  # 24 h 5 min
    assert "silent" not in _pass(store, config, _at(19, 16)).raised  # once per silence

    # The customer sends an input on Friday at 10:00: the escalation is resolved then.
    store.conn.execute(
        "UPDATE onboarding.checklist_items SET status = 'received', received_at = %s WHERE item_key = %s",
        (_at(20, 10), item),
    )
    _pass(store, config, _at(20, 10, 30))
    (resolved,) = _open(store, "silent")
    assert resolved["resolved_at"] == _at(20, 10) and resolved["resolution"] == "the customer sent an input"

    # Quiet again with critical inputs still out: Fri 10-17 (7 h), Mon (8), Tue (8), Wed 09-10 (1),
    # across the weekend and before Thanksgiving: chased a second time on Wednesday 25 November at 10:00.
    assert "silent" not in _pass(store, config, _at(25, 9, 55)).raised
    assert _pass(store, config, _at(25, 10, 5)).raised.get("silent") == 1
    second = _open(store, "silent")[-1]
    assert "since their last submission on 2026-11-20" in second["reason"]

    # Every critical input verified: the customer owes nothing, so silence is no longer escalated.
    store.conn.execute("UPDATE onboarding.checklist_items SET status = 'verified', verified_at = %s", (_at(25, 11),))
    assert _pass(store, config, _at(30, 16)).raised.get("silent") is None
