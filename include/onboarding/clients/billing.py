"""The billing client: Stripe customers.

Stripe takes form-encoded bodies with bracket notation (``metadata[k]=v``) and
an ``Idempotency-Key`` header, which it keeps 24 hours: a re-send under the
same key within that time replays the first answer instead of creating again;
after it, the key is forgotten and a re-send would create a second customer.
So :meth:`StripeClient.key_still_held` tells a caller whether a re-send is
safe, and a customer is found again by a metadata value through
``/v1/customers/search``, which lags behind creates (up to a minute, sometimes
more: ``search_lag_seconds``).

Stripe limits a customer's name to 256 characters; the description is kept to
350 here so that it stays readable in Stripe's dashboard.  Both are clipped
with an ellipsis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from include.onboarding.clients.http import ApiClient, ApiResponse, Created, Outbound, VendorClient, require_list
from include.onboarding.text import clip

CUSTOMERS_ENDPOINT = "/v1/customers"
SEARCH_ENDPOINT = "/v1/customers/search"
NAME_LIMIT = 256
DESCRIPTION_LIMIT = 350
KEY_RETENTION_SECONDS = 23 * 3600
"""Stripe keeps an idempotency key 24 hours; past this age a re-send is treated as a new create."""


def form(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Stripe's bracket notation: {"metadata": {"k": "v"}} -> {"metadata[k]": "v"}; None is left out."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, Mapping):
            flat.update(form(value, name))
        elif value is not None:
            flat[name] = str(value)
    return flat


class StripeClient(VendorClient):
    """Stripe over an Airflow HTTP connection (``billing_api``: the secret key as password)."""

    def __init__(self, api: ApiClient, *, search_lag_seconds: float = 60.0):
        super().__init__(api, search_lag_seconds=search_lag_seconds)

    def customer_request(
        self,
        *,
        name: str,
        email: str | None,
        description: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> Outbound:
        """``POST /v1/customers`` under ``idempotency_key`` (at most 255 characters, as Stripe takes)."""
        body = form(
            {
                "name": clip(name, NAME_LIMIT),
                "email": email,
                "description": clip(description, DESCRIPTION_LIMIT),
                "metadata": dict(metadata),
            }
        )
        return Outbound("POST", CUSTOMERS_ENDPOINT, form=body, headers={"Idempotency-Key": idempotency_key})

    def read_customer(self, response: ApiResponse) -> Created:
        """The created (or replayed) customer's id."""
        return Created(str(self.require(response.body, "id", where=f"{self.system} POST {CUSTOMERS_ENDPOINT}")))

    def find_customer(self, *, metadata_key: str, value: str) -> Created | None:
        """The customer whose ``metadata[metadata_key]`` is ``value``, if Stripe's search shows one yet."""
        where = f"{self.system} customer search for {metadata_key} {value}"
        query = f"metadata['{metadata_key}']:'{value}'"
        customers = require_list(
            self.system, self.api.request("GET", SEARCH_ENDPOINT, params={"query": query}).body, "data", where=where
        )
        return Created(str(self.require(customers[0], "id", where=where))) if customers else None

    @staticmethod
    def key_still_held(first_sent: float | None, now: float) -> bool:
        """Whether Stripe still holds an idempotency key first sent at ``first_sent`` (epoch seconds)."""
        return first_sent is None or now - first_sent < KEY_RETENTION_SECONDS
