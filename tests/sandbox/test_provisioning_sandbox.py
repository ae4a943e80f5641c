"""The provisioning sandbox over real HTTP: SCIM users, asynchronous tenants, SSO."""

from __future__ import annotations

import uuid
from typing import Any

import requests

from sandbox.form_values import saml_metadata
from tests.sandbox.conftest import Vendor

AUTH = {"Authorization": "Bearer prov-token"}
SCIM = {**AUTH, "Content-Type": "application/scim+json"}
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
TENANT = {
    "external_id": "hubspot-18000000001",
    "name": "Acme Robotics",
    "domain": "acme.io",
    "region": "EMEA",
    "plan": "enterprise",
}


def scim_user(user_name: str = "jane.doe@acme.io", **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "externalId": "hubspot-contact-501",
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "emails": [{"value": user_name, "primary": True, "type": "work"}],
        "active": True,
        **extra,
    }


def post_user(vendor: Vendor, body: Any) -> requests.Response:
    return vendor.call("POST", "/scim/v2/Users", json=body, headers=SCIM)


def post_tenant(vendor: Vendor, body: dict[str, Any], key: str | None = None) -> requests.Response:
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    return vendor.call("POST", "/api/v1/tenants", json=body, headers=headers)


def tenant_status(vendor: Vendor, tenant_id: str) -> dict[str, Any]:
    response = vendor.call("GET", f"/api/v1/tenants/{tenant_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def scim_error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body: dict[str, Any] = response.json()
    assert body["schemas"] == [ERROR_SCHEMA] and body["status"] == str(status)
    return body


def api_error(response: requests.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == code, body
    return str(body["message"])


# -- SCIM ----------------------------------------------------------------------------------------------


def test_scim_create_returns_the_resource(vendor: Vendor) -> None:
    response = post_user(vendor, scim_user())
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/scim+json")
    user = response.json()
    uuid.UUID(user["id"])
    assert user["schemas"] == [USER_SCHEMA]
    assert user["userName"] == "jane.doe@acme.io" and user["externalId"] == "hubspot-contact-501"
    assert user["meta"]["resourceType"] == "User"
    assert user["meta"]["created"] == "2026-10-01T09:00:00.000Z"
    assert user["meta"]["location"] == f"{vendor.url}/scim/v2/Users/{user['id']}"
    assert response.headers["Location"] == user["meta"]["location"]
    assert vendor.call("GET", f"/scim/v2/Users/{user['id']}", headers=AUTH).json() == user
    missing = scim_error(vendor.call("GET", f"/scim/v2/Users/{uuid.uuid4()}", headers=AUTH), 404)
    assert "not found" in missing["detail"]


def test_duplicate_user_name_is_a_uniqueness_conflict(vendor: Vendor) -> None:
    assert post_user(vendor, scim_user()).status_code == 201
    conflict = scim_error(post_user(vendor, scim_user("Jane.Doe@ACME.io")), 409)
    assert conflict["scimType"] == "uniqueness"
    assert conflict["detail"] == "User with userName Jane.Doe@ACME.io already exists"
    assert [u["userName"] for u in vendor.state.ledger()["provisioning"]["users"]] == ["jane.doe@acme.io"]


def test_scim_validation(vendor: Vendor) -> None:
    no_name = scim_error(post_user(vendor, {"schemas": [USER_SCHEMA], "emails": []}), 400)
    assert no_name["scimType"] == "invalidValue"
    assert scim_error(post_user(vendor, {"userName": "x"}), 400)["scimType"] == "invalidSyntax"
    bad_email = scim_user(emails=[{"value": "jane.doe@"}])
    assert scim_error(post_user(vendor, bad_email), 400)["scimType"] == "invalidValue"
    raw = vendor.call("POST", "/scim/v2/Users", data=b"{not json", headers=SCIM)
    assert scim_error(raw, 400)["scimType"] == "invalidSyntax"
    assert vendor.state.ledger()["provisioning"]["users"] == []


def test_scim_filters_and_paging(vendor: Vendor) -> None:
    for n in range(5):
        post_user(vendor, scim_user(f"user{n}@acme.io", externalId=f"ext-{n}"))

    def listing(**params: Any) -> dict[str, Any]:
        response = vendor.call("GET", "/scim/v2/Users", params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
        return body

    one = listing(filter='userName eq "USER3@acme.io"')
    assert (one["totalResults"], one["itemsPerPage"], one["startIndex"]) == (1, 1, 1)
    assert one["Resources"][0]["userName"] == "user3@acme.io"
    assert listing(filter='externalId eq "ext-2"')["Resources"][0]["userName"] == "user2@acme.io"
    assert listing(filter='externalId eq "EXT-2"')["totalResults"] == 0  # externalId is case-exact
    assert listing(filter='userName eq "nobody@acme.io"')["Resources"] == []
    assert listing(filter='emails.value eq "user4@acme.io" and active eq true')["totalResults"] == 1
    page = listing(startIndex=2, count=2)
    assert (page["totalResults"], page["itemsPerPage"], page["startIndex"]) == (5, 2, 2)
    assert [u["userName"] for u in page["Resources"]] == ["user1@acme.io", "user2@acme.io"]
    bad = vendor.call("GET", "/scim/v2/Users", params={"filter": 'userName co "acme"'}, headers=AUTH)
    assert scim_error(bad, 400)["scimType"] == "invalidFilter"
    either = vendor.call("GET", "/scim/v2/Users", params={"filter": 'userName eq "a" or userName eq "b"'}, headers=AUTH)
    assert scim_error(either, 400)["scimType"] == "invalidFilter"


# -- tenants -------------------------------------------------------------------------------------------


def test_tenant_becomes_active_after_provision_seconds(vendor: Vendor) -> None:
    response = post_tenant(vendor, TENANT, key="tenant-hubspot-18000000001")
    assert response.status_code == 202
    tenant = response.json()
    assert tenant["id"].startswith("ten_")
    assert (tenant["status"], tenant["external_id"], tenant["activated_at"]) == (
        "provisioning",
        TENANT["external_id"],
        None,
    )
    vendor.clock.advance(1.9)
    assert tenant_status(vendor, tenant["id"])["status"] == "provisioning"
    vendor.clock.advance(0.1)
    active = tenant_status(vendor, tenant["id"])
    assert active["status"] == "active" and active["activated_at"] == "2026-10-01T09:00:02.000Z"
    found = vendor.call("GET", "/api/v1/tenants", params={"external_id": TENANT["external_id"]}, headers=AUTH).json()
    assert [t["id"] for t in found["data"]] == [tenant["id"]]
    ledger = vendor.state.ledger()["provisioning"]["tenants"]
    assert ledger == [
        {"id": tenant["id"], "external_id": TENANT["external_id"], "domain": "acme.io", "status": "active"}
    ]


def test_tenant_idempotency(vendor: Vendor) -> None:
    first = post_tenant(vendor, TENANT, key="t-1")
    vendor.clock.advance(5)
    again = post_tenant(vendor, TENANT, key="t-1")
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()  # the stored answer, status "provisioning" included
    message = api_error(post_tenant(vendor, {**TENANT, "plan": "smb"}, key="t-1"), 409, "idempotency_key_reused")
    assert "t-1" in message
    taken = post_tenant(vendor, TENANT)  # no key: a second create, refused by the domain rule
    assert "acme.io" in api_error(taken, 409, "domain_taken")
    assert len(vendor.state.ledger()["provisioning"]["tenants"]) == 1


def test_tenant_validation(vendor: Vendor) -> None:
    assert "region" in api_error(post_tenant(vendor, {**TENANT, "region": "mars"}), 400, "validation_error")
    assert "domain" in api_error(post_tenant(vendor, {**TENANT, "domain": "not a domain"}), 400, "validation_error")
    assert "seats" in api_error(post_tenant(vendor, {**TENANT, "seats": 5}), 400, "validation_error")
    assert "name" in api_error(
        post_tenant(vendor, {k: v for k, v in TENANT.items() if k != "name"}), 400, "validation_error"
    )
    assert api_error(vendor.call("GET", "/api/v1/tenants/ten_nope", headers=AUTH), 404, "not_found")


def test_scripted_failure_and_stuck_provisioning(vendor: Vendor) -> None:
    vendor.admin("POST", "/provisioning/outcomes", {"external_id": "ext-fail", "outcome": "fail", "error": "quota"})
    failing = post_tenant(vendor, {**TENANT, "external_id": "ext-fail"}).json()
    stuck = post_tenant(vendor, {**TENANT, "external_id": "ext-stuck", "domain": "stuck.io"}).json()
    vendor.state.provisioning.set_outcome("stuck", tenant_id=stuck["id"])
    assert tenant_status(vendor, failing["id"])["status"] == "provisioning"
    vendor.clock.advance(3600)
    failed = tenant_status(vendor, failing["id"])
    assert (failed["status"], failed["error"], failed["activated_at"]) == ("failed", "quota", None)
    assert tenant_status(vendor, stuck["id"])["status"] == "provisioning"
    retry = post_tenant(vendor, {**TENANT, "external_id": "ext-retry"})  # a failed tenant frees its domain
    assert retry.status_code == 202
    vendor.admin("POST", "/provisioning/outcomes", {"tenant_id": stuck["id"], "outcome": "normal"})
    assert tenant_status(vendor, stuck["id"])["status"] == "active"
    finished = {"tenant_id": stuck["id"], "outcome": "fail"}
    assert vendor.call("POST", "/_sandbox/provisioning/outcomes", json=finished).status_code == 400
    assert (
        vendor.call("POST", "/_sandbox/provisioning/outcomes", json={**finished, "tenant_id": "ten_x"}).status_code
        == 404
    )
    assert vendor.call("POST", "/_sandbox/provisioning/outcomes", json={"outcome": "fail"}).status_code == 400


def test_provision_seconds_is_a_setting(vendor: Vendor) -> None:
    vendor.admin("POST", "/provisioning/settings", {"provision_seconds": 0})
    assert post_tenant(vendor, TENANT).json()["status"] == "active"
    vendor.state.reset()
    assert vendor.state.provisioning.provision_seconds == 2.0


# -- SSO -------------------------------------------------------------------------------------------------


def test_sso_needs_an_active_tenant_and_is_idempotent(vendor: Vendor) -> None:
    tenant = post_tenant(vendor, TENANT).json()
    sso = {"tenant": tenant["id"], "domain": "acme.io", "protocol": "saml", "idp_metadata": saml_metadata("acme.io")}
    headers = {**AUTH, "Idempotency-Key": "sso-1"}
    early = vendor.call("POST", "/api/v1/sso-connections", json=sso, headers=headers)
    assert "provisioning" in api_error(early, 409, "tenant_not_ready")
    vendor.clock.advance(2)
    created = vendor.call("POST", "/api/v1/sso-connections", json=sso, headers=headers)
    assert created.status_code == 201, created.text
    connection = created.json()
    assert connection["id"].startswith("sso_") and connection["status"] == "active"
    replay = vendor.call("POST", "/api/v1/sso-connections", json=sso, headers=headers)
    assert replay.status_code == 201 and replay.json() == connection and replay.headers["Idempotent-Replayed"] == "true"
    other = vendor.call("POST", "/api/v1/sso-connections", json=sso, headers=AUTH)
    api_error(other, 409, "sso_connection_exists")
    broken = {**sso, "domain": "login.acme.io", "idp_metadata": "<xml>broken"}
    assert "idp_metadata" in api_error(
        vendor.call("POST", "/api/v1/sso-connections", json=broken, headers=AUTH), 400, "validation_error"
    )
    listed = vendor.call("GET", "/api/v1/sso-connections", params={"tenant": tenant["id"]}, headers=AUTH).json()
    assert listed["data"] == [connection]
    assert vendor.state.ledger()["provisioning"]["sso_connections"] == [
        {"id": connection["id"], "tenant": tenant["id"], "domain": "acme.io", "protocol": "saml"}
    ]


# -- auth and faults ----------------------------------------------------------------------------------------


def test_bearer_auth_in_each_apis_error_shape(vendor: Vendor) -> None:
    assert scim_error(vendor.call("GET", "/scim/v2/Users"), 401)["detail"].startswith("Authorization failure")
    api_error(vendor.call("GET", "/api/v1/tenants"), 401, "unauthorized")
    vendor.state.token = "right"
    api_error(vendor.call("GET", "/api/v1/tenants", headers=AUTH), 401, "unauthorized")
    assert vendor.call("GET", "/api/v1/tenants", headers={"Authorization": "Bearer right"}).status_code == 200


def test_faults_render_per_api(vendor: Vendor) -> None:
    vendor.admin("POST", "/faults", {"system": "provisioning", "rate_limit": 2, "retry_after": 3})
    scim = vendor.call("GET", "/scim/v2/Users", headers=AUTH)
    assert scim_error(scim, 429)["detail"] == "Too many requests."
    assert scim.headers["Retry-After"] == "3"
    api_error(post_tenant(vendor, TENANT, key="t-9"), 429, "rate_limited")
    assert post_tenant(vendor, TENANT, key="t-9").status_code == 202
    log = vendor.admin("GET", "/requests?system=provisioning")
    assert [(r["path"], r["status"]) for r in log] == [
        ("/scim/v2/Users", 429),
        ("/api/v1/tenants", 429),
        ("/api/v1/tenants", 202),
    ]
