"""Leadership metrics on a small hand-built history, with every expected value
worked out by hand below; then the reporting DAG end to end on real PostgreSQL.

Three NA accounts (US holidays, New York business hours 09:00-17:00, so one
business day is 8 working hours; Thursday 26 Nov 2026 is Thanksgiving):

* A, enterprise: signed Fri 20 Nov 10:00 ET, setup complete Wed 2 Dec, live Fri 4 Dec.
  Business days to first value: 23, 24, 25, 27, 30 Nov, 1, 2 Dec = 7 (calendar 12.0).
  To live: those plus 3, 4 Dec = 9 (calendar 14.0).
  Approvals Mon 23 Nov 09:00 - Wed 25 Nov 17:00 ET = 24 h = 3 business days (SLA 3: met).
  Handoff Thu 3 Dec 09:00 - Fri 4 Dec 10:00 ET = 9 h = 1.125 (SLA 2: met). Two approvals by people.
* B, SMB: signed Mon 2 Nov 09:00 ET, setup complete Thu 5 Nov, live Mon 9 Nov.
  First value 3 business days (3.0 calendar), live 3, 4, 5, 6, 9 Nov = 5 (7.0 calendar).
  Setup Thu 5 Nov 09:00 - Fri 6 Nov 15:00 ET = 14 h = 1.75 business days (SLA 1: missed).
* C, SMB, still open on 4 Dec: in collect_inputs since Mon 16 Nov 09:00 ET; the checklist went
  out at 10:00 and a critical item is still missing, so its clock ran 1 h = 0.125 business days
  (the SMB tier pauses it on the customer).  Target Tue 1 Dec (10 business days after
  16 Nov, Thanksgiving skipped).  One failure escalation, raised at its breach, open.

Where the days went (business time, 8 h a day), from the audit events of B only; A and C recorded
none the split reads, so all their time is idle:
* B: signed Mon 2 Nov 09:00, live Mon 9 Nov 09:00 = 40 h = 5 days.  Checklist out at signing, its one
  critical item verified Tue 13:00: customer 12 h = 1.5.  Setup from Thu 09:00 to live, 16 h, of which a
  failed billing call Thu 13:00-15:00 (failures 2 h = 0.25): setup 14 h = 1.75.  Idle Tue 13:00 -
  Thu 09:00 = 12 h = 1.5.
* A: Fri 20 Nov 10:00 - Fri 4 Dec 10:00 = 7 + 24 + 8 (Thanksgiving skipped) + 32 + 1 = 72 h = 9 days idle.
* C: Mon 16 Nov 09:00 - Fri 4 Dec 19:00 ET (the end of the report date) = 112 h = 14 days idle.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from include.onboarding import report_pages, reporting
from include.onboarding.config import load_config

ET = ZoneInfo("America/New_York")
AT = datetime(2026, 12, 5, 0, 0, tzinfo=timezone.utc)  # end of Friday 4 Dec in UTC


def _et(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=ET).astimezone(timezone.utc)


def _history() -> reporting.History:
    onboardings = pd.DataFrame(
        [
            dict(id=1, onboarding_key="A", account_name="Acme", tier="enterprise", region="NA", segment="strategic",
                 status="live", stage="live", stage_owner_email="carla.mendes@example.com",
                 owner_email="priya.shah@example.com", signed_at=_et(11, 20, 10), activation_target=date(2027, 1, 5),
                 created_at=_et(11, 20, 11), stage_entered_at=_et(12, 4, 10), blocked_reason=None,
                 live_at=_et(12, 4, 10), paused_at=None, resumed_at=None),
            dict(id=2, onboarding_key="B", account_name="Birch", tier="smb", region="NA", segment="commercial",
                 status="live", stage="live", stage_owner_email="ben.foster@example.com",
                 owner_email="sam.okafor@example.com", signed_at=_et(11, 2, 9), activation_target=date(2026, 11, 16),
                 created_at=_et(11, 2, 9), stage_entered_at=_et(11, 9, 9), blocked_reason=None, live_at=_et(11, 9, 9),
                 paused_at=None, resumed_at=None),
            dict(id=3, onboarding_key="C", account_name="Cedar", tier="smb", region="NA", segment="commercial",
                 status="open", stage="collect_inputs", stage_owner_email="sam.okafor@example.com",
                 owner_email="sam.okafor@example.com", signed_at=_et(11, 16, 9), activation_target=date(2026, 12, 1),
                 created_at=_et(11, 16, 9), stage_entered_at=_et(11, 16, 9),
                 blocked_reason="critical input 'billing_contact_email' is missing", live_at=None,
                 # The checklist went out at 10:00; a critical item is still missing: still paused.
                 paused_at=_et(11, 16, 10), resumed_at=None),
        ]
    )  # fmt: skip
    stage_history = pd.DataFrame(
        [
            dict(onboarding_id=1, stage="approvals", entered_at=_et(11, 23, 9), exited_at=_et(11, 25, 17)),
            dict(onboarding_id=1, stage="handoff", entered_at=_et(12, 3, 9), exited_at=_et(12, 4, 10)),
            dict(onboarding_id=1, stage="live", entered_at=_et(12, 4, 10), exited_at=None),
            dict(onboarding_id=2, stage="setup", entered_at=_et(11, 5, 9), exited_at=_et(11, 6, 15)),
            dict(onboarding_id=3, stage="collect_inputs", entered_at=_et(11, 16, 9), exited_at=None),
        ]
    )
    checklist = pd.DataFrame(
        [
            dict(onboarding_id=3, item_key="billing_contact_email", critical=True, status="missing"),
            dict(onboarding_id=3, item_key="company_domain", critical=True, status="verified"),
            dict(onboarding_id=3, item_key="logo", critical=False, status="rejected"),
        ]
    )  # fmt: skip
    escalations = pd.DataFrame(
        [
            dict(onboarding_id=3, kind="failure", level=1, reason="gave up waiting for the customer's input",
                 breach_at=_et(11, 18, 9), raised_at=_et(11, 18, 9), resolved_at=None),
        ]
    )  # fmt: skip
    events = pd.DataFrame(
        [
            dict(onboarding_id=1, first_value_at=_et(12, 2, 10), manual_actions=2),
            dict(onboarding_id=2, first_value_at=_et(11, 5, 9), manual_actions=0),
            dict(onboarding_id=3, first_value_at=None, manual_actions=0),
        ]
    )
    facts = pd.DataFrame(
        [
            dict(onboarding_id=2, event_type="checklist.planned", occurred_at=_et(11, 2, 9), stage="intake",
                 ref=None, critical=None, kind=None, critical_items=["billing_contact_email"], approvals=[]),
            dict(onboarding_id=2, event_type="checklist.requested", occurred_at=_et(11, 2, 9), stage="intake"),
            dict(onboarding_id=2, event_type="input.verified", occurred_at=_et(11, 3, 13), stage="collect_inputs",
                 ref="billing_contact_email", critical=True),
            dict(onboarding_id=2, event_type="stage.entered", occurred_at=_et(11, 5, 9), stage="setup"),
            dict(onboarding_id=2, event_type="setup.step_failed", occurred_at=_et(11, 5, 13), stage="setup",
                 ref="billing_profile"),
            dict(onboarding_id=2, event_type="setup.step_completed", occurred_at=_et(11, 5, 15), stage="setup",
                 ref="billing_profile"),
            dict(onboarding_id=2, event_type="onboarding.live", occurred_at=_et(11, 9, 9), stage="live"),
        ],
        columns=["onboarding_id", "event_type", "occurred_at", "stage", "ref", "critical", "kind", "critical_items",
                 "approvals"],
    )  # fmt: skip
    return reporting.History(onboardings, stage_history, checklist, escalations, events, split_facts=facts)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return reporting.compute(_history(), load_config(), AT)


def _rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in frame[columns].itertuples(index=False, name=None)]


def test_time_to_first_value_and_to_live_per_account(tables: dict[str, pd.DataFrame]) -> None:
    accounts = tables["account_time_to_value"]
    columns = ["onboarding_key", "status", "cohort_month", "days_to_first_value", "business_days_to_first_value",
               "days_to_live", "business_days_to_live", "on_time"]  # fmt: skip
    assert _rows(accounts[accounts["status"] == "live"], columns) == [
        ("A", "live", "2026-11", 12.0, 7, 14.0, 9, True),
        ("B", "live", "2026-11", 3.0, 3, 7.0, 5, True),
    ]
    (c,) = accounts[accounts["onboarding_key"] == "C"].to_dict("records")
    assert c["status"] == "open"
    assert all(pd.isna(c[k]) for k in columns[3:])  # not there yet: empty, not zero


def test_medians_and_percentiles_by_tier_and_overall(tables: dict[str, pd.DataFrame]) -> None:
    summary = tables["time_to_value_summary"].set_index(["dimension", "value", "measure", "unit"])
    # Live in business days: A 9, B 5.  Linear percentiles of [5, 9]: p50 7, p75 8, p90 8.6.
    overall = summary.loc[("all", "all", "live", "business_days")]
    assert (overall["accounts"], overall["median"], overall["p75"], overall["p90"]) == (2, 7.0, 8.0, pytest.approx(8.6))
    assert summary.loc[("tier", "smb", "live", "business_days")]["median"] == 5.0  # C is open: not counted
    assert summary.loc[("tier", "enterprise", "first_value", "calendar_days")]["median"] == 12.0
    assert summary.loc[("segment", "commercial", "live", "calendar_days")]["accounts"] == 1
    assert summary.loc[("cohort_month", "2026-11", "live", "calendar_days")]["median"] == 10.5


def test_stage_durations_in_business_time_and_sla(tables: dict[str, pd.DataFrame]) -> None:
    durations = tables["stage_durations"]
    assert _rows(durations, ["onboarding_key", "stage", "business_days", "sla_business_days", "met_sla"]) == [
        ("A", "approvals", 3.0, 3.0, True),
        ("A", "handoff", 1.125, 2.0, True),
        ("B", "setup", 1.75, 1.0, False),
        ("C", "collect_inputs", 0.125, 4.0, None),  # open and within SLA: not judged yet
    ]


def test_bottleneck_ranking(tables: dict[str, pd.DataFrame]) -> None:
    overall = tables["stage_bottlenecks"]
    overall = overall[overall["tier"] == "all"].sort_values("rank")
    # Longest stage: A approvals, B setup, C collect_inputs; ties broken by total time.
    assert _rows(overall, ["rank", "stage", "times_longest", "total_business_days", "accounts_in_stage_now"]) == [
        (1, "approvals", 1, 3.0, 0),
        (2, "setup", 1, 1.75, 0),
        (3, "collect_inputs", 1, 0.125, 1),
        (4, "handoff", 0, 1.125, 0),
    ]


def test_sla_attainment_per_tier_and_stage(tables: dict[str, pd.DataFrame]) -> None:
    sla = tables["sla_attainment"]
    all_weeks = sla[sla["week"] == reporting.ALL_WEEKS]
    assert sorted(_rows(all_weeks, ["tier", "stage", "completed", "met", "attainment_pct"])) == [
        ("all", "approvals", 1, 1, 100.0),
        ("all", "handoff", 1, 1, 100.0),
        ("all", "setup", 1, 0, 0.0),
        ("enterprise", "approvals", 1, 1, 100.0),
        ("enterprise", "handoff", 1, 1, 100.0),
        ("smb", "setup", 1, 0, 0.0),
    ]
    weekly = sla[(sla["tier"] == "all") & (sla["week"] != reporting.ALL_WEEKS)]
    assert sorted(_rows(weekly, ["week", "stage"])) == [
        (date(2026, 11, 2), "setup"), (date(2026, 11, 23), "approvals"), (date(2026, 11, 30), "handoff"),
    ]  # fmt: skip


def test_checklist_completeness_of_open_accounts(tables: dict[str, pd.DataFrame]) -> None:
    assert _rows(
        tables["checklist_completeness"],
        ["onboarding_key", "items", "received", "verified", "rejected", "missing", "critical_outstanding"],
    ) == [("C", 3, 0, 1, 1, 1, 1)]
    assert tables["checklist_completeness"]["percent_verified"].iloc[0] == pytest.approx(100 / 3)


def test_escalations_touches_and_blocked_accounts(tables: dict[str, pd.DataFrame]) -> None:
    lag = tables["escalation_lag"]
    assert _rows(lag, ["kind", "escalations", "open", "accounts", "median_breach_to_escalation_min"]) == [
        ("failure", 1, 1, 1, 0.0)
    ]
    assert lag["median_escalation_to_resolution_h"].iloc[0] is None  # nothing resolved: no made-up zero
    assert _rows(tables["exception_touches"], ["onboarding_key", "manual_actions", "escalations", "touches"]) == [
        ("A", 2, 0, 2), ("B", 0, 0, 0), ("C", 0, 1, 1),
    ]  # fmt: skip
    (blocked,) = _rows(
        tables["blocked_accounts"],
        ["onboarding_key", "owner_email", "stage", "days_blocked", "days_to_target", "business_days_to_target"],
    )
    # Blocked since 16 Nov 14:00 UTC until 5 Dec 00:00 UTC = 18.42 days; target 1 Dec is 3 days
    # (and 3 business days: 1, 2, 3 Dec) behind Friday 4 Dec.
    assert blocked == ("C", "sam.okafor@example.com", "collect_inputs", 18.42, -3, -3)


def test_throughput_per_week(tables: dict[str, pd.DataFrame]) -> None:
    assert _rows(tables["throughput_weekly"], ["week", "started", "completed"]) == [
        (date(2026, 11, 2), 1, 0), (date(2026, 11, 9), 0, 1), (date(2026, 11, 16), 2, 0), (date(2026, 11, 30), 0, 1),
    ]  # fmt: skip


def test_where_the_days_went_by_tier_and_segment(tables: dict[str, pd.DataFrame]) -> None:
    split = tables["time_split"].set_index(["dimension", "value", "status", "category"])
    columns = ["accounts", "mean_business_days", "total_business_days", "share_pct"]

    def row(*key: str) -> tuple[Any, ...]:
        return tuple(split.loc[key, columns])

    # Live: A (9 days, all idle) and B (5 days); 14 days in all.
    assert row("all", "all", "live", "customer") == (2, 0.75, 1.5, pytest.approx(10.71, abs=0.01))
    assert row("all", "all", "live", "failures") == (2, 0.125, 0.25, pytest.approx(1.79, abs=0.01))
    assert row("all", "all", "live", "setup") == (2, 0.875, 1.75, 12.5)
    assert row("all", "all", "live", "idle") == (2, 5.25, 10.5, 75.0)
    assert row("all", "all", "live", "approvals") == (2, 0.0, 0.0, 0.0)
    assert [row("tier", "smb", "live", c)[3] for c in ("customer", "approvals", "failures", "setup", "idle")] == [
        30.0, 0.0, 5.0, 35.0, 30.0,
    ]  # fmt: skip
    assert row("segment", "strategic", "live", "idle") == (1, 9.0, 9.0, 100.0)
    assert row("tier", "smb", "open", "idle") == (1, 14.0, 14.0, 100.0)  # C so far


def test_no_data_gives_empty_tables_and_an_honest_summary(tmp_path: Any) -> None:
    empty = reporting.History(*(pd.DataFrame() for _ in range(5)))
    tables = reporting.compute(empty, load_config(), AT)
    assert set(tables) == set(reporting.TABLES)
    assert all(frame.empty for frame in tables.values())
    page = report_pages.render(tables, date(2026, 12, 4), tmp_path).read_text()
    assert "not drawn, no account has gone live yet" in page
    assert not list(tmp_path.glob("*/*.png"))


# --------------------------------------------------------------------------- the DAG, end to end


def test_the_reporting_dag_writes_the_tables_and_a_rerun_leaves_them_identical(
    airflow_db: None, store: Any, sandbox: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from include.onboarding import escalations, lifecycle
    from include.onboarding.clock import FixedClock
    from include.onboarding.config import Stage
    from tests.factories import deal_properties, move_to
    from tests.test_intake import pickup
    from tests.test_tier_dags import DAGS

    monkeypatch.setenv("ONBOARDING_REPORTS_DIR", str(tmp_path))
    monkeypatch.setenv("ONBOARDING_CLOCK", "fixed:2026-12-01T00:00:00+00:00")
    config = load_config()
    signed = _et(11, 2, 9)
    keys = []
    for tier, segment in (("smb", "commercial"), ("smb", "commercial"), ("enterprise", "strategic")):
        deal = sandbox.state.upsert_deal(
            deal_properties(onboarding_tier=tier, segment=segment, amount="9000", closedate=signed.isoformat())
        )
        pickup(store, config, f"p-{deal['id']}", clock=FixedClock(signed))
        keys.append(f"hubspot-{deal['id']}")
    live, stalled, escalated = keys
    for stage, when in ((Stage.COLLECT_INPUTS, _et(11, 2, 10)), (Stage.SETUP, _et(11, 4, 9)),
                        (Stage.HANDOFF, _et(11, 6, 9)), (Stage.LIVE, _et(11, 9, 12))):  # fmt: skip
        move_to(store, config, live, stage, when, "test", "moved on")
    lifecycle.record(store, live, "setup.completed", _et(11, 5, 16), "system:go-live", {}, dedupe=f"sc:{live}")
    store.conn.execute(
        "UPDATE onboarding.onboardings SET status = 'live', live_at = %s WHERE onboarding_key = %s",
        (_et(11, 9, 12), live),
    )
    move_to(store, config, stalled, Stage.COLLECT_INPUTS, _et(11, 2, 10), "test", "planned")
    lifecycle.plan(store, config, stalled, _et(11, 2, 10), "test")
    move_to(store, config, escalated, Stage.APPROVALS, _et(11, 3, 9), "test", "inputs in")
    escalations.run_pass(store, config, _et(11, 12, 9))  # the approvals SLA (3 business days) is long gone

    dag = DagBag(dag_folder=str(DAGS)).dags["onboarding_reporting"]
    when = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)
    first = dag.test(logical_date=when, run_after=when)
    report_date = date(2026, 11, 20)
    snapshot = {name: reporting.read(store, name, report_date) for name in reporting.TABLES}
    second = dag.test(logical_date=when, run_after=when)  # a rerun (or a backfill) of the same date
    again = {name: reporting.read(store, name, report_date) for name in reporting.TABLES}

    assert first.state == "success" and second.state == "success"
    for name in reporting.TABLES:
        pd.testing.assert_frame_equal(snapshot[name], again[name], obj=name)
    accounts = snapshot["account_time_to_value"].set_index("onboarding_key")
    # Signed Mon 2 Nov, live Mon 9 Nov 12:00 ET: 5 business days, 7.125 calendar days.
    assert accounts.loc[live, "business_days_to_live"] == 5
    assert accounts.loc[live, "days_to_live"] == pytest.approx(7.125)
    assert accounts.loc[stalled, "status"] == "open" and pd.isna(accounts.loc[stalled, "days_to_live"])
    assert set(snapshot["checklist_completeness"]["onboarding_key"]) == {stalled, escalated}
    blocked = snapshot["blocked_accounts"].set_index("onboarding_key")
    assert escalated in blocked.index and blocked.loc[escalated, "owner_email"] == "rachel.kim@example.com"
    assert set(snapshot["escalation_lag"]["kind"]) >= {"sla_breach"}
    out = tmp_path / "2026-11-20"
    assert (out / "summary.html").exists()
    assert {p.name for p in out.glob("*.png")} == set(report_pages.CHARTS)
    # Nothing else is in the reporting tables: only that date, once.
    count = store.scalar("SELECT count(*) FROM reporting.account_time_to_value")
    assert count == 3


def test_stages_that_took_no_business_time_are_nobody_s_bottleneck() -> None:
    durations = pd.DataFrame(
        [
            dict(onboarding_key="X", tier="smb", stage="intake", entered_at=AT, exited_at=AT, calendar_days=0.0,
                 business_days=0.0, sla_business_days=0.5, met_sla=True),
            dict(onboarding_key="X", tier="smb", stage="setup", entered_at=AT, exited_at=AT, calendar_days=0.0,
                 business_days=0.0, sla_business_days=1.0, met_sla=True),
        ]
    )  # fmt: skip
    ranking = reporting.stage_bottlenecks(durations)
    assert ranking["times_longest"].tolist() == [0, 0, 0, 0]  # all tiers and smb, two stages each
