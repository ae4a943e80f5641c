"""The provisioning client: tenants under an idempotency key, their status, and SCIM users with 409 adoption."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from include.onboarding.clients.http import ApiClient, ApiError
from include.onboarding.clients.provisioning import SCIM_MEDIA_TYPE, USER_CREATE_OK, ProvisioningClient, TenantStatus
from include.onboarding.connections import PROVISIONING_API
from tests.clients.conftest import fault

pytestmark = pytest.mark.unit


@pytest.fixture
def provisioning(client_for: Callable[[str], ApiClient]) -> ProvisioningClient:
    return ProvisioningClient(client_for(PROVISIONING_API))


def _tenant(provisioning: ProvisioningClient, key: str) -> Any:
    return provisioning.tenant_request(
        external_id=key, name="Kestrel", domain="kestrel.example", region="EMEA", plan="smb", idempotency_key=f"{key}:t"
    )


def _user(provisioning: ProvisioningClient, email: str) -> Any:
    return provisioning.user_request(user_name=email, given_name="Jane", family_name="Doe", external_id="k:admin")


def test_a_tenant_is_created_once_found_by_our_key_and_reports_its_status(
    sandbox: Any, provisioning: ProvisioningClient
) -> None:
    sandbox.state.provisioning.provision_seconds = 3600
    outbound = _tenant(provisioning, "hubspot-1")
    created = provisioning.read_tenant(provisioning.api.send(outbound))
    assert provisioning.read_tenant(provisioning.api.send(outbound)) == created  # replayed under its key
    assert provisioning.find_tenant(external_id="hubspot-1") == created
    assert provisioning.find_tenant(external_id="hubspot-2") is None
    assert provisioning.tenant_status(tenant_id=created.id) == TenantStatus("provisioning")
    sandbox.state.provisioning.set_outcome("fail", tenant_id=created.id, error="no capacity in EMEA")
    sandbox.state.provisioning.provision_seconds = 0
    assert provisioning.tenant_status(tenant_id=created.id) == TenantStatus("failed", "no capacity in EMEA")


def test_a_status_answer_without_its_status_names_it(sandbox: Any, provisioning: ProvisioningClient) -> None:
    created = provisioning.read_tenant(provisioning.api.send(_tenant(provisioning, "hubspot-3")))
    fault(sandbox, "provisioning", incomplete=1, incomplete_field="status")
    with pytest.raises(ApiError, match=rf"provisioning tenant {created.id} answered without 'status'"):
        provisioning.tenant_status(tenant_id=created.id)


def test_a_user_speaks_scim_json_and_a_second_create_adopts_the_first(
    sandbox: Any, provisioning: ProvisioningClient
) -> None:
    outbound = _user(provisioning, "jane@kestrel.example")
    created = provisioning.read_user(provisioning.api.send(outbound), user_name="jane@kestrel.example")
    assert created.url and created.url.endswith(f"/scim/v2/Users/{created.id}")
    conflict = provisioning.api.send(outbound, ok_statuses=USER_CREATE_OK)
    assert conflict.status == 409
    assert provisioning.read_user(conflict, user_name="jane@kestrel.example") == created
    assert provisioning.find_user(user_name="JANE@kestrel.example") == created  # userName is case-insensitive
    assert provisioning.find_user(user_name="john@kestrel.example") is None
    assert len(sandbox.state.ledger()["provisioning"]["users"]) == 1
    scim = [r for r in sandbox.state.requests("provisioning") if r["path"].startswith("/scim/")]
    assert all(r["accept"] == SCIM_MEDIA_TYPE for r in scim)
    assert all(r["content_type"] == SCIM_MEDIA_TYPE for r in scim if r["method"] == "POST")


def test_a_user_list_without_its_resources_names_them(sandbox: Any, provisioning: ProvisioningClient) -> None:
    provisioning.read_user(
        provisioning.api.send(_user(provisioning, "jane@kestrel.example")), user_name="jane@kestrel.example"
    )
    fault(sandbox, "provisioning", incomplete=1, incomplete_field="Resources")
    with pytest.raises(ApiError, match="SCIM search for jane@kestrel.example answered without a 'Resources' list"):
        provisioning.find_user(user_name="jane@kestrel.example")
