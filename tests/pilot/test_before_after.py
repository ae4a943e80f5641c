"""The brief's before/after table, worked by hand on a small history.

All accounts are in NA (US holidays; none fall between March and mid-May 2026).
Business days count the days after the signing day through the day it
happened, on the region's calendar.  Percentiles are linear between ranks
(numpy's default): p75 of 5 values is the 4th, p90 is 60% of the way from the
4th to the 5th.

Baseline (5 rows of the export; signed on Mondays in March 2026):

=====  ==========  ======  ===========  =====  ========  =====  =======
row    tier        signed  first value  days   live      days   touches
=====  ==========  ======  ===========  =====  ========  =====  =======
1      smb         2 Mar   Mon 16 Mar   10     Mon 23 Mar  15   12
2      smb         2 Mar   Mon 23 Mar   15     Mon 30 Mar  20   20
3      smb         9 Mar   Mon 23 Mar   10     Fri 3 Apr   19   15
4      enterprise  9 Mar   Fri 3 Apr    19     Fri 10 Apr  24   18
5      enterprise  16 Mar  Mon 6 Apr    15     Mon 13 Apr  20   25
=====  ==========  ======  ===========  =====  ========  =====  =======

* first value [10, 10, 15, 15, 19]: median 15, p75 15, p90 15 + 0.6 x 4 = 17.4;
* live [15, 19, 20, 20, 24]: median 20, p75 20, p90 20 + 0.6 x 4 = 22.4;
* touches [12, 15, 18, 20, 25]: median 18, p75 20, p90 20 + 0.6 x 5 = 23;
* checklist completeness visible: the export has no such column: 0% of 5.

Automated (5 onboardings signed at 10:00 New York time in April 2026; first value is setup complete):

====  ==========  ========  ===========  ====  =========  ====  ==================  =========
acct  tier        signed    first value  days  live       days  touches             checklist
====  ==========  ========  ===========  ====  =========  ====  ==================  =========
A1    smb         Mon 20    Mon 27 Apr   5     Wed 29 Apr  7    2 approvals         yes
A2    smb         Mon 20    Wed 29 Apr   7     Fri 1 May   9    1 escalation (fail) yes
A3    smb         Tue 21    Tue 28 Apr   5     Tue 5 May   10   1 escalation        yes
A4    enterprise  Wed 22    Fri 1 May    7     Wed 6 May   10   0                   yes
A5    enterprise  Thu 23    Thu 7 May    10    (open)      -    (open: not counted)  no
====  ==========  ========  ===========  ====  =========  ====  ==================  =========

* first value [5, 5, 7, 7, 10]: median 7, p75 7, p90 7 + 0.6 x 3 = 8.8 (5 accounts: enough);
* live [7, 9, 10, 10]: 4 accounts, below the minimum of 5: median 9.5, p75 10, p90 10;
* touches of the live accounts [0, 1, 1, 2]: median 1, p75 1.25, p90 1.7 (4 accounts);
* checklist visible: 4 of 5 = 80%;
* escalation lag: A3's SLA breach raised 30 min after it (0.5 h), A5's at-risk forecast 2 h after
  (A2's failure escalation is a touch but no SLA escalation): median 1.25 h, p75 0.5 + 0.75 x 1.5
  = 1.625, p90 0.5 + 0.9 x 1.5 = 1.85, 2 accounts.

The pilot "SMB" (include tier smb): baseline rows 1-3, first value [10, 10, 15]: median 10,
p75 12.5, p90 10 + 0.8 x 5 = 14; automated A1-A3, first value [5, 5, 7]: median 5, p75 6,
p90 5 + 0.8 x 2 = 6.6.  3 accounts on each side: not enough yet.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from include.onboarding import baseline, report_pages, reporting
from include.onboarding.config import OnboardingConfig, PilotScope, load_config
from include.onboarding.store import Store

ET = ZoneInfo("America/New_York")
AT = datetime(2026, 5, 8, 0, 0, tzinfo=timezone.utc)


def _et(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=ET).astimezone(timezone.utc)


def _config(**scope: Any) -> OnboardingConfig:
    config = load_config()
    settings = config.settings.model_copy(update={"pilot": PilotScope(**scope)})
    return config.model_copy(update={"settings": settings})


BASELINE = pd.DataFrame(
    [
        dict(account="Acme", tier="smb", segment="commercial", region="NA", signed_on=date(2026, 3, 2),
             first_value_on=date(2026, 3, 16), live_on=date(2026, 3, 23), touches=12, checklist_tracked=None),
        dict(account="Birch", tier="smb", segment="commercial", region="NA", signed_on=date(2026, 3, 2),
             first_value_on=date(2026, 3, 23), live_on=date(2026, 3, 30), touches=20, checklist_tracked=None),
        dict(account="Cedar", tier="smb", segment="startup", region="NA", signed_on=date(2026, 3, 9),
             first_value_on=date(2026, 3, 23), live_on=date(2026, 4, 3), touches=15, checklist_tracked=None),
        dict(account="Drift", tier="enterprise", segment="large", region="NA", signed_on=date(2026, 3, 9),
             first_value_on=date(2026, 4, 3), live_on=date(2026, 4, 10), touches=18, checklist_tracked=None),
        dict(account="Evergreen", tier="enterprise", segment="large", region="NA", signed_on=date(2026, 3, 16),
             first_value_on=date(2026, 4, 6), live_on=date(2026, 4, 13), touches=25, checklist_tracked=None),
    ]
)  # fmt: skip


def _history() -> reporting.History:
    accounts = [
        (1, "A1", "smb", _et(4, 20), _et(4, 27), _et(4, 29), 2),
        (2, "A2", "smb", _et(4, 20), _et(4, 29), _et(5, 1), 0),
        (3, "A3", "smb", _et(4, 21), _et(4, 28), _et(5, 5), 0),
        (4, "A4", "enterprise", _et(4, 22), _et(5, 1), _et(5, 6), 0),
        (5, "A5", "enterprise", _et(4, 23), _et(5, 7), None, 0),
    ]
    onboardings = pd.DataFrame(
        [
            dict(id=i, onboarding_key=key, account_name=key, tier=tier, region="NA", segment="commercial",
                 status="live" if live else "open", stage="live" if live else "setup", signed_at=signed,
                 activation_target=date(2026, 5, 29), created_at=signed, live_at=live)
            for i, key, tier, signed, _, live, _ in accounts
        ]
    )  # fmt: skip
    events = pd.DataFrame(
        [
            dict(onboarding_id=i, first_value_at=first, manual_actions=manual)
            for i, _, _, _, first, _, manual in accounts
        ]
    )
    checklist = pd.DataFrame(
        [
            dict(onboarding_id=i, item_key="billing_contact_email", critical=True, status="verified")
            for i in (1, 2, 3, 4)
        ]
    )
    escalations = pd.DataFrame(
        [
            dict(onboarding_id=3, kind="sla_breach", level=1, reason="", breach_at=_et(4, 24, 10),
                 raised_at=_et(4, 24, 10, 30), resolved_at=None),
            dict(onboarding_id=5, kind="at_risk", level=1, reason="", breach_at=_et(5, 4, 9), raised_at=_et(5, 4, 11),
                 resolved_at=None),
            dict(onboarding_id=2, kind="failure", level=1, reason="", breach_at=_et(4, 27, 9),
                 raised_at=_et(4, 27, 12), resolved_at=_et(4, 28, 9)),
        ]
    )  # fmt: skip
    return reporting.History(
        onboardings, pd.DataFrame(), checklist, escalations, events, baseline=BASELINE.copy()
    )  # fmt: skip


def _table(config: OnboardingConfig) -> pd.DataFrame:
    history = _history()
    accounts = reporting.account_time_to_value(history, config)
    touches = reporting.exception_touches(history)
    return reporting.pilot_before_after(history, accounts, touches, config)


def _row(table: pd.DataFrame, scope: str, metric: str) -> dict[str, Any]:
    [row] = table[(table["scope"] == scope) & (table["metric"] == metric)].to_dict("records")
    return row


def _figures(row: dict[str, Any], side: str) -> tuple[Any, ...]:
    return tuple(row[f"{side}_{k}"] for k in ("accounts", "median", "p75", "p90"))


@pytest.mark.unit
def test_time_to_first_value_and_to_live_before_and_after_worked_by_hand() -> None:
    table = _table(_config())
    assert set(table["scope"]) == {"all"}  # the default scope takes every order: no separate pilot rows

    first = _row(table, "all", "time_to_first_value")
    assert _figures(first, "before") == (5, 15.0, 15.0, pytest.approx(17.4))
    assert _figures(first, "after") == (5, 7.0, 7.0, pytest.approx(8.8))
    assert first["unit"] == "business days" and first["enough"] is True

    live = _row(table, "all", "time_to_live")
    assert _figures(live, "before") == (5, 20.0, 20.0, pytest.approx(22.4))
    assert _figures(live, "after") == (4, 9.5, 10.0, 10.0)
    assert live["enough"] is False  # 4 accounts went live, the minimum is 5


@pytest.mark.unit
def test_touches_checklist_visibility_and_escalation_lag_worked_by_hand() -> None:
    table = _table(_config())

    touches = _row(table, "all", "manual_touches")
    assert _figures(touches, "before") == (5, 18.0, 20.0, pytest.approx(23.0))
    assert _figures(touches, "after") == (4, 1.0, 1.25, pytest.approx(1.7))

    visible = _row(table, "all", "checklist_visible")
    assert (visible["before_accounts"], visible["before_share_pct"]) == (5, 0.0)
    assert (visible["after_accounts"], visible["after_share_pct"]) == (5, 80.0)
    assert visible["enough"] is True

    lag = _row(table, "all", "escalation_lag")
    assert lag["unit"] == "hours" and lag["before_accounts"] == 0
    assert _figures(lag, "after") == (2, 1.25, pytest.approx(1.625), pytest.approx(1.85))
    assert lag["enough"] is False  # 2 accounts; the baseline side is never asked for


@pytest.mark.unit
def test_the_pilot_s_own_rows_compare_like_with_like() -> None:
    table = _table(_config(name="SMB", include=[{"tier": "smb"}]))

    assert set(table["scope"]) == {"all", "pilot"}
    first = _row(table, "pilot", "time_to_first_value")
    assert first["scope_name"] == "SMB"
    assert _figures(first, "before") == (3, 10.0, 12.5, pytest.approx(14.0))
    assert _figures(first, "after") == (3, 5.0, 6.0, pytest.approx(6.6))
    assert first["enough"] is False
    # The overall rows are the same as without a pilot.
    assert _figures(_row(table, "all", "time_to_first_value"), "before") == (5, 15.0, 15.0, pytest.approx(17.4))


@pytest.mark.unit
def test_the_summary_opens_with_the_table_and_says_honestly_what_is_not_known_yet(tmp_path: Path) -> None:
    tables = {"pilot_before_after": _table(_config())}
    chart = report_pages.draw_before_after(tables, tmp_path)
    title, body = report_pages.before_after_section(tables, chart)

    assert title == "Before and after: every signed order"
    assert "median 15.0, p75 15.0, p90 17.4 (5 accounts)" in body
    assert "median 7.0, p75 7.0, p90 8.8 (5 accounts)" in body
    assert "not enough accounts yet (4 of the minimum 5)" in body  # time to live, after
    assert "0.0% of 5 accounts" in body and "80.0% of 5 accounts" in body
    assert "not recorded before the automation" in body
    assert chart is None and (tmp_path / report_pages.BEFORE_AFTER_CHART).exists()

    pilot = {"pilot_before_after": _table(_config(name="SMB", include=[{"tier": "smb"}]))}
    reason = report_pages.draw_before_after(pilot, tmp_path / "pilot")
    title, body = report_pages.before_after_section(pilot, reason)
    assert title == "Before and after: SMB"
    assert "not enough accounts yet (3 of the minimum 5)" in body
    assert reason == "not enough accounts yet on both sides"
    assert "Before/after chart: not drawn, not enough accounts yet on both sides." in body


def test_the_reporting_run_writes_the_table_from_an_imported_baseline(store: Store, tmp_path: Path) -> None:
    export = tmp_path / "baseline.csv"
    export.write_text(
        "account,tier,segment,region,signed_date,first_value_date,live_date,touches\n"
        + "".join(
            f"{r.account},{r.tier},{r.segment},{r.region},{r.signed_on},{r.first_value_on},{r.live_on},{r.touches}\n"
            for r in BASELINE.itertuples()
        )
    )
    config = _config(name="SMB", include=[{"tier": "smb"}])
    assert baseline.import_file(store, config, export, AT).ok

    written = reporting.build(store, config, date(2026, 5, 7), AT)

    assert written["pilot_before_after"] == 10  # five measures, overall and for the pilot
    table = reporting.read(store, "pilot_before_after", date(2026, 5, 7))
    first = _row(table, "all", "time_to_first_value")
    assert _figures(first, "before") == (5, 15.0, 15.0, pytest.approx(17.4))
    assert first["after_accounts"] == 0 and not first["enough"]
    assert _row(table, "pilot", "time_to_live")["before_accounts"] == 3
    page = report_pages.render(reporting.read_all(store, date(2026, 5, 7)), date(2026, 5, 7), tmp_path).read_text()
    assert page.index("Before and after: SMB") < page.index("Time to live by tier")
    assert "not enough accounts yet (0 of the minimum 5)" in page
