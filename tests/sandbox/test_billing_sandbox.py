"""The Stripe sandbox over real HTTP: form-encoded customers, idempotency, search."""

from __future__ import annotations

import re
from typing import Any

import requests

from tests.sandbox.conftest import START, Vendor

KEY = {"Authorization": "Bearer sk_test_51Sandbox"}
ACME = {
    "name": "Acme Robotics",
    "email": "billing@acme-robotics.co.uk",
    "description": "SO-2026-00112",
    "metadata[onboarding_key]": "hubspot-18000000001",
    "metadata[tier]": "enterprise",
    "address[country]": "GB",
    "address[city]": "Leeds",
    "preferred_locales[]": ["en-GB", "en"],
}


def create(vendor: Vendor, params: dict[str, Any], key: str | None = None, **kw: Any) -> requests.Response:
    headers = {**KEY, **({"Idempotency-Key": key} if key else {})}
    return vendor.call("POST", "/v1/customers", data=params, headers=headers, **kw)


def search(vendor: Vendor, query: str, **params: Any) -> requests.Response:
    return vendor.call("GET", "/v1/customers/search", params={"query": query, **params}, headers=KEY)


def stripe_error(response: requests.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["message"]
    return error


def test_form_encoded_create_and_retrieve(vendor: Vendor) -> None:
    response = create(vendor, ACME)
    assert response.status_code == 200
    customer = response.json()
    assert re.fullmatch(r"cus_[A-Za-z0-9]{14}", customer["id"])
    assert customer["object"] == "customer"
    assert customer["created"] == int(START)
    assert customer["livemode"] is False
    assert customer["metadata"] == {"onboarding_key": "hubspot-18000000001", "tier": "enterprise"}
    assert customer["address"]["country"] == "GB" and customer["address"]["line1"] is None
    assert customer["preferred_locales"] == ["en-GB", "en"]
    assert customer["balance"] == 0 and customer["tax_exempt"] == "none"
    assert "Idempotent-Replayed" not in response.headers
    read = vendor.call("GET", f"/v1/customers/{customer['id']}", headers=KEY)
    assert read.json() == customer
    missing = stripe_error(vendor.call("GET", "/v1/customers/cus_nope", headers=KEY), 404)
    assert missing["code"] == "resource_missing"
    assert missing["message"] == "No such customer: 'cus_nope'"


def test_same_key_same_parameters_replays_the_same_customer(vendor: Vendor) -> None:
    first = create(vendor, ACME, key="onboard-hubspot-18000000001")
    again = create(vendor, dict(reversed(ACME.items())), key="onboard-hubspot-18000000001")  # order is irrelevant
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    customers = vendor.state.ledger()["billing"]["customers"]
    assert customers == [
        {
            "id": first.json()["id"],
            "email": "billing@acme-robotics.co.uk",
            "name": "Acme Robotics",
            "description": "SO-2026-00112",
            "onboarding_key": "hubspot-18000000001",
            "idempotency_key": "onboard-hubspot-18000000001",
        }
    ]


def test_same_key_other_parameters_is_an_idempotency_error(vendor: Vendor) -> None:
    create(vendor, ACME, key="k-1")
    error = stripe_error(create(vendor, {**ACME, "name": "Acme Robotics Ltd"}, key="k-1"))
    assert error == {
        "type": "idempotency_error",
        "message": "Keys for idempotent requests can only be used with the same parameters they were first used "
        "with. Try using a key other than 'k-1' if you meant to execute a different request.",
    }
    assert len(vendor.state.ledger()["billing"]["customers"]) == 1


def test_without_a_key_every_post_creates_a_customer(vendor: Vendor) -> None:
    ids = {create(vendor, ACME).json()["id"] for _ in range(3)}
    assert len(ids) == 3
    found = search(vendor, "metadata['onboarding_key']:'hubspot-18000000001'").json()
    assert len(found["data"]) == 3


def test_a_refused_request_does_not_burn_its_key(vendor: Vendor) -> None:
    bad = stripe_error(create(vendor, {**ACME, "email": "jane.doe@"}, key="k-2"))
    assert bad == {
        "type": "invalid_request_error",
        "message": "Invalid email address: jane.doe@",
        "param": "email",
        "code": "email_invalid",
        "doc_url": "https://stripe.com/docs/error-codes/email-invalid",
    }
    assert create(vendor, ACME, key="k-2").status_code == 200


def test_parameters_are_checked_like_stripe(vendor: Vendor) -> None:
    unknown = stripe_error(create(vendor, {"name": "Acme", "vat": "GB980780684"}))
    assert (unknown["message"], unknown["param"]) == ("Received unknown parameter: vat", "vat")
    nested = stripe_error(create(vendor, {"address[county]": "Kent"}))
    assert nested["param"] == "address[county]"
    assert stripe_error(create(vendor, {"metadata": "flat"}))["param"] == "metadata"
    as_json = vendor.call("POST", "/v1/customers", json={"name": "Acme"}, headers=KEY)
    assert "unsupported Content-Type application/json" in stripe_error(as_json)["message"]
    indexed = create(vendor, {"preferred_locales[1]": "en", "preferred_locales[0]": "fr"}).json()
    assert indexed["preferred_locales"] == ["fr", "en"]
    assert vendor.state.ledger()["billing"]["customers"][0]["name"] is None


def test_search_and_list(vendor: Vendor) -> None:
    acme = create(vendor, ACME).json()
    bolt = create(vendor, {"name": "Bolt Freight", "email": "ap@bolt.io", "metadata[onboarding_key]": "k-bolt"}).json()
    body = search(vendor, "metadata['onboarding_key']:'hubspot-18000000001'").json()
    assert body == {
        "object": "search_result",
        "data": [acme],
        "has_more": False,
        "next_page": None,
        "url": "/v1/customers/search",
    }
    assert [c["id"] for c in search(vendor, "email:'AP@bolt.io'").json()["data"]] == [bolt["id"]]
    assert search(vendor, 'email:"ap@bolt.io" AND name~"Freight"').json()["data"] == [bolt]
    both = search(vendor, "name:'Acme Robotics' OR name:'Bolt Freight'").json()["data"]
    assert [c["id"] for c in both] == [bolt["id"], acme["id"]]  # newest first
    assert search(vendor, "-name:'Acme Robotics'").json()["data"] == [bolt]
    unsupported = stripe_error(search(vendor, "vat:'x'"))
    assert unsupported["param"] == "query" and "unsupported search field" in unsupported["message"]
    assert stripe_error(search(vendor, "name:'a' AND email:'b' OR phone:'c'"))["param"] == "query"
    assert stripe_error(search(vendor, "metadata['k']:unquoted"))["param"] == "query"
    listed = vendor.call("GET", "/v1/customers", params={"email": "ap@bolt.io"}, headers=KEY).json()
    assert listed["object"] == "list" and listed["data"] == [bolt]
    assert vendor.call("GET", "/v1/customers", params={"email": "AP@bolt.io"}, headers=KEY).json()["data"] == []


def test_search_paging(vendor: Vendor) -> None:
    made = [create(vendor, {"name": f"Customer {n}", "metadata[batch]": "b1"}).json()["id"] for n in range(5)]
    seen: list[str] = []
    page: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"page": page} if page else {})}
        body = search(vendor, "metadata['batch']:'b1'", **params).json()
        seen += [c["id"] for c in body["data"]]
        if not body["has_more"]:
            assert body["next_page"] is None
            break
        page = body["next_page"]
    assert seen == list(reversed(made))
    assert stripe_error(search(vendor, "metadata['batch']:'b1'", limit=101))["param"] == "limit"
    listed = vendor.call("GET", "/v1/customers", params={"limit": 2, "starting_after": seen[1]}, headers=KEY).json()
    assert [c["id"] for c in listed["data"]] == seen[2:4] and listed["has_more"] is True


def test_search_is_eventually_consistent(vendor: Vendor) -> None:
    vendor.admin("POST", "/billing/settings", {"search_delay_seconds": 60})
    customer = create(vendor, ACME).json()
    assert search(vendor, "metadata['onboarding_key']:'hubspot-18000000001'").json()["data"] == []
    by_email = vendor.call("GET", "/v1/customers", params={"email": ACME["email"]}, headers=KEY).json()
    assert by_email["data"] == [customer]  # listing is immediate
    vendor.clock.advance(60)
    assert search(vendor, "metadata['onboarding_key']:'hubspot-18000000001'").json()["data"] == [customer]


def test_only_test_mode_keys_are_accepted(vendor: Vendor) -> None:
    missing = stripe_error(vendor.call("POST", "/v1/customers", data=ACME), 401)
    assert missing["type"] == "invalid_request_error"
    assert missing["message"].startswith("You did not provide an API key.")
    live = {"Authorization": "Bearer sk_live_51Abcdefghijkl"}
    masked = stripe_error(vendor.call("GET", "/v1/customers", headers=live), 401)["message"]
    assert masked.startswith("Invalid API Key provided: sk_live_") and masked.endswith("ijkl")
    basic = vendor.call("GET", "/v1/customers", auth=("sk_test_51Sandbox", ""))
    assert basic.status_code == 200
    vendor.state.token = "sandbox-token"
    assert vendor.call("GET", "/v1/customers", headers=KEY).status_code == 401
    plain = {"Authorization": "Bearer sandbox-token"}  # not a Stripe key, configured or not
    assert vendor.call("GET", "/v1/customers", headers=plain).status_code == 401
    token = {"Authorization": "Bearer sk_test_sandbox-token"}
    assert vendor.call("GET", "/v1/customers", headers=token).status_code == 200


def test_faults_use_stripe_error_shapes(vendor: Vendor) -> None:
    vendor.admin("POST", "/faults", {"system": "billing", "rate_limit": 1, "retry_after": 1, "server_error": 1})
    limited = create(vendor, ACME, key="k-3")
    assert limited.headers["Retry-After"] == "1"
    error = stripe_error(limited, 429)
    assert (error["type"], error["code"]) == ("invalid_request_error", "rate_limit")
    assert stripe_error(create(vendor, ACME, key="k-3"), 500)["type"] == "api_error"
    assert create(vendor, ACME, key="k-3").status_code == 200  # faults stored nothing under the key
    assert create(vendor, ACME, key="k-3").headers["Idempotent-Replayed"] == "true"
    assert len(vendor.state.ledger()["billing"]["customers"]) == 1
    statuses = [r["status"] for r in vendor.admin("GET", "/requests?system=billing")]
    assert statuses == [429, 500, 200, 200]
