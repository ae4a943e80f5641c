"""Customer reminders on the tier's cadence, in business time on each region's calendar.

The SMB tier here reminds after 2 and 4 business days without progress (the
silent-customer escalation moved to 5 business days, so both come first).
Dates are worked out by hand; business hours are 09:00-17:00 local, so one
business day is eight working hours:

* NA (US holidays, New York time): Thursday 26 November 2026 is Thanksgiving;
* EMEA (England, London time): 26 November is a working day.

The rules come first as ``unit`` tests on hand-built frames (no database);
then the same rules on real PostgreSQL with accounts taken in by the real
intake and checklists sent through the sandbox portal; then the escalation
DAG's task queueing and delivering to a real SMTP server on loopback.
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import yaml

from include.onboarding import reminders
from include.onboarding.config import DEFAULT_CONFIG_DIR, OnboardingConfig, load_config

ET = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
SECRET = b"reminder-test-secret-0123456789-abcdefghijklmnop"


def _et(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=ET)


def _london(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LONDON)


def cadence_config(root: Path, smb: list[int] | None = None, silent: float = 5, **escalations: Any) -> OnboardingConfig:
    """The shipped configuration, the SMB cadence ``smb`` (default [2, 4]), the silent escalation at ``silent``."""
    target = root / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    settings = yaml.safe_load((target / "settings.yaml").read_text())
    settings["escalations"] = {"customer_silent_business_days": silent, **escalations}
    (target / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    tier = yaml.safe_load((target / "tiers" / "smb.yaml").read_text())
    tier["reminders"] = {"after_business_days": smb or [2, 4]}
    (target / "tiers" / "smb.yaml").write_text(yaml.safe_dump(tier, sort_keys=False))
    return load_config(target)


# --------------------------------------------------------------------------- the rules, without a database


def _waiting(*accounts: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"id": i, "onboarding_key": f"acct-{i}", "tier": "smb", "region": "NA", "contact": f"contact{i}@example.com",
         "stage_owner_email": "sam.okafor@example.com", "reminded": 0, **a}
        for i, a in enumerate(accounts, start=1)
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["quiet_since"] = pd.to_datetime(frame["quiet_since"], utc=True)
    return frame


def _recent(**last: datetime) -> pd.DataFrame:
    at = pd.to_datetime(list(last.values()), utc=True)
    return pd.DataFrame({"contact": [f"{c}@example.com" for c in last], "last_reminded_at": at})


def _due(config: OnboardingConfig, frame: pd.DataFrame, at: datetime, recent: pd.DataFrame | None = None) -> Any:
    recent = recent if recent is not None else _recent()
    chosen, summary = reminders.select(reminders.measure(frame, recent, config, at), config)
    return dict(zip(chosen["onboarding_key"], chosen["step"], strict=True)), summary


@pytest.fixture(scope="module")
def rules_config(tmp_path_factory: pytest.TempPathFactory) -> OnboardingConfig:
    return cadence_config(tmp_path_factory.mktemp("rules"))


@pytest.mark.unit
def test_the_cadence_counts_whole_business_days_of_working_time() -> None:
    day = 8 * 3600
    quiet = [0, 2 * day - 1, 2 * day, 3.5 * day, 4 * day, 11 * day, float("nan")]
    assert reminders.steps_due(quiet, day, [2, 4]).tolist() == [0, 0, 1, 1, 2, 2, 0]


@pytest.mark.unit
def test_each_region_counts_on_its_own_holiday_calendar(rules_config: OnboardingConfig) -> None:
    # Both checklists went out on Tuesday 24 November at 10:00 local time.
    frame = _waiting({"region": "NA", "quiet_since": _et(24, 10)}, {"region": "EMEA", "quiet_since": _london(24, 10)})
    # London, Thursday 10:05: Tue 10-17 (7 h), Wed (8 h), Thu 09-10 (1 h) = 2 business days.  In New
    # York it is 05:05 on Thanksgiving: not a business day, and only 15 working hours so far.
    assert _due(rules_config, frame, _london(26, 10, 5))[0] == {"acct-2": 1}
    # New York, Friday 09:55 and 10:05: the second business day ends at 10:00.
    assert "acct-1" not in _due(rules_config, frame, _et(27, 9, 55))[0]
    assert _due(rules_config, frame, _et(27, 10, 5))[0]["acct-1"] == 1
    # Reminder 2, four business days: London Mon 30 Nov 10:00 (after the weekend),
    # New York Tue 1 Dec 10:00 (Fri 7 h, Mon 8 h, Tue 1 h after the first 16).
    reminded = frame.assign(reminded=1)
    assert _due(rules_config, reminded, _london(30, 9, 55))[0] == {}
    assert _due(rules_config, reminded, _london(30, 10, 5))[0] == {"acct-2": 2}
    assert _due(rules_config, reminded, _et(1, 9, 55, month=12))[0] == {"acct-2": 2}
    assert _due(rules_config, reminded, _et(1, 10, 5, month=12))[0] == {"acct-1": 2, "acct-2": 2}
    # After the last step of the cadence nothing more is due: the silent escalation takes over.
    assert _due(rules_config, frame.assign(reminded=2), _et(10, 10, month=12))[0] == {}


@pytest.mark.unit
def test_after_a_gap_only_the_latest_step_goes_out(rules_config: OnboardingConfig) -> None:
    # Nobody was reminded (the pass was down): at 5 business days both steps are due; one mail, number 2.
    frame = _waiting({"quiet_since": _et(16, 10)})
    chosen, summary = _due(rules_config, frame, _et(23, 11))
    assert chosen == {"acct-1": 2} and summary.due == 1


@pytest.mark.unit
def test_not_on_a_day_off_and_not_twice_a_day_per_contact(rules_config: OnboardingConfig) -> None:
    frame = _waiting({"quiet_since": _et(16, 10)})
    # Saturday 21 November: due since Wednesday, but nobody is emailed on a day off.
    chosen, summary = _due(rules_config, frame, _et(21, 11))
    assert chosen == {} and summary.due == 1 and summary.held_closed == 1
    # Already reminded today (New York date), whatever the UTC date says; yesterday evening does not count.
    today = _recent(contact1=_et(18, 9, 30))
    chosen, summary = _due(rules_config, frame, _et(18, 10, 5), today)
    assert chosen == {} and summary.held_same_day == 1
    late_yesterday = _recent(contact1=_et(17, 22, 30))  # 03:30 UTC on the 18th
    assert _due(rules_config, frame, _et(18, 10, 5), late_yesterday)[0] == {"acct-1": 1}


@pytest.mark.unit
def test_one_reminder_per_contact_the_longest_waiting_account_first(rules_config: OnboardingConfig) -> None:
    shared = "partner.ops@example.com"
    frame = _waiting(
        {"quiet_since": _et(16, 14), "contact": shared},
        {"quiet_since": _et(16, 10), "contact": shared},
        {"quiet_since": _et(16, 12)},
    )
    chosen, summary = _due(rules_config, frame, _et(18, 15))
    assert chosen == {"acct-2": 1, "acct-3": 1}
    assert summary.due == 3 and summary.held_same_day == 1


@pytest.mark.unit
def test_a_pass_queues_at_most_its_cap_longest_waiting_first(tmp_path: Path) -> None:
    config = cadence_config(tmp_path, max_reminders_per_pass=2)
    frame = _waiting(*({"quiet_since": _et(16, 10 + i)} for i in range(3)))
    chosen, summary = _due(config, frame, _et(18, 15))
    assert list(chosen) == ["acct-1", "acct-2"] and summary.held_over_cap == 1


# --------------------------------------------------------------------------- on the store


@pytest.fixture
def config(tmp_path: Path) -> OnboardingConfig:
    return cadence_config(tmp_path)


@pytest.fixture
def mailbox(sandbox: Any) -> Any:
    """The sandbox's SMTP server, emptied; the sandbox fixture made it the connection ``customer_mail``."""
    sandbox.mail.mailbox.clear()
    return sandbox.mail


def _account(store: Any, sandbox: Any, config: OnboardingConfig, requested: datetime, **props: Any) -> str:
    """An SMB order taken in by the real intake, its checklist planned and sent through the portal at ``requested``."""
    from include.onboarding import checklist, lifecycle
    from include.onboarding.clock import FixedClock
    from tests.factories import deal_properties
    from tests.test_intake import pickup

    order = {"onboarding_tier": "smb", "segment": "commercial", "amount": "9000", "region": "NA", **props}
    deal = sandbox.state.upsert_deal(deal_properties(closedate="2026-11-16T14:00:00.000Z", **order))
    pickup(store, config, f"pickup-{deal['id']}", clock=FixedClock(_et(16, 9)))
    key = f"hubspot-{deal['id']}"
    lifecycle.plan(store, config, key, _et(16, 9), "test")
    checklist.request_inputs(store, config, key, requested, secret=SECRET)
    return key


def _submit(store: Any, config: OnboardingConfig, key: str, item_key: str, value: str, at: datetime) -> str:
    """The customer sends one item through the one way in every channel uses; returns the verdict."""
    from include.onboarding import checklist, lifecycle
    from include.onboarding.validators import AccountContext, Submission

    ob = lifecycle.load(store, key)
    item = next(i for i in config.tiers[ob.tier].checklist if i.key == item_key)
    judgement = checklist.judge_submission(
        store, ob, item, Submission(item_key=item_key, value=value), submission_id=f"{key}:{item_key}:{at.isoformat()}",
        submitted_at=at, submitted_by=ob.primary_contact_email, summary={"value": value},
        account=AccountContext(region=ob.region), now=at,
    )  # fmt: skip
    return judgement.outcome


def _contact(store: Any, key: str) -> str:
    sql = "SELECT primary_contact_email FROM onboarding.onboardings WHERE onboarding_key = %s"
    return str(store.scalar(sql, (key,)))


def _listed(message: Any) -> list[str]:
    """The items a reminder asks for: its "- label" lines (the mail is HTML, lines end in <br>)."""
    return re.findall(r"(?:<p>|<br>)- ([^<]+)", message.html)


def _remind(store: Any, config: OnboardingConfig, at: datetime) -> reminders.ReminderSummary:
    return reminders.run(store, config, at.astimezone(timezone.utc), secret=SECRET)


def _reminded(store: Any, key: str) -> list[tuple[int, list[str]]]:
    """(number, open items) of each ``customer.reminded`` event of the account, in order."""
    return [
        (e["details"]["reminder"], e["details"]["open_items"])
        for e in store.events_for(key)
        if e["event_type"] == "customer.reminded"
    ]


def test_reminders_go_out_after_two_and_four_business_days_on_each_region_calendar(
    store: Any, sandbox: Any, config: OnboardingConfig, mailbox: Any
) -> None:
    from include.onboarding import mail

    new_york = _account(store, sandbox, config, _et(24, 10), region="NA")
    london = _account(store, sandbox, config, _london(24, 10), region="EMEA")
    for key, at in ((new_york, _et(24, 10)), (london, _london(24, 10))):  # sent with the request: no progress later
        assert _submit(store, config, key, "company_domain", "northwind.example", at) == "verified"

    # London Thursday 10:05 is 2 business days for the London customer; New York is on Thanksgiving.
    assert _remind(store, config, _london(26, 10, 5)).queued == 1
    assert _reminded(store, london) == [(1, ["billing_contact_email", "billing_tax_id", "company_website"])]
    assert _reminded(store, new_york) == []
    assert _remind(store, config, _et(27, 9, 55)).queued == 0
    assert _remind(store, config, _et(27, 10, 5)).queued == 1
    assert _reminded(store, new_york) == [(1, ["billing_contact_email", "company_website"])]
    # Four business days: London on Monday after the weekend, New York on Tuesday.
    assert _remind(store, config, _london(30, 10, 5)).queued == 1
    assert _remind(store, config, _et(1, 9, 55, month=12)).queued == 0
    assert _remind(store, config, _et(1, 10, 5, month=12)).queued == 1
    assert [n for n, _ in _reminded(store, london)] == [1, 2]
    assert [n for n, _ in _reminded(store, new_york)] == [1, 2]
    # The cadence is done: later passes send nothing more (the stage owner hears after 5 days).
    assert _remind(store, config, _et(7, 12, month=12)).queued == 0

    assert mail.deliver_pending(store, config, _et(1, 10, 6, month=12)).sent == 2 + 4  # the invitations too
    invitation, first, second = mailbox.messages(_contact(store, london))
    assert invitation.subject.endswith("your onboarding checklist")
    assert first.subject.endswith("3 onboarding item(s) still open")
    # Only what is still open; the company domain, verified, is not asked for again.
    assert _listed(first) == ["Billing contact email", "VAT number", "Company website"]
    assert "Company email domain" not in first.text
    assert any("/l/" in link for link in second.links)  # a fresh magic link in each
    rows = store.query("SELECT reminder, open_items FROM onboarding.customer_reminders ORDER BY queued_at, id")
    assert [r["reminder"] for r in rows] == [1, 1, 2, 2]


def test_a_submission_restarts_the_clock_and_the_count(store: Any, sandbox: Any, config: OnboardingConfig) -> None:
    from include.onboarding import escalations

    key = _account(store, sandbox, config, _et(16, 10))
    assert _remind(store, config, _et(18, 10, 5)).queued == 1  # Mon 10:00 + 2 business days

    # Thursday 11:00 the customer sends the billing contact, wrongly: still a step from them.
    assert _submit(store, config, key, "billing_contact_email", "billing at northwind", _et(19, 11)) == "rejected"
    # Friday 10:05 would have been reminder 2 on the old clock; the new one started on Thursday.
    assert _remind(store, config, _et(20, 10, 5)).queued == 0
    assert _remind(store, config, _et(23, 10, 55)).queued == 0
    # Two business days after Thursday 11:00 is Monday 11:00: reminder 1 again, not 2.
    assert _remind(store, config, _et(23, 11, 5)).queued == 1
    assert [n for n, _ in _reminded(store, key)] == [1, 1]

    # Tuesday 10:00 the customer sends the billing contact again, correctly: a second submission of the
    # item counts as much as the first (the company domain is still out, so reminders go on).
    assert _submit(store, config, key, "billing_contact_email", "billing@northwind.example", _et(24, 10)) == "verified"
    # Wednesday 11:00 would have been reminder 2 after Thursday's submission: nothing.
    assert _remind(store, config, _et(25, 11, 5)).queued == 0
    # Tue 10-17 (7 h), Wed (8 h), Thanksgiving off, Fri 09-10 (1 h): reminder 1 on Friday at 10:00.
    assert _remind(store, config, _et(27, 9, 55)).queued == 0
    assert _remind(store, config, _et(27, 10, 5)).queued == 1
    assert _reminded(store, key)[-1] == (1, ["company_domain", "company_website"])
    # The silent-customer escalation reads the same clock: last heard on Tuesday.
    assert escalations.load_open(store, key)["heard_at"].iloc[0] == _et(24, 10)


def test_at_most_one_reminder_a_day_per_contact_and_a_second_pass_sends_nothing(
    store: Any, sandbox: Any, config: OnboardingConfig
) -> None:
    from include.onboarding import mail

    # One person is the contact of two accounts; a third account has its own contact.
    shared = {"primary_contact_email": "ops@globex-resellers.example"}
    older = _account(store, sandbox, config, _et(16, 10), **shared)
    newer = _account(store, sandbox, config, _et(16, 12), **shared)
    other = _account(store, sandbox, config, _et(16, 12))

    at = _et(18, 12, 5)
    summary = _remind(store, config, at)
    assert (summary.due, summary.queued, summary.held_same_day) == (3, 2, 1)
    assert [len(_reminded(store, k)) for k in (older, newer, other)] == [1, 0, 1]
    again = _remind(store, config, at)  # the same instant: a retried task, or a pass run twice
    assert again.queued == 0 and store.scalar("SELECT count(*) FROM onboarding.outbox WHERE kind = 'reminder'") == 2
    assert _remind(store, config, _et(18, 16, 55)).queued == 0  # still Wednesday in New York
    assert _remind(store, config, _et(19, 9, 0)).queued == 1  # Thursday: the shared contact's other account
    assert [len(_reminded(store, k)) for k in (older, newer, other)] == [1, 1, 1]

    # A reminder someone sent by hand that morning counts for the day too.
    mail.queue_reminder(store, config, other, _et(20, 9, 30), reminder=1, secret=SECRET)
    assert _remind(store, config, _et(20, 12, 30)).held_same_day >= 1
    assert [n for n, _ in _reminded(store, other)] == [1]


def test_no_reminder_once_the_critical_items_are_in_or_the_account_moved_on(
    store: Any, sandbox: Any, config: OnboardingConfig
) -> None:
    from include.onboarding import state
    from include.onboarding.config import Stage

    answered = _account(store, sandbox, config, _et(16, 10))
    moved_on = _account(store, sandbox, config, _et(16, 10))
    # Every critical item verified within the hour; the company website (not critical) never comes.
    for item, value in (("billing_contact_email", "billing@northwind.example"), ("company_domain", "nw.example")):
        assert _submit(store, config, answered, item, value, _et(16, 11)) == "verified"
    # The other account left input collection (an owner waived what was missing and moved it on).
    state.advance(store, config, moved_on, Stage.APPROVALS, _et(16, 12), "test", "inputs waived by the owner")

    for at in (_et(18, 12), _et(20, 12), _et(24, 12)):
        summary = _remind(store, config, at)
        assert summary.waiting == 0 and summary.queued == 0
    assert _reminded(store, answered) == [] and _reminded(store, moved_on) == []
    assert store.scalar("SELECT count(*) FROM onboarding.outbox WHERE kind = 'reminder'") == 0


def test_a_pass_with_nothing_due_needs_no_portal_secret(
    store: Any, sandbox: Any, config: OnboardingConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from include.portal.links import PortalNotConfigured

    monkeypatch.delenv(config.settings.portal.secret_env, raising=False)
    _account(store, sandbox, config, _et(16, 10))
    assert reminders.run(store, config, _et(17, 10).astimezone(timezone.utc)).queued == 0
    with pytest.raises(PortalNotConfigured, match="ONBOARDING_PORTAL_SECRET"):
        reminders.run(store, config, _et(18, 10, 5).astimezone(timezone.utc))
    assert store.scalar("SELECT count(*) FROM onboarding.outbox WHERE kind = 'reminder'") == 0


# --------------------------------------------------------------------------- the escalation DAG


def test_the_escalation_dag_queues_and_delivers_reminders_with_only_the_open_items(
    airflow_db: None, store: Any, sandbox: Any, config: OnboardingConfig, mailbox: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from airflow.dag_processing.dagbag import DagBag

    from tests.test_tier_dags import DAGS

    key = _account(store, sandbox, config, _london(24, 10), region="EMEA")
    assert _submit(store, config, key, "company_domain", "northwind.example", _london(24, 10)) == "verified"
    at = _london(26, 10, 5)
    monkeypatch.setenv("ONBOARDING_CONFIG_DIR", str(config.config_dir))
    monkeypatch.setenv("ONBOARDING_CLOCK", f"fixed:{at.isoformat()}")
    monkeypatch.setenv("ONBOARDING_PORTAL_SECRET", SECRET.decode())

    dag = DagBag(dag_folder=str(DAGS)).dags["onboarding_escalations"]
    when = at.astimezone(timezone.utc)
    run = dag.test(logical_date=when, run_after=when)

    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == dict.fromkeys(("remind_customers", "deliver_mail", "evaluate", "deliver"), "success")
    contact = _contact(store, key)
    invitation, reminder = mailbox.messages(contact)  # the invitation waited in the outbox for a delivery pass
    assert "still open" in reminder.subject and "checklist" in invitation.subject
    assert _listed(reminder) == ["Billing contact email", "VAT number", "Company website"]
    assert store.scalar("SELECT status FROM onboarding.outbox WHERE kind = 'reminder'") == "sent"
    events = [e["event_type"] for e in store.events_for(key)]
    assert events.index("customer.reminded") < events.index("mail.sent")
    # Run again at the same instant (a cleared run): nothing new is queued or sent.
    assert dag.test(logical_date=when, run_after=when).state == "success"
    assert len(mailbox.messages(contact)) == 2


def test_without_a_portal_secret_the_reminders_are_skipped_and_the_escalations_still_run(
    airflow_db: None, store: Any, sandbox: Any, config: OnboardingConfig, mailbox: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from airflow.dag_processing.dagbag import DagBag

    from tests.test_tier_dags import DAGS

    _account(store, sandbox, config, _et(16, 10))
    at = _et(18, 10, 5)
    monkeypatch.setenv("ONBOARDING_CONFIG_DIR", str(config.config_dir))
    monkeypatch.setenv("ONBOARDING_CLOCK", f"fixed:{at.isoformat()}")
    monkeypatch.delenv("ONBOARDING_PORTAL_SECRET", raising=False)

    dag = DagBag(dag_folder=str(DAGS)).dags["onboarding_escalations"]
    when = at.astimezone(timezone.utc)
    run = dag.test(logical_date=when, run_after=when)

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["remind_customers"] == "skipped"
    assert states["deliver_mail"] == states["evaluate"] == states["deliver"] == "success"
    assert run.state == "success"
    assert store.scalar("SELECT count(*) FROM onboarding.outbox WHERE kind = 'reminder'") == 0
