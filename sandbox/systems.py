"""The simulated systems as the app and the fault layer see them, and the error shapes they share.

Each system (the CRM, Jira, Stripe, the product's provisioning API, Slack) describes itself with a
``SandboxSystem``: its name, its path prefix, its router and how its vendor renders errors.  Adding a
system means writing one module that exports one, and giving its store a place in ``SandboxState``
(which also reports what the store holds in the ledger).  Vendor routers raise :class:`VendorError`
with a vendor-neutral :class:`ErrorKind`; the system owning the request path renders it in its
vendor's shape.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse


class ErrorKind(str, enum.Enum):
    """Vendor-neutral error classes; each system maps them to its own body."""

    VALIDATION = "validation"
    AUTHENTICATION = "authentication"
    NOT_FOUND = "not_found"
    RATE_LIMIT = "rate_limit"
    INTERNAL = "internal"


ErrorBody = dict[str, Any] | str
"""A vendor's error body: JSON, or plain text for vendors that answer in text."""


class VendorError(Exception):
    """Raised by a vendor router; rendered in that vendor's error shape.

    ``body``, when given, is the complete vendor body (for errors carrying more
    than a message, such as Stripe's ``param`` or SCIM's ``scimType``);
    otherwise the system renders one from ``kind`` and ``message``.
    """

    def __init__(
        self,
        status_code: int,
        kind: ErrorKind,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        body: ErrorBody | None = None,
    ) -> None:
        super().__init__(message or kind.value)
        self.status_code = status_code
        self.kind = kind
        self.message = message
        self.headers = headers or {}
        self.body = body


ErrorRenderer = Callable[[ErrorKind, str | None], ErrorBody]
"""(error kind, message or ``None`` for the vendor's usual one) -> error body."""

ErrorResponder = Callable[[VendorError, str], Response]
"""(error, request path) -> response, for systems whose APIs differ in error style."""


@dataclass(frozen=True)
class SandboxSystem:
    """What the shared layer needs to know about one simulated system."""

    name: str
    prefix: str | tuple[str, ...]
    """Path prefix(es) of the vendor API; faults and the request log apply to them."""
    router: APIRouter
    render_error: ErrorRenderer
    admin_router: APIRouter | None = None
    """Sandbox-only endpoints (seeding etc.), mounted under ``/_sandbox/<name>``."""
    respond_error: ErrorResponder | None = None
    """Replaces ``render_error`` when one system serves APIs with different error styles."""

    def owns(self, path: str) -> bool:
        """Whether a request path belongs to this system."""
        return path.startswith(self.prefix)

    def error_response(self, error: VendorError, path: str = "") -> Response:
        """Render an error the way this vendor would (``path``: the request's)."""
        if self.respond_error is not None:
            return self.respond_error(error, path)
        body = error.body if error.body is not None else self.render_error(error.kind, error.message)
        if isinstance(body, str):
            return PlainTextResponse(body, status_code=error.status_code, headers=error.headers)
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)


def system_for(path: str, systems: Sequence[SandboxSystem]) -> SandboxSystem | None:
    """The system a path belongs to, if any (admin paths belong to none)."""
    return next((system for system in systems if system.owns(path)), None)
