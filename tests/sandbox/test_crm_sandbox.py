"""The CRM sandbox, exercised over real HTTP as the intake DAG will use it.

One server serves the whole module (starting uvicorn is the slow part); every
test starts from an empty, fault-free state.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote

import pytest
import requests

from include.onboarding.config import load_config
from sandbox.crm import SearchRequest, after_cursor
from sandbox.generator import DEFECTS, generate_orders
from sandbox.server import SandboxServer
from sandbox.state import SandboxState

SEARCH = "/crm/v3/objects/deals/search"
AUTH = {"Authorization": "Bearer sandbox-token"}
EMAIL = re.compile(r"^[a-z0-9.]+@[a-z0-9-]+(\.[a-z]+)+$")


class Client:
    """Thin HTTP client bound to the sandbox (ignores proxy settings)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.trust_env = False

    def search(self, body: dict[str, Any], headers: dict[str, str] | None = None, **kw: Any) -> requests.Response:
        return self.http.post(self.base + SEARCH, json=body, headers=AUTH if headers is None else headers, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("headers", AUTH)
        return self.http.get(self.base + path, **kw)

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"{self.base}/_sandbox{path}", json=body)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as running:
        yield running


@pytest.fixture
def state(server: SandboxServer) -> SandboxState:
    server.state.reset()
    server.state.token = None
    return server.state


@pytest.fixture
def client(server: SandboxServer, state: SandboxState) -> Client:
    return Client(server.url)


def closedwon_since(ms: int, limit: int = 100, after: str | None = None, **extra: Any) -> dict[str, Any]:
    """The intake's incremental query."""
    body: dict[str, Any] = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(ms)},
                    {"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"},
                ]
            }
        ],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["dealname", "order_number", "amount", "addons"],
        "limit": limit,
        **extra,
    }
    if after is not None:
        body["after"] = after
    return body


def ids(response: requests.Response) -> list[str]:
    return [r["id"] for r in response.json()["results"]]


def assert_hubspot_error(response: requests.Response, status: int, category: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert re.fullmatch(r"[0-9a-f-]{36}", body["correlationId"])
    assert body["message"]
    return body


# -- admin API -------------------------------------------------------------------------


def test_health_reset_and_ledger(client: Client) -> None:
    assert client.admin("GET", "/health") == {"ok": True}
    assert client.admin("POST", "/reset", {"seed": 3, "orders": 20, "bad_ratio": 0.1}) == {"ok": True, "deals": 22}
    ledger = client.admin("GET", "/ledger")["crm"]
    assert ledger["deals"] == 22
    assert ledger["closedwon"] == 20
    assert sum(ledger["defects"].values()) == 2
    assert client.admin("POST", "/reset")["deals"] == 0


def test_admin_upsert_merges_and_restamps(client: Client) -> None:
    created = client.admin("POST", "/crm/deals", {"properties": {"dealname": "Acme", "amount": 1200}})
    deal_id = created["id"]
    assert created["properties"]["amount"] == "1200"
    assert created["properties"]["hs_object_id"] == deal_id
    updated = client.admin("POST", "/crm/deals", {"id": deal_id, "properties": {"dealstage": "closedwon"}})
    assert updated["properties"]["dealname"] == "Acme"
    assert updated["properties"]["dealstage"] == "closedwon"
    assert updated["updatedAt"] > created["updatedAt"]
    assert updated["createdAt"] == created["createdAt"]


# -- vendor API: auth and errors ---------------------------------------------------------


def test_missing_token_is_refused_in_hubspot_shape(client: Client) -> None:
    body = assert_hubspot_error(client.search({}, headers={}), 401, "INVALID_AUTHENTICATION")
    assert body["message"].startswith("Authentication credentials not found")
    assert_hubspot_error(client.search({}, headers={"Authorization": "Bearer "}), 401, "INVALID_AUTHENTICATION")


def test_configured_token_is_the_only_one_accepted(client: Client, state: SandboxState) -> None:
    state.token = "right"
    assert_hubspot_error(client.search({}), 401, "INVALID_AUTHENTICATION")
    assert client.search({}, headers={"Authorization": "Bearer right"}).status_code == 200


def test_limit_and_paging_wall(client: Client, state: SandboxState) -> None:
    assert client.search({"limit": 200}).status_code == 200
    assert_hubspot_error(client.search({"limit": 201}), 400, "VALIDATION_ERROR")
    assert_hubspot_error(client.search({"limit": "many"}), 400, "VALIDATION_ERROR")
    bad_op = {"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "LIKE", "value": "1"}]}]}
    assert_hubspot_error(client.search(bad_op), 400, "VALIDATION_ERROR")
    # A genuine cursor to result 10,001 (as the 50th page of 200 would hand out) is refused.
    body = closedwon_since(0, limit=200)
    at_wall = after_cursor(10_000, SearchRequest.model_validate(body))
    wall = assert_hubspot_error(client.search({**body, "after": at_wall}), 400, "VALIDATION_ERROR")
    assert "10,000" in wall["message"]
    before_wall = after_cursor(9_800, SearchRequest.model_validate(body))
    assert client.search({**body, "after": before_wall}).status_code == 200


def test_paging_cursors_are_opaque_and_bound_to_their_search(client: Client, state: SandboxState) -> None:
    state.reset(seed=5, orders=25)
    body = closedwon_since(0, limit=10)
    cursor = client.search(body).json()["paging"]["next"]["after"]
    assert not cursor.isdigit() and cursor.endswith("%3D")  # URL-encoded base64, like HubSpot's NTI1Cg%3D%3D
    assert client.search({**body, "after": cursor}).status_code == 200
    assert client.search({**body, "limit": 5, "after": cursor}).status_code == 200  # page size may change

    forged = {
        "an offset": "10",
        "an integer": 10,
        "garbage": "abc",
        "base64 of an offset": base64.b64encode(b"10\n").decode(),
        "percent-decoded": unquote(cursor),
        "altered": cursor.replace(cursor[2], "A" if cursor[2] != "A" else "B", 1),
    }
    for name, after in forged.items():
        error = assert_hubspot_error(client.search({**body, "after": after}), 400, "VALIDATION_ERROR")
        assert "paging.next.after" in error["message"], name
    other_search = closedwon_since(1, limit=10)  # a different filter: the cursor is not its own
    assert_hubspot_error(client.search({**other_search, "after": cursor}), 400, "VALIDATION_ERROR")


def test_raw_records_are_served_verbatim(client: Client, state: SandboxState) -> None:
    hostile = {
        "id": "raw-1",
        "properties": {"company_name": "Acme\u0000\u0007 Corp", "amount": 84000, "addons": ["sso"], "x": "\ud83d"},
    }
    seeded = client.admin("POST", "/crm/raw-deals", {"record": hostile, "id": "raw-1"})
    assert seeded["id"] == "raw-1"
    client.admin("POST", "/crm/raw-deals", {"record": "not a deal"})
    client.admin("POST", "/crm/raw-deals", {"record": None, "dealstage": "contractsent"})
    response = client.search(closedwon_since(0))
    assert response.json()["results"] == [hostile, "not a deal"]
    assert "\\u0000" in response.text and "\\ud83d" in response.text  # escaped on the wire, not dropped
    read = client.get("/crm/v3/objects/deals/raw-1", params={"properties": "dealname"})
    assert read.json() == hostile
    state.upsert_deal({"dealname": "Acme"}, deal_id="raw-1")  # fixed in the CRM: a normal deal again
    assert client.get("/crm/v3/objects/deals/raw-1").json()["properties"]["dealname"] == "Acme"


def test_get_deal_by_id_and_by_order_number(client: Client, state: SandboxState) -> None:
    deal = state.upsert_deal({"dealname": "Acme", "order_number": "SO-2026-00001", "amount": "5.00"})
    one = client.get(f"/crm/v3/objects/deals/{deal['id']}", params={"properties": "dealname,amount"}).json()
    assert set(one["properties"]) == {"dealname", "amount", "hs_object_id", "createdate", "hs_lastmodifieddate"}
    assert one["archived"] is False
    by_number = client.get(
        "/crm/v3/objects/deals/SO-2026-00001", params={"idProperty": "order_number", "properties": "amount"}
    )
    assert by_number.json()["id"] == deal["id"]
    assert_hubspot_error(client.get("/crm/v3/objects/deals/999"), 404, "OBJECT_NOT_FOUND")


# -- vendor API: search semantics -----------------------------------------------------------


def test_incremental_search_returns_only_closedwon_with_requested_properties(
    client: Client, state: SandboxState
) -> None:
    state.reset(seed=11, orders=30)
    response = client.search(closedwon_since(0))
    body = response.json()
    assert body["total"] == 30
    assert "paging" not in body
    stamps = [r["properties"]["hs_lastmodifieddate"] for r in body["results"]]
    assert stamps == sorted(stamps)
    for result in body["results"]:
        assert set(result["properties"]) == {
            "dealname",
            "order_number",
            "amount",
            "addons",
            "hs_object_id",
            "createdate",
            "hs_lastmodifieddate",
        }
        assert all(v is None or isinstance(v, str) for v in result["properties"].values())
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", result["updatedAt"])
        assert result["archived"] is False


def test_paging_is_complete_and_stable(client: Client, state: SandboxState) -> None:
    state.reset(seed=5, orders=25)
    everything = ids(client.search(closedwon_since(0, limit=200)))
    seen: list[str] = []
    after: str | None = None
    while True:
        page = client.search(closedwon_since(0, limit=7, after=after)).json()
        assert page["total"] == 25
        seen += [r["id"] for r in page["results"]]
        if "paging" not in page:
            break
        after = page["paging"]["next"]["after"]
        assert page["paging"]["next"]["link"] == f"?after={after}"
    assert seen == everything


def test_watermark_picks_up_updated_deals_only() -> None:
    state = SandboxState(clock=lambda: 1_790_000_000.0)  # pinned clock: stamps still increase
    first = state.upsert_deal({"dealstage": "closedwon"})
    second = state.upsert_deal({"dealstage": "closedwon"})
    assert first["updatedAt"] == "2026-09-21T14:13:20.000Z"
    assert second["updatedAt"] == "2026-09-21T14:13:20.001Z"
    watermark = 1_790_000_000_002
    state.upsert_deal({"amount": "10"}, deal_id=first["id"])
    with SandboxServer(state) as other:
        found = Client(other.url).search(closedwon_since(watermark))
    assert ids(found) == [first["id"]]


def test_operators_and_groups(client: Client, state: SandboxState) -> None:
    a = state.upsert_deal(
        {
            "dealname": "Acme",
            "amount": "9000.00",
            "region": "NA",
            "addons": "sso;sandbox_env",
            "closedate": "2026-10-05T10:00:00.000Z",
        }
    )["id"]
    b = state.upsert_deal(
        {
            "dealname": "Bolt",
            "amount": "48000.00",
            "region": "EMEA",
            "addons": None,
            "closedate": "2026-11-05T10:00:00.000Z",
        }
    )["id"]
    c = state.upsert_deal(
        {
            "dealname": "Cove",
            "amount": "120000.00",
            "region": "APAC",
            "addons": "premium_support",
            "partner_name": "Northgate Partners",
        }
    )["id"]

    def where(*groups: list[dict[str, Any]]) -> list[str]:
        body = {"filterGroups": [{"filters": g} for g in groups], "limit": 50}
        response = client.search(body)
        assert response.status_code == 200, response.text
        return sorted(ids(response))

    def f(prop: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
        return {"propertyName": prop, "operator": op, "value": value, **extra}

    assert where([f("region", "EQ", "emea")]) == [b]  # string EQ ignores case
    assert where([f("region", "NEQ", "NA")]) == [b, c]
    assert where([f("region", "IN", values=["NA", "APAC"])]) == [a, c]
    assert where([f("region", "NOT_IN", values=["NA"])]) == [b, c]
    assert where([f("amount", "GT", "10000")]) == [b, c]  # numeric, not lexicographic
    assert where([f("amount", "BETWEEN", "9000", highValue="48000")]) == [a, b]
    assert where([f("partner_name", "HAS_PROPERTY")]) == [c]
    assert where([f("addons", "NOT_HAS_PROPERTY")]) == [b]
    assert where([f("addons", "CONTAINS_TOKEN", "sso")]) == [a]
    assert where([f("closedate", "LT", "2026-11-01T00:00:00Z")]) == [a]  # ISO operand
    assert where([f("closedate", "GTE", "1793491200000")]) == [b]  # epoch-ms operand (2026-11-01)
    assert where([f("region", "EQ", "NA")], [f("amount", "GTE", "100000")]) == [a, c]  # OR across groups
    assert where([f("region", "EQ", "NA"), f("amount", "GTE", "100000")]) == []  # AND within a group


def test_descending_sort_breaks_ties_by_id(client: Client, state: SandboxState) -> None:
    made = [state.upsert_deal({"amount": amount})["id"] for amount in ("5", "7", "5", None)]
    body = {"sorts": [{"propertyName": "amount", "direction": "DESCENDING"}], "limit": 10}
    assert ids(client.search(body)) == [made[1], made[0], made[2], made[3]]  # missing values last


# -- faults ----------------------------------------------------------------------------------


def test_faults_are_served_in_order_and_logged(client: Client) -> None:
    client.admin(
        "POST", "/faults", {"system": "crm", "rate_limit": 2, "retry_after": 3, "server_error": 1, "malformed_json": 1}
    )
    first = client.search({})
    assert first.headers["Retry-After"] == "3"
    body = assert_hubspot_error(first, 429, "RATE_LIMITS")
    assert body["message"] == "You have reached your secondly limit."
    assert client.search({}, headers={}).status_code == 429  # the rate limiter answers before auth
    assert_hubspot_error(client.search({}), 500, "INTERNAL_ERROR")
    truncated = client.search({})
    assert truncated.status_code == 200
    assert truncated.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated.text)
    assert client.search({}).json() == {"total": 0, "results": []}
    log = client.admin("GET", "/requests?system=crm")
    assert [(r["status"], r["fault"]) for r in log] == [
        (429, "rate_limit"),
        (429, "rate_limit"),
        (500, "server_error"),
        (200, "malformed_json"),
        (200, None),
    ]
    assert all(r["path"] == SEARCH and r["method"] == "POST" for r in log)


def test_request_log_shows_a_client_honouring_retry_after(client: Client) -> None:
    client.admin("POST", "/faults", {"system": "crm", "rate_limit": 1, "retry_after": 1})
    response = client.search({})
    while response.status_code == 429:
        time.sleep(float(response.headers["Retry-After"]))
        response = client.search({})
    limited, retried = client.admin("GET", "/requests?system=crm")
    assert retried["monotonic"] - limited["monotonic"] >= 1.0
    assert datetime.fromisoformat(retried["at"]) > datetime.fromisoformat(limited["at"])


def test_rate_limit_every_nth_request_until_cleared(client: Client) -> None:
    client.admin("POST", "/faults", {"system": "crm", "rate_limit_every": 3})
    statuses = [client.search({}).status_code for _ in range(6)]
    assert statuses == [200, 200, 429, 200, 200, 429]
    client.admin("DELETE", "/faults")
    assert [client.search({}).status_code for _ in range(3)] == [200, 200, 200]


def test_slow_and_hanging_requests(client: Client) -> None:
    client.admin("POST", "/faults", {"system": "crm", "slow_ms": 300, "slow_count": 1, "timeout": 1})
    started = time.monotonic()
    assert client.search({}).status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(requests.Timeout):
        client.search({}, timeout=0.3)
    client.admin("DELETE", "/faults?system=crm")  # also lets the held request go
    assert client.search({}, timeout=2).status_code == 200


def test_fault_spec_is_checked(client: Client) -> None:
    bad_system = client.http.post(f"{client.base}/_sandbox/faults", json={"system": "erp", "rate_limit": 1})
    assert bad_system.status_code == 400
    typo = client.http.post(f"{client.base}/_sandbox/faults", json={"system": "crm", "rate_limits": 1})
    assert typo.status_code == 422


def test_reset_clears_faults_and_log(client: Client) -> None:
    client.admin("POST", "/faults", {"system": "crm", "server_error": 5})
    client.search({})
    client.admin("POST", "/reset", {})
    assert client.admin("GET", "/faults") == {}
    assert client.admin("GET", "/requests") == []
    assert client.search({}).status_code == 200


# -- generator ---------------------------------------------------------------------------------


def test_generator_is_deterministic_and_realistic() -> None:
    orders = generate_orders(60, seed=7, start=date(2026, 10, 1))
    assert orders == generate_orders(60, seed=7, start=date(2026, 10, 1))
    assert orders != generate_orders(60, seed=8, start=date(2026, 10, 1))
    signed = [o for o in orders if o["dealstage"] == "closedwon"]
    assert len(signed) == 60
    assert 1 <= len(orders) - len(signed) <= 10
    assert len({o["order_number"] for o in signed}) == 60
    assert all(o["order_number"] is None for o in orders if o["dealstage"] != "closedwon")
    segments_by_tier = {key: tier.segments for key, tier in load_config().tiers.items()}
    for order in signed:
        tier = order["onboarding_tier"]
        assert tier in segments_by_tier and order["segment"] in segments_by_tier[tier]
        assert EMAIL.match(order["primary_contact_email"] or "")
        assert (order["partner_name"] is not None) == (tier == "partner")
        assert "sso" not in (order["addons"] or "") or tier == "enterprise"
        closed = datetime.fromisoformat(order["closedate"] or "")
        assert closed.weekday() < 5 and closed.date() >= date(2026, 10, 1)
        assert re.fullmatch(r"\d+\.\d\d", order["amount"] or "")
        assert "sandbox_defect" not in order


def test_generator_bad_ratio_marks_each_defect() -> None:
    orders = generate_orders(70, seed=2, start=date(2026, 10, 1), bad_ratio=0.1)
    bad = [o for o in orders if o.get("sandbox_defect")]
    assert len(bad) == 7
    assert Counter(o["sandbox_defect"] for o in bad) == Counter(DEFECTS)
    by_kind = {o["sandbox_defect"]: o for o in bad}
    assert by_kind["missing_tier"]["onboarding_tier"] is None
    assert by_kind["unknown_tier"]["onboarding_tier"] == "platinum"
    assert not EMAIL.match(by_kind["bad_contact_email"]["primary_contact_email"] or "")
    assert by_kind["region_without_owner"]["region"] == "LATAM"
    with pytest.raises(ValueError):
        datetime.fromisoformat(by_kind["unparsable_closedate"]["closedate"] or "")
    late = by_kind["go_live_before_close"]
    assert (late["committed_go_live_date"] or "") < (late["closedate"] or "")[:10]
    dup = by_kind["duplicate_order_number"]
    twins = [o for o in orders if o["order_number"] == dup["order_number"]]
    assert len(twins) == 2
    assert (twins[0]["company_name"], twins[0]["amount"]) != (twins[1]["company_name"], twins[1]["amount"])
