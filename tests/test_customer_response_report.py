"""How customers respond: reminders sent and answered, and business days to answer, on a small
hand-built history with every figure worked out by hand; then the same table from the store.

NA accounts (US holidays, New York business hours 09:00-17:00: one business day is eight
working hours; Thursday 26 Nov 2026 is Thanksgiving), report as of the end of Friday 4 Dec:

* P, SMB: checklist requested Mon 16 Nov 10:00.  Reminder emailed Wed 18 10:05.  First
  submission Thu 19 11:00 (the billing contact, rejected); sent again Mon 23 12:00 (verified),
  with the company domain.
  Request to first submission: Mon 7 h + Tue 8 + Wed 8 + Thu 2 = 25 h = 3.125 business days.
  Rejection to resubmission: Thu 6 h + Fri 8 + Mon 3 = 17 h = 2.125.
  Reminder to next submission: Wed 10:05-17:00 6 h 55 + Thu 2 h = 535 min = 1.114583.
* Q, SMB: requested Tue 24 Nov 09:00; reminders emailed Wed 25 09:00 and Fri 27 09:00;
  nothing sent back yet: awaiting its first submission, both reminders unanswered.
* R, enterprise: requested Fri 20 Nov 15:00; first submissions Wed 25 10:00: the billing
  contact verified, the company domain rejected and not sent again yet.
  Request to first submission: Fri 2 h + Mon 8 + Tue 8 + Wed 1 = 19 h = 2.375.
* S, SMB: requested Mon 7 Dec, after the report date: not counted.
* T, SMB: live, its checklist never requested through the portal: not counted.

All tiers: first submission [3.125, 2.375]: median 2.75, p90 2.375 + 0.9 x 0.75 = 3.05.
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
AT = datetime(2026, 12, 5, 5, 0, tzinfo=timezone.utc)  # end of Friday 4 Dec in New York


def _et(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=ET).astimezone(timezone.utc)


def _account(id: int, key: str, tier: str, requested: datetime | None, live: bool = False) -> dict[str, Any]:
    return dict(
        id=id, onboarding_key=key, account_name=key, tier=tier, region="NA", segment="commercial",
        status="live" if live else "open", stage="live" if live else "collect_inputs",
        stage_owner_email="sam.okafor@example.com", owner_email="sam.okafor@example.com", signed_at=_et(11, 16, 9),
        activation_target=date(2026, 12, 30), created_at=_et(11, 16, 9), stage_entered_at=_et(11, 16, 9),
        blocked_reason=None, live_at=_et(11, 30, 9) if live else None, paused_at=requested, resumed_at=None,
    )  # fmt: skip


def _history() -> reporting.History:
    onboardings = pd.DataFrame(
        [
            _account(1, "P", "smb", _et(11, 16, 10)),
            _account(2, "Q", "smb", _et(11, 24, 9)),
            _account(3, "R", "enterprise", _et(11, 20, 15)),
            _account(4, "S", "smb", _et(12, 7, 9)),
            _account(5, "T", "smb", None, live=True),
        ]
    )
    submissions = pd.DataFrame(
        [
            dict(onboarding_id=1, item_key="billing_contact_email", submitted_at=_et(11, 19, 11), verdict="rejected"),
            dict(onboarding_id=1, item_key="billing_contact_email", submitted_at=_et(11, 23, 12), verdict="verified"),
            dict(onboarding_id=1, item_key="company_domain", submitted_at=_et(11, 23, 12), verdict="verified"),
            dict(onboarding_id=3, item_key="billing_contact_email", submitted_at=_et(11, 25, 10), verdict="verified"),
            dict(onboarding_id=3, item_key="company_domain", submitted_at=_et(11, 25, 10), verdict="rejected"),
        ]
    )  # fmt: skip
    reminders = pd.DataFrame(
        [
            dict(onboarding_id=1, sent_at=_et(11, 18, 10, 5)),
            dict(onboarding_id=2, sent_at=_et(11, 25, 9)),
            dict(onboarding_id=2, sent_at=_et(11, 27, 9)),
        ]
    )
    empty = pd.DataFrame()
    return reporting.History(onboardings, empty, empty, empty, empty, submissions, reminders)


@pytest.fixture(scope="module")
def response() -> pd.DataFrame:
    return reporting.customer_response(_history(), load_config(), AT).set_index("tier")


@pytest.mark.unit
def test_reminders_sent_and_answered_per_tier(response: pd.DataFrame) -> None:
    columns = ["checklists_requested", "reminders_sent", "accounts_reminded", "reminders_answered"]
    assert response[columns].to_dict("index") == {
        "all": dict(zip(columns, [3, 3, 2, 1], strict=True)),
        "enterprise": dict(zip(columns, [1, 0, 0, 0], strict=True)),
        "smb": dict(zip(columns, [2, 3, 2, 1], strict=True)),
    }
    assert response.loc["smb", "median_business_days_reminder_to_submission"] == pytest.approx(535 / 480)
    assert pd.isna(response.loc["enterprise", "median_business_days_reminder_to_submission"])  # empty, not zero


@pytest.mark.unit
def test_business_days_from_the_request_to_the_first_submission(response: pd.DataFrame) -> None:
    assert response.loc["smb", "first_submissions"] == 1 and response.loc["smb", "awaiting_first_submission"] == 1
    assert response.loc["smb", "median_business_days_to_first_submission"] == 3.125  # Thanksgiving is not in it
    assert response.loc["enterprise", "median_business_days_to_first_submission"] == 2.375  # nor the weekend
    everyone = response.loc["all"]
    assert (everyone["first_submissions"], everyone["awaiting_first_submission"]) == (2, 1)
    assert everyone["median_business_days_to_first_submission"] == pytest.approx(2.75)
    assert everyone["p90_business_days_to_first_submission"] == pytest.approx(3.05)


@pytest.mark.unit
def test_business_days_from_a_rejection_to_the_item_sent_again(response: pd.DataFrame) -> None:
    columns = ["rejections", "resubmitted", "awaiting_resubmission"]
    assert [tuple(response.loc[t, columns]) for t in ("all", "smb", "enterprise")] == [(2, 1, 1), (1, 1, 0), (1, 0, 1)]
    assert response.loc["smb", "median_business_days_to_resubmission"] == 2.125
    assert response.loc["all", "p90_business_days_to_resubmission"] == 2.125
    assert pd.isna(response.loc["enterprise", "median_business_days_to_resubmission"])


@pytest.mark.unit
def test_the_summary_page_shows_customer_response(tmp_path: Any, response: pd.DataFrame) -> None:
    tables = reporting.compute(reporting.History(*(pd.DataFrame() for _ in range(5))), load_config(), AT)
    tables["customer_response"] = response.reset_index()
    page = report_pages.render(tables, date(2026, 12, 4), tmp_path).read_text()
    section = page.split("Customer response")[1]
    assert "reminders sent" in section and "3.1" in section and "2.1" in section


@pytest.mark.unit
def test_no_checklist_requested_yet_gives_an_empty_table() -> None:
    history = _history()
    history.onboardings["paused_at"] = None
    assert reporting.customer_response(history, load_config(), AT).empty


# --------------------------------------------------------------------------- from the store


def test_the_report_counts_reminders_sent_and_answers_from_the_store(
    store: Any, sandbox: Any, tmp_path: Any, smtp: Any
) -> None:
    from include.onboarding import mail
    from tests.test_reminders import _account as signed_account
    from tests.test_reminders import _remind, _submit, cadence_config

    config = cadence_config(tmp_path)
    requested = datetime(2026, 11, 16, 10, 0, tzinfo=ET)
    key = signed_account(store, sandbox, config, requested)
    assert _remind(store, config, datetime(2026, 11, 18, 10, 5, tzinfo=ET)).queued == 1
    assert mail.deliver_pending(store, config, _et(11, 18, 10, 10)).sent == 1 + 1  # the invitation and the reminder
    _submit(store, config, key, "billing_contact_email", "billing at northwind", _et(11, 19, 11))
    _submit(store, config, key, "billing_contact_email", "billing@northwind.example", _et(11, 23, 12))

    written = reporting.build(store, config, date(2026, 11, 30), AT)

    assert written["customer_response"] == 2  # all tiers, and SMB
    row = reporting.read(store, "customer_response", date(2026, 11, 30)).set_index("tier").loc["smb"]
    assert (row["checklists_requested"], row["reminders_sent"], row["reminders_answered"]) == (1, 1, 1)
    # Sent Wed 10:10, answered Thu 11:00: 6 h 50 + 2 h = 530 min of working time.
    assert row["median_business_days_reminder_to_submission"] == pytest.approx(530 / 480)
    assert row["median_business_days_to_first_submission"] == 3.125
    assert (row["rejections"], row["resubmitted"], row["median_business_days_to_resubmission"]) == (1, 1, 2.125)


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Any:
    from sandbox.mail import MailSandbox

    with MailSandbox().running() as server:
        monkeypatch.setenv("AIRFLOW_CONN_CUSTOMER_MAIL", server.connection_uri())
        yield server
