"""The shared HTTP client: what it waits for, what it refuses at once, and how answers are read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from include.onboarding.clients.http import ApiClient, ApiError, Outbound, dig, require_field, require_list
from include.onboarding.connections import BILLING_API
from tests.clients.conftest import Waits, fault

pytestmark = pytest.mark.unit

ANSWER = {"id": "cus_1", "meta": {"location": "https://x/1"}, "issues": [{"key": "ONB-1"}], "empty": ""}


def test_dig_follows_objects_and_list_indexes_and_stops_where_the_path_breaks() -> None:
    assert dig(ANSWER, "meta.location") == "https://x/1"
    assert dig(ANSWER, "issues.0.key") == "ONB-1"
    assert dig(ANSWER, "issues.1.key") is None
    assert dig(ANSWER, "id.deeper") is None
    assert dig("not an object", "id") is None


def test_a_missing_field_is_an_api_error_naming_it() -> None:
    assert require_field("billing", ANSWER, "id") == "cus_1"
    with pytest.raises(ApiError, match=r"Stripe POST /v1/customers answered without 'meta.id'") as missing:
        require_field("billing", ANSWER, "meta.id", where="Stripe POST /v1/customers")
    assert missing.value.system == "billing" and missing.value.retryable
    with pytest.raises(ApiError, match="answered without 'empty'"):
        require_field("billing", ANSWER, "empty")  # an empty id is no id


def test_a_list_field_may_be_empty_but_must_be_a_list() -> None:
    assert require_list("ticketing", {"issues": []}, "issues") == []
    with pytest.raises(ApiError, match="answered without a 'issues' list"):
        require_list("ticketing", {"issues": None}, "issues")


def test_a_request_survives_being_frozen_and_thawed() -> None:
    outbound = Outbound("POST", "/v1/customers", form={"name": "Kestrel"}, headers={"Idempotency-Key": "k:1"})
    assert Outbound.from_json(outbound.to_json()) == outbound


def test_the_client_waits_what_retry_after_asks_then_backs_off_after_a_5xx(
    sandbox: Any, client_for: Callable[[str], ApiClient], waits: Waits
) -> None:
    fault(sandbox, "billing", rate_limit=1, retry_after=7, server_error=1)
    answer = client_for(BILLING_API).request("GET", "/v1/customers")
    assert answer.status == 200 and answer.body["object"] == "list"
    assert waits[0] == 7.0  # exactly what the vendor asked
    assert 0 < waits[1] < 7.0  # then exponential backoff from half a second
    assert [r["status"] for r in sandbox.state.requests("billing")] == [429, 500, 200]


def test_a_refusal_fails_at_once_with_the_apis_own_text(
    sandbox: Any, client_for: Callable[[str], ApiClient], waits: Waits
) -> None:
    with pytest.raises(ApiError, match=r"billing GET /v1/customers/search: refused with 400: .*query") as refused:
        client_for(BILLING_API).request("GET", "/v1/customers/search")
    assert refused.value.status == 400 and not refused.value.retryable
    assert waits == [] and len(sandbox.state.requests("billing")) == 1
