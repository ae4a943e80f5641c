"""The CRM client: signed orders from HubSpot CRM v3 deals search.

The intake asks for deals in the signed stage modified at or after a watermark,
oldest first, and pages through them.  The ``after`` paging cursor is opaque
(HubSpot documents it as a token such as ``NTI1Cg%3D%3D``): it is passed back
exactly as received and never read.  HubSpot's search refuses to page past
10,000 results, so the reader counts the results each query has returned and,
before the next page would cross that limit, starts a new query from the last
modification time it has seen, skipping the deals it has already returned.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timezone
from typing import Any

from include.onboarding.clients.http import ApiClient, ApiError, VendorClient, require_list

SEARCH_ENDPOINT = "/crm/v3/objects/deals/search"
SEARCH_RESULT_LIMIT = 10_000

DEAL_PROPERTIES = (
    "dealname",
    "dealstage",
    "pipeline",
    "closedate",
    "amount",
    "deal_currency_code",
    "hubspot_owner_id",
    "order_number",
    "onboarding_tier",
    "company_name",
    "company_domain",
    "region",
    "segment",
    "primary_contact_name",
    "primary_contact_email",
    "addons",
    "partner_name",
    "onboarding_owner_email",
    "committed_go_live_date",
    "hs_lastmodifieddate",
    "createdate",
)


EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)
"""The dates a deal's dates may fall between (as written, in their own offset).  Anything
else is a typo or a placeholder such as 9999-12-31, and would break date arithmetic or,
as a modification time, carry the intake's watermark past every later change."""


def within_date_range(moment: date) -> bool:
    """Whether a date or timestamp falls between :data:`EARLIEST_DATE` and :data:`LATEST_DATE`."""
    return EARLIEST_DATE.year <= moment.year <= LATEST_DATE.year


def _ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def record_modified_at(record: Any) -> datetime | None:
    """A deal's last-modified time, or None when the record is too garbled to tell or the
    time is outside the accepted date range."""
    if not isinstance(record, dict):
        return None
    props = record.get("properties")
    raw = props.get("hs_lastmodifieddate") if isinstance(props, dict) else None
    raw = raw or record.get("updatedAt")
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # read as UTC, like every other CRM time without an offset
    return moment if within_date_range(moment) else None


class CrmClient(VendorClient):
    """HubSpot deals search over an Airflow HTTP connection (``crm_api``).

    ``signed_stage`` is the deal stage of a signed order; ``page_size`` the
    results per search page (HubSpot takes at most 200).
    """

    def __init__(self, api: ApiClient, *, signed_stage: str = "closedwon", page_size: int = 100):
        super().__init__(api)
        self.signed_stage = signed_stage
        self.page_size = page_size

    def _search(self, since: datetime, after: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": _ms(since)},
                        {"propertyName": "dealstage", "operator": "EQ", "value": self.signed_stage},
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": list(DEAL_PROPERTIES),
            "limit": self.page_size,
        }
        if after is not None:
            body["after"] = after
        page = self.api.request("POST", SEARCH_ENDPOINT, json_body=body).body
        require_list(self.system, page, "results", where=f"{self.system} search")
        return dict(page)

    def signed_deals_since(self, *, since: datetime) -> Iterator[list[Any]]:
        """Yield pages of raw deal records modified at or after ``since``, oldest first.

        Records are yielded as the CRM returned them; judging them is the
        intake's job, so one garbled record never hides the rest of its page.
        """
        seen_at_boundary: set[str] = set()
        query_since = since
        after: str | None = None
        received = 0  # results this query has returned so far
        while True:
            page = self._search(query_since, after)
            results = page["results"]
            received += len(results)
            fresh = [r for r in results if not (isinstance(r, dict) and str(r.get("id")) in seen_at_boundary)]
            if fresh:
                yield fresh
            next_after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not next_after or not results:
                return
            if received + self.page_size > SEARCH_RESULT_LIMIT:
                # The next page would reach past what one search may return: start a
                # new search from the newest modification time seen; deals sharing
                # that instant were already returned and are skipped by id.
                newest = max((m for m in map(record_modified_at, results) if m is not None), default=None)
                if newest is None or newest <= query_since:
                    raise ApiError(
                        self.system,
                        f"more than {SEARCH_RESULT_LIMIT} deals share the modification time {query_since.isoformat()};"
                        " the CRM search cannot page through them",
                    )
                seen_at_boundary = {
                    str(r.get("id")) for r in results if isinstance(r, dict) and record_modified_at(r) == newest
                }
                query_since, after, received = newest, None, 0
                continue
            after = str(next_after)  # opaque: sent back exactly as received
