"""The provisioning client: the product's tenant API and its SCIM 2.0 users.

Tenants: ``POST /api/v1/tenants`` takes an ``Idempotency-Key`` and answers 202,
provisioning continuing in the background; ``GET /api/v1/tenants/{id}`` reports
its ``status`` (``provisioning``, ``active``, ``failed`` with an ``error``), and
``GET /api/v1/tenants?external_id=`` finds a tenant by our key.

Users (RFC 7643/7644): requests and answers are ``application/scim+json``;
``userName`` is unique (case-insensitively), so a second create answers
``409`` with ``scimType: "uniqueness"``.  That answer is read as "the user
exists": the user is found by ``userName eq`` and adopted, whether an earlier
send of ours or the customer's own administrator created it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from include.onboarding.clients.http import ApiError, ApiResponse, Created, Outbound, VendorClient, dig, require_list

TENANTS_ENDPOINT = "/api/v1/tenants"
USERS_ENDPOINT = "/scim/v2/Users"
SCIM_MEDIA_TYPE = "application/scim+json"
SCIM_USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
USER_CREATE_OK = (409,)
"""Statuses of a user create that are answers, not failures: 409 means the user exists and is adopted."""


class TenantStatus(NamedTuple):
    """A tenant's provisioning state (``provisioning``, ``active``, ``failed``, ...) and the reason it failed."""

    status: str
    error: str | None = None


class ProvisioningClient(VendorClient):
    """The product's provisioning API over an Airflow HTTP connection (``provisioning_api``: a bearer token)."""

    # -- tenants ------------------------------------------------------------------------

    def tenant_request(
        self, *, external_id: str, name: str, domain: str | None, region: str, plan: str, idempotency_key: str
    ) -> Outbound:
        """``POST /api/v1/tenants`` under ``idempotency_key``; ``external_id`` finds it again."""
        payload = {"external_id": external_id, "name": name, "domain": domain, "region": region, "plan": plan}
        return Outbound("POST", TENANTS_ENDPOINT, json=payload, headers={"Idempotency-Key": idempotency_key})

    def read_tenant(self, response: ApiResponse) -> Created:
        """The created (or replayed) tenant's id."""
        return Created(str(self.require(response.body, "id", where=f"{self.system} POST {TENANTS_ENDPOINT}")))

    def find_tenant(self, *, external_id: str) -> Created | None:
        """The tenant created for ``external_id``, if any."""
        where = f"{self.system} tenant search for {external_id}"
        body = self.api.request("GET", TENANTS_ENDPOINT, params={"external_id": external_id}).body
        tenants = body if isinstance(body, list) else require_list(self.system, body, "data", where=where)
        return Created(str(self.require(tenants[0], "id", where=where))) if tenants else None

    def tenant_status(self, *, tenant_id: str) -> TenantStatus:
        """Where provisioning of a tenant stands."""
        body = self.api.request("GET", f"{TENANTS_ENDPOINT}/{tenant_id}").body
        status = self.require(body, "status", where=f"{self.system} tenant {tenant_id}")
        error = dig(body, "error")
        return TenantStatus(str(status), str(error) if error else None)

    # -- SCIM users ---------------------------------------------------------------------

    def user_request(self, *, user_name: str, given_name: str, family_name: str, external_id: str) -> Outbound:
        """``POST /scim/v2/Users``: an active user whose primary email is their ``userName``."""
        payload: dict[str, Any] = {
            "schemas": [SCIM_USER_SCHEMA],
            "userName": user_name,
            "externalId": external_id,
            "name": {"givenName": given_name, "familyName": family_name},
            "emails": [{"value": user_name, "primary": True}],
            "active": True,
        }
        return Outbound(
            "POST", USERS_ENDPOINT, json=payload, headers={"Content-Type": SCIM_MEDIA_TYPE, "Accept": SCIM_MEDIA_TYPE}
        )

    def read_user(self, response: ApiResponse, *, user_name: str) -> Created:
        """The created user's id and location; on 409 (``userName`` taken) the existing user, adopted."""
        if response.status != 409:
            where = f"{self.system} POST {USERS_ENDPOINT}"
            return Created(str(self.require(response.body, "id", where=where)), dig(response.body, "meta.location"))
        found = self.find_user(user_name=user_name)
        if found is None:
            raise ApiError(self.system, f"SCIM said {user_name!r} exists (409) but a lookup finds no such user")
        return found

    def find_user(self, *, user_name: str) -> Created | None:
        """The user whose ``userName`` is ``user_name`` (SCIM compares it case-insensitively)."""
        where = f"{self.system} SCIM search for {user_name}"
        params = {"filter": f'userName eq "{_scim_string(user_name)}"'}
        body = self.api.request("GET", USERS_ENDPOINT, params=params, headers={"Accept": SCIM_MEDIA_TYPE}).body
        users = require_list(self.system, body, "Resources", where=where) if dig(body, "totalResults") != 0 else []
        if not users:
            return None
        return Created(str(self.require(users[0], "id", where=where)), dig(users[0], "meta.location"))


def _scim_string(value: str) -> str:
    """``value`` inside a SCIM filter's double quotes (RFC 7644 3.4.2.2: JSON string escaping)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')
