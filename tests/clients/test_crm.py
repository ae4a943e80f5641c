"""The CRM client: HubSpot's deals search, its opaque cursors, and answers it cannot read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

import pytest

from include.onboarding.clients.crm import CrmClient, record_modified_at, within_date_range
from include.onboarding.clients.http import ApiClient, ApiError
from include.onboarding.connections import CRM_API
from tests.clients.conftest import fault
from tests.factories import deal_properties

pytestmark = pytest.mark.unit

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def test_signed_deals_come_in_pages_oldest_first(sandbox: Any, client_for: Callable[[str], ApiClient]) -> None:
    made = [sandbox.state.upsert_deal(deal_properties())["id"] for _ in range(5)]
    sandbox.state.upsert_deal(deal_properties(dealstage="appointmentscheduled"))  # not signed
    crm = CrmClient(client_for(CRM_API), page_size=2)

    pages = list(crm.signed_deals_since(since=EPOCH))

    assert [len(p) for p in pages] == [2, 2, 1]
    assert [d["id"] for p in pages for d in p] == made
    assert len(sandbox.state.requests("crm")) == 3


def test_a_search_answer_without_its_results_names_them(sandbox: Any, client_for: Callable[[str], ApiClient]) -> None:
    sandbox.state.upsert_deal(deal_properties())
    fault(sandbox, "crm", incomplete=1, incomplete_field="results")
    with pytest.raises(ApiError, match="crm search answered without a 'results' list") as missing:
        next(CrmClient(client_for(CRM_API)).signed_deals_since(since=EPOCH))
    assert missing.value.retryable


def test_the_search_takes_keyword_arguments_only(client_for: Callable[[str], ApiClient]) -> None:
    with pytest.raises(TypeError):
        CrmClient(client_for(CRM_API)).signed_deals_since(EPOCH)  # type: ignore[misc]


def test_a_modification_time_outside_the_accepted_dates_is_not_one() -> None:
    record = {"properties": {"hs_lastmodifieddate": "2026-11-02T15:30:00Z"}}
    assert record_modified_at(record) == datetime(2026, 11, 2, 15, 30, tzinfo=timezone.utc)
    assert record_modified_at({"properties": {"hs_lastmodifieddate": "9999-12-31T00:00:00Z"}}) is None
    assert record_modified_at({"updatedAt": "2026-11-02T15:30:00"}) == datetime(
        2026, 11, 2, 15, 30, tzinfo=timezone.utc
    )
    assert record_modified_at("garbled") is None
    assert within_date_range(date(2100, 12, 31)) and not within_date_range(date(1999, 12, 31))
