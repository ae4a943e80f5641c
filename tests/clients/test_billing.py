"""The Stripe client: form-encoded customers under an idempotency key, found again by metadata."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from include.onboarding.clients.billing import (
    DESCRIPTION_LIMIT,
    KEY_RETENTION_SECONDS,
    NAME_LIMIT,
    StripeClient,
    form,
)
from include.onboarding.clients.http import ApiClient, ApiError
from include.onboarding.connections import BILLING_API
from tests.clients.conftest import fault

pytestmark = pytest.mark.unit


@pytest.fixture
def stripe(client_for: Callable[[str], ApiClient]) -> StripeClient:
    return StripeClient(client_for(BILLING_API), search_lag_seconds=0)


def _customer(stripe: StripeClient, key: str, name: str = "Kestrel Analytics") -> Any:
    return stripe.customer_request(
        name=name,
        email="jane@kestrel.example",
        description=f"Onboarding {key}: {name}",
        metadata={"onboarding_key": key, "region": "EMEA"},
        idempotency_key=f"{key}:billing_profile",
    )


def test_nested_values_use_stripes_bracket_notation_and_none_is_left_out() -> None:
    assert form({"name": "K", "email": None, "metadata": {"tier": "smb", "region": None}}) == {
        "name": "K",
        "metadata[tier]": "smb",
    }


def test_a_long_name_and_description_are_clipped_to_stripes_limits(stripe: StripeClient) -> None:
    outbound = _customer(stripe, "hubspot-1", name="Kestrel " * 500)
    assert len(outbound.form["name"]) == NAME_LIMIT and outbound.form["name"].endswith("…")
    assert len(outbound.form["description"]) == DESCRIPTION_LIMIT
    assert outbound.form["metadata[onboarding_key]"] == "hubspot-1"
    assert outbound.headers == {"Idempotency-Key": "hubspot-1:billing_profile"}


def test_a_resend_under_the_same_key_is_the_same_customer_and_search_finds_it(
    sandbox: Any, stripe: StripeClient
) -> None:
    outbound = _customer(stripe, "hubspot-2")
    first = stripe.read_customer(stripe.api.send(outbound))
    again = stripe.read_customer(stripe.api.send(outbound))
    assert first == again and first.id.startswith("cus_") and first.url is None
    assert len(sandbox.state.ledger()["billing"]["customers"]) == 1
    assert stripe.find_customer(metadata_key="onboarding_key", value="hubspot-2") == first
    assert stripe.find_customer(metadata_key="onboarding_key", value="hubspot-3") is None


def test_a_create_answer_without_its_id_names_it(sandbox: Any, stripe: StripeClient) -> None:
    fault(sandbox, "billing", incomplete=1, incomplete_field="id")
    with pytest.raises(ApiError, match=r"billing POST /v1/customers answered without 'id'") as missing:
        stripe.read_customer(stripe.api.send(_customer(stripe, "hubspot-4")))
    assert missing.value.retryable


def test_a_search_answer_without_its_data_names_it(sandbox: Any, stripe: StripeClient) -> None:
    fault(sandbox, "billing", incomplete=1, incomplete_field="data")
    with pytest.raises(ApiError, match="customer search for onboarding_key hubspot-5 answered without a 'data' list"):
        stripe.find_customer(metadata_key="onboarding_key", value="hubspot-5")


def test_a_key_is_held_for_a_day_less_an_hour_of_margin() -> None:
    assert StripeClient.key_still_held(None, 1_000.0)  # never sent
    assert StripeClient.key_still_held(0.0, KEY_RETENTION_SECONDS - 1)
    assert not StripeClient.key_still_held(0.0, KEY_RETENTION_SECONDS)
