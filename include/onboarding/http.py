"""Former home of the shared HTTP client, kept so existing imports keep working.

The client lives in :mod:`include.onboarding.clients.http`; import it from
there.  This module only re-exports its public names.
"""

from __future__ import annotations

from include.onboarding.clients.http import (
    ApiClient,
    ApiError,
    ApiResponse,
    ClientFor,
    Created,
    Outbound,
    VendorClient,
    bearer_header,
    dig,
    require_field,
)

__all__ = [
    "ApiClient",
    "ApiError",
    "ApiResponse",
    "ClientFor",
    "Created",
    "Outbound",
    "VendorClient",
    "bearer_header",
    "dig",
    "require_field",
]
