"""Where the days went, from the store: the report reads the same facts from the audit trail as the
account page does, and both split an account's time alike."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from include.onboarding import report_pages, reporting, time_split
from include.onboarding.config import OnboardingConfig
from include.onboarding.store import Store
from tests.board.conftest import NOW, Accounts


def test_the_report_reads_what_the_account_page_reads(store: Store, accounts: Accounts) -> None:
    """The report takes from the audit trail only the events the split can use; the stretches it finds
    are those the account page finds in every event."""
    history = reporting.load(store, NOW)
    from_sql = reporting._facts_by_account(history.split_facts)
    for key in (accounts.blocked, accounts.late, accounts.failed, accounts.fresh):
        oid = store.scalar("SELECT id FROM onboarding.onboardings WHERE onboarding_key = %s", (key,))
        events = store.query("SELECT * FROM onboarding.events WHERE onboarding_id = %s", (oid,))
        every = [time_split.fact(e) for e in events if e["event_type"] in time_split.EVENT_TYPES]
        assert len(from_sql.get(oid, [])) < len(every)  # fewer rows travel ...
        assert time_split.intervals(from_sql.get(oid, []), NOW) == time_split.intervals(every, NOW), key  # ... same


def test_the_account_page_and_the_report_split_an_account_alike(
    ops: Any, store: Store, accounts: Accounts, config: OnboardingConfig, tmp_path: Any
) -> None:
    tables = reporting.compute(reporting.load(store, NOW), config, NOW)
    split = tables["time_split"]
    smb_open = split[(split["dimension"] == "tier") & (split["value"] == "smb") & (split["status"] == "open")]
    assert set(smb_open["accounts"]) == {2} and smb_open["share_pct"].sum() == 100.0

    page = ops.get(f"/board/accounts/{accounts.failed}").text
    shown = {
        c: float(d) for c, d in re.findall(r'<tr data-category="(\w+)">.*?<td class="num">([\d.]+)</td>', page, re.S)
    }
    partner = split[(split["dimension"] == "tier") & (split["value"] == "partner")].set_index("category")
    for category, days in shown.items():
        assert days == round(float(partner.loc[category, "total_business_days"]), 2), category
    assert shown["customer"] > 0 and shown["failures"] > 0  # the checklist, then Jira's refusal

    summary = report_pages.render(tables, date(2026, 11, 24), tmp_path).read_text()
    assert "Where the days went (open accounts, business days per account)" in summary
    assert (tmp_path / "2026-11-24" / "where_the_days_went.png").exists()
