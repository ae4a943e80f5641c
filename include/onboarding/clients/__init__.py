"""One client per external system, each over an Airflow connection.

- :mod:`.http`: ``ApiClient``, any HTTP API (retries, Retry-After, the API's error text),
  and ``VendorClient``, the base of the vendor clients below;
- :mod:`.crm`: ``CrmClient``, HubSpot CRM v3 deals search (``crm_api``);
- :mod:`.ticketing`: ``JiraClient``, Jira Cloud v3 issues and sub-tasks (``ticketing_api``);
- :mod:`.billing`: ``StripeClient``, Stripe customers (``billing_api``);
- :mod:`.provisioning`: ``ProvisioningClient``, tenants and SCIM 2.0 users (``provisioning_api``);
- :mod:`.slack`: ``SlackWebhookClient``, Slack incoming webhooks (``slackwebhook`` connections).

A client owns its vendor's request and answer shapes, paging, length limits
and error mapping, and nothing else: which account, which step, whether a
create already happened is the caller's bookkeeping
(:mod:`include.onboarding.setup_steps`).  Arguments are keyword-only, and an
answer missing a field the vendor documents raises an ``ApiError`` naming it.
"""

from __future__ import annotations

from include.onboarding.clients.billing import StripeClient
from include.onboarding.clients.crm import CrmClient
from include.onboarding.clients.http import ApiClient, ApiError, ApiResponse, Created, Outbound, VendorClient
from include.onboarding.clients.provisioning import ProvisioningClient, TenantStatus
from include.onboarding.clients.slack import DeliveryFailed, SlackWebhookClient
from include.onboarding.clients.ticketing import JiraClient

__all__ = [
    "ApiClient",
    "ApiError",
    "ApiResponse",
    "Created",
    "CrmClient",
    "DeliveryFailed",
    "JiraClient",
    "Outbound",
    "ProvisioningClient",
    "SlackWebhookClient",
    "StripeClient",
    "TenantStatus",
    "VendorClient",
]
