"""Provisioning: the product's SCIM 2.0 user API (RFC 7643/7644) and its tenant API.

SCIM: ``userName`` is unique ignoring case (a second create is a 409
``uniqueness`` error, so clients filter ``userName eq "..."`` first), errors use
the SCIM error schema with the status as a string, lists are ``ListResponse``
pages with a 1-based ``startIndex``, and bodies are ``application/scim+json``.

Tenant API: tenants are created asynchronously; ``POST /api/v1/tenants``
answers 202 ``provisioning`` and the tenant turns ``active`` once
``provision_seconds`` have passed on the sandbox clock (or ``failed``, or
stays ``provisioning`` for ever, when a test says so).  Creates accept an
``Idempotency-Key`` with Stripe's semantics; a domain belongs to one live
tenant; SSO can only be configured on an active tenant.  Both APIs want a
bearer token.
"""

from __future__ import annotations

import re
import threading
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.common import (
    LOWER_ALNUM,
    Clock,
    SystemStore,
    bearer_ok,
    flat_error,
    idempotency_key,
    is_domain,
    is_email,
    iso,
    json_body,
    random_id,
)
from sandbox.idempotency import REPLAYED_HEADER, IdempotencyKeys, flat_vendor_error, replay_or_conflict
from sandbox.systems import ErrorKind, SandboxSystem, VendorError

SYSTEM_NAME = "provisioning"
SCIM_PREFIX = "/scim/v2/"
PREFIXES = (SCIM_PREFIX, "/api/v1/tenants", "/api/v1/sso-connections")

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SCIM_MEDIA_TYPE = "application/scim+json"
MAX_SCIM_PAGE = 200

REGIONS = ("NA", "EMEA", "APAC")
"""Data regions a tenant can live in (the company's operating regions)."""
PROTOCOLS = ("saml", "oidc")
DEFAULT_PROVISION_SECONDS = 2.0
Outcome = Literal["normal", "fail", "stuck"]
TENANT_FIELDS = frozenset({"external_id", "name", "domain", "region", "plan"})
SSO_FIELDS = frozenset({"tenant", "domain", "protocol", "idp_metadata"})

_API_ERRORS = {
    ErrorKind.VALIDATION: ("validation_error", "The request is invalid."),
    ErrorKind.AUTHENTICATION: ("unauthorized", "Missing or invalid bearer token."),
    ErrorKind.NOT_FOUND: ("not_found", "Not found."),
    ErrorKind.RATE_LIMIT: ("rate_limited", "Too many requests; retry after the number of seconds in Retry-After."),
    ErrorKind.INTERNAL: ("internal_error", "Something went wrong on our side."),
}
_SCIM_DEFAULTS = {
    ErrorKind.VALIDATION: "Request is unparsable, syntactically incorrect, or violates schema.",
    ErrorKind.AUTHENTICATION: "Authorization failure. The authorization header is invalid or missing.",
    ErrorKind.NOT_FOUND: "Resource not found.",
    ErrorKind.RATE_LIMIT: "Too many requests.",
    ErrorKind.INTERNAL: "Internal server error.",
}


def render_error(kind: ErrorKind, message: str | None) -> dict[str, Any]:
    """The tenant API's error body: ``{"error": code, "message": ...}``."""
    code, default = _API_ERRORS[kind]
    return flat_error(code, message or default)


def scim_error(status: int, detail: str, scim_type: str | None = None) -> VendorError:
    """An error in the SCIM error schema (RFC 7644 section 3.12)."""
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    kind = {401: ErrorKind.AUTHENTICATION, 404: ErrorKind.NOT_FOUND}.get(status, ErrorKind.VALIDATION)
    return VendorError(status, kind, detail, body=body)


api_error = flat_vendor_error  # the tenant API's error style


def respond_error(error: VendorError, path: str) -> Response:
    """SCIM errors under ``/scim/v2``, the tenant API's own style elsewhere."""
    if path.startswith(SCIM_PREFIX):
        body = error.body or scim_error(error.status_code, error.message or _SCIM_DEFAULTS[error.kind]).body
        return JSONResponse(body, error.status_code, error.headers, media_type=SCIM_MEDIA_TYPE)
    body = error.body or render_error(error.kind, error.message)
    return JSONResponse(body, error.status_code, error.headers)


# -- model ---------------------------------------------------------------------------------------


@dataclass
class Tenant:
    """One tenant; its status follows from the clock and its scripted outcome."""

    id: str
    external_id: str
    name: str
    domain: str
    region: str
    plan: str
    created_at: float
    outcome: Outcome = "normal"
    error: str | None = None

    def status(self, now: float, provision_seconds: float) -> str:
        """``provisioning`` until the provisioning time has passed, then ``active`` or ``failed``."""
        if self.outcome == "stuck" or now < self.created_at + provision_seconds:
            return "provisioning"
        return "failed" if self.outcome == "fail" else "active"

    def to_json(self, now: float, provision_seconds: float) -> dict[str, Any]:
        """The tenant as the API returns it."""
        status = self.status(now, provision_seconds)
        return {
            "id": self.id,
            "object": "tenant",
            "external_id": self.external_id,
            "name": self.name,
            "domain": self.domain,
            "region": self.region,
            "plan": self.plan,
            "status": status,
            "error": self.error if status == "failed" else None,
            "created_at": iso(self.created_at),
            "activated_at": iso(self.created_at + provision_seconds) if status == "active" else None,
        }


class ProvisioningStore(SystemStore):
    """SCIM users, tenants and SSO connections of the product."""

    def __init__(self, lock: threading.RLock, clock: Clock) -> None:
        super().__init__(lock, clock)
        self.provision_seconds = DEFAULT_PROVISION_SECONDS
        """Sandbox-clock seconds a tenant spends in ``provisioning``."""
        self.idempotency = IdempotencyKeys(self.clock)
        self._users: dict[str, dict[str, Any]] = {}
        self._tenants: dict[str, Tenant] = {}
        self._planned: dict[str, tuple[Outcome, str | None]] = {}
        self._sso: dict[str, dict[str, Any]] = {}

    # -- SCIM users ------------------------------------------------------------------

    def create_user(self, body: object, base: str) -> dict[str, Any]:
        """Create a SCIM user; 400 on schema violations, 409 on a taken ``userName``."""
        resource = _scim_user(body)
        with self.lock:
            name = resource["userName"]
            if any(u["userName"].casefold() == name.casefold() for u in self._users.values()):
                raise scim_error(409, f"User with userName {name} already exists", "uniqueness")
            user_id = str(uuid.uuid4())
            now = iso(self.clock())
            resource = {"schemas": [USER_SCHEMA], "id": user_id, **resource}
            resource["meta"] = {
                "resourceType": "User",
                "created": now,
                "lastModified": now,
                "location": f"{base}/scim/v2/Users/{user_id}",
                "version": 'W/"1"',
            }
            self._users[user_id] = resource
            return resource

    def user(self, user_id: str) -> dict[str, Any] | None:
        """A SCIM user by id."""
        with self.lock:
            return self._users.get(user_id)

    def users(self) -> list[dict[str, Any]]:
        """All SCIM users, in creation order."""
        with self.lock:
            return list(self._users.values())

    # -- tenants -------------------------------------------------------------------------

    def create_tenant(self, body: object, key: str | None) -> tuple[dict[str, Any], bool]:
        """(tenant, replayed): start provisioning a tenant, or replay the answer for ``key``."""
        with self.lock:
            stored = replay_or_conflict(self.idempotency, key, "POST /api/v1/tenants", body)
            if stored is not None:
                return stored, True
            values = _tenant_values(body)
            taken = next(
                (t for t in self._tenants.values() if t.domain == values["domain"] and not self._failed(t)), None
            )
            if taken is not None:
                raise api_error(409, "domain_taken", f"Domain {values['domain']} already belongs to tenant {taken.id}.")
            outcome, error = self._planned.get(values["external_id"], ("normal", None))
            tenant = Tenant(
                random_id("ten_", 16, LOWER_ALNUM), created_at=self.clock(), outcome=outcome, error=error, **values
            )
            self._tenants[tenant.id] = tenant
            answer = self.tenant_json(tenant)
            self.idempotency.remember(key, "POST /api/v1/tenants", body, 202, answer)
            return answer, False

    def tenant(self, tenant_id: str) -> dict[str, Any] | None:
        """A tenant as the API shows it now."""
        with self.lock:
            tenant = self._tenants.get(tenant_id)
            return self.tenant_json(tenant) if tenant else None

    def tenants(self, external_id: str | None = None, domain: str | None = None) -> list[dict[str, Any]]:
        """Tenants (optionally by external id or domain), in creation order."""
        with self.lock:
            return [
                self.tenant_json(t)
                for t in self._tenants.values()
                if external_id in (None, t.external_id) and domain in (None, t.domain)
            ]

    def tenant_json(self, tenant: Tenant) -> dict[str, Any]:
        """A tenant with its status as of now."""
        return tenant.to_json(self.clock(), self.provision_seconds)

    def set_outcome(
        self,
        outcome: Outcome,
        tenant_id: str | None = None,
        external_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Script how provisioning ends: ``fail`` (with ``error``), ``stuck`` or ``normal``.

        With ``external_id`` it applies to that customer's tenants still
        provisioning and to those created later; with ``tenant_id`` to that
        tenant only, which must still be provisioning (``ValueError`` if not,
        ``KeyError`` if unknown).  ``normal`` releases a stuck tenant.
        """
        if (tenant_id is None) == (external_id is None):
            raise ValueError("give exactly one of tenant_id and external_id")
        message = (error or "Provisioning failed: the data region has no capacity left.") if outcome == "fail" else None
        with self.lock:
            if tenant_id is not None and tenant_id not in self._tenants:
                raise KeyError(f"no tenant {tenant_id}")
            if external_id is not None:
                self._planned[external_id] = (outcome, message)
            targets = [
                t for t in self._tenants.values() if tenant_id in (None, t.id) and external_id in (None, t.external_id)
            ]
            now = self.clock()
            unfinished = [t for t in targets if t.status(now, self.provision_seconds) == "provisioning"]
            if tenant_id is not None and not unfinished:
                raise ValueError(f"tenant {tenant_id} has finished provisioning")
            for tenant in unfinished:
                tenant.outcome, tenant.error = outcome, message

    def _failed(self, tenant: Tenant) -> bool:
        return tenant.status(self.clock(), self.provision_seconds) == "failed"

    # -- SSO connections ----------------------------------------------------------------

    def create_sso(self, body: object, key: str | None) -> tuple[dict[str, Any], bool]:
        """(connection, replayed): configure SSO on an active tenant."""
        with self.lock:
            stored = replay_or_conflict(self.idempotency, key, "POST /api/v1/sso-connections", body)
            if stored is not None:
                return stored, True
            values = _sso_values(body)
            tenant = self._tenants.get(values["tenant"])
            if tenant is None:
                raise api_error(400, "validation_error", f"tenant: no tenant {values['tenant']}.")
            status = tenant.status(self.clock(), self.provision_seconds)
            if status != "active":
                raise api_error(409, "tenant_not_ready", f"Tenant {tenant.id} is {status}; SSO needs an active tenant.")
            if any(c["tenant"] == tenant.id and c["domain"] == values["domain"] for c in self._sso.values()):
                raise api_error(
                    409, "sso_connection_exists", f"Tenant {tenant.id} already has SSO for {values['domain']}."
                )
            connection = {
                "id": random_id("sso_", 16, LOWER_ALNUM),
                "object": "sso_connection",
                **values,
                "status": "active",
                "created_at": iso(self.clock()),
            }
            self._sso[connection["id"]] = connection
            self.idempotency.remember(key, "POST /api/v1/sso-connections", body, 201, connection)
            return connection, False

    def sso_connections(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """SSO connections (optionally of one tenant)."""
        with self.lock:
            return [c for c in self._sso.values() if tenant in (None, c["tenant"])]

    def ledger(self) -> dict[str, Any]:
        """Users, tenants (with their current status) and SSO connections."""
        with self.lock:
            return {
                "users": [
                    {"id": u["id"], "userName": u["userName"], "externalId": u.get("externalId"), "active": u["active"]}
                    for u in self._users.values()
                ],
                "tenants": [
                    {"id": t["id"], "external_id": t["external_id"], "domain": t["domain"], "status": t["status"]}
                    for t in self.tenants()
                ],
                "sso_connections": [
                    {"id": c["id"], "tenant": c["tenant"], "domain": c["domain"], "protocol": c["protocol"]}
                    for c in self._sso.values()
                ],
            }


# -- validation ----------------------------------------------------------------------------------------


def _scim_user(body: object) -> dict[str, Any]:
    """The client-settable attributes of a SCIM user, or a SCIM 400."""
    if not isinstance(body, dict):
        raise scim_error(400, "The request body must be a JSON object.", "invalidSyntax")
    if USER_SCHEMA not in (body.get("schemas") or []):
        raise scim_error(400, f"schemas must include {USER_SCHEMA}.", "invalidSyntax")
    user_name = body.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise scim_error(400, "Attribute 'userName' is required.", "invalidValue")
    emails = body.get("emails", [])
    if not isinstance(emails, list) or not all(isinstance(e, dict) and is_email(e.get("value")) for e in emails):
        raise scim_error(400, "Attribute 'emails' must be a list of objects with a valid 'value'.", "invalidValue")
    if sum(1 for e in emails if e.get("primary") is True) > 1:
        raise scim_error(400, "At most one email can be primary.", "invalidValue")
    active = body.get("active", True)
    if not isinstance(active, bool):
        raise scim_error(400, "Attribute 'active' must be a boolean.", "invalidValue")
    resource: dict[str, Any] = {"userName": user_name}
    for name in ("externalId", "displayName"):
        if isinstance(body.get(name), str):
            resource[name] = body[name]
    if isinstance(body.get("name"), dict):
        resource["name"] = body["name"]
    resource["emails"] = emails
    resource["active"] = active
    return resource


def _tenant_values(body: object) -> dict[str, str]:
    """Fields of a new tenant, or a 400 naming the first bad one."""
    if not isinstance(body, dict):
        raise api_error(400, "validation_error", "The request body must be a JSON object.")
    for name in body:
        if name not in TENANT_FIELDS:
            raise api_error(400, "validation_error", f"{name}: unknown field.")
    for name in sorted(TENANT_FIELDS):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise api_error(400, "validation_error", f"{name}: required, a non-empty string.")
    if not is_domain(body["domain"]):
        raise api_error(400, "validation_error", f"domain: {body['domain']!r} is not a valid domain name.")
    if body["region"] not in REGIONS:
        raise api_error(400, "validation_error", f"region: must be one of {', '.join(REGIONS)}.")
    return {name: body[name] for name in TENANT_FIELDS}


def _sso_values(body: object) -> dict[str, Any]:
    """Fields of a new SSO connection, or a 400."""
    if not isinstance(body, dict):
        raise api_error(400, "validation_error", "The request body must be a JSON object.")
    for name in body:
        if name not in SSO_FIELDS:
            raise api_error(400, "validation_error", f"{name}: unknown field.")
    if not isinstance(body.get("tenant"), str):
        raise api_error(400, "validation_error", "tenant: required, a tenant id.")
    if not is_domain(body.get("domain")):
        raise api_error(400, "validation_error", "domain: required, a valid domain name.")
    if body.get("protocol") not in PROTOCOLS:
        raise api_error(400, "validation_error", f"protocol: must be one of {', '.join(PROTOCOLS)}.")
    metadata = body.get("idp_metadata")
    if metadata is not None and not is_idp_metadata(metadata):
        raise api_error(400, "validation_error", "idp_metadata: not SAML 2.0 IdP metadata (EntityDescriptor).")
    return {"tenant": body["tenant"], "domain": body["domain"], "protocol": body["protocol"]}


def is_idp_metadata(text: object) -> bool:
    """Whether ``text`` is well-formed XML whose root is a SAML ``EntityDescriptor`` with an IdP role."""
    if not isinstance(text, str):
        return False
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        return False
    return root.tag.endswith("EntityDescriptor") and any(e.tag.endswith("IDPSSODescriptor") for e in root)


# -- routes ----------------------------------------------------------------------------------------------------


def _store(request: Request) -> ProvisioningStore:
    store: ProvisioningStore = request.app.state.sandbox.provisioning
    return store


StoreDep = Annotated[ProvisioningStore, Depends(_store)]


def _authenticated(request: Request) -> None:
    if not bearer_ok(request):
        raise VendorError(401, ErrorKind.AUTHENTICATION)


def _scim(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status, headers, media_type=SCIM_MEDIA_TYPE)


async def _json(request: Request, scim: bool) -> Any:
    try:
        return await json_body(request)
    except ValueError as exc:
        if scim:
            raise scim_error(400, f"The request body is not valid JSON: {exc}", "invalidSyntax") from exc
        raise api_error(400, "validation_error", f"The request body is not valid JSON: {exc}") from exc


def _created(body: dict[str, Any], status: int, key: str | None, replayed: bool) -> JSONResponse:
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    if key:
        headers["Idempotency-Key"] = key
    return JSONResponse(body, status, headers)


router = APIRouter(dependencies=[Depends(_authenticated)])


@router.post("/scim/v2/Users")
async def create_user(request: Request, store: StoreDep) -> JSONResponse:
    """``POST /scim/v2/Users``."""
    user = store.create_user(await _json(request, scim=True), str(request.base_url).rstrip("/"))
    return _scim(user, 201, {"Location": user["meta"]["location"], "ETag": user["meta"]["version"]})


@router.get("/scim/v2/Users")
def list_users(
    store: StoreDep,
    filter_text: Annotated[str | None, Query(alias="filter")] = None,
    start_index: Annotated[str | None, Query(alias="startIndex")] = None,
    count: str | None = None,
) -> JSONResponse:
    """``GET /scim/v2/Users?filter=userName eq "x"&startIndex=1&count=100``."""
    start = max(_int_param(start_index, 1), 1)  # RFC 7644: values below 1 mean 1
    size = min(max(_int_param(count, 100), 0), MAX_SCIM_PAGE)
    matches = scim_filter(filter_text)
    found = [u for u in store.users() if matches(u)]
    page = found[start - 1 : start - 1 + size]
    return _scim(
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": len(found),
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": page,
        }
    )


@router.get("/scim/v2/Users/{user_id}")
def read_user(user_id: str, store: StoreDep) -> JSONResponse:
    """``GET /scim/v2/Users/{id}``."""
    user = store.user(user_id)
    if user is None:
        raise scim_error(404, f"User {user_id} not found")
    return _scim(user)


@router.post("/api/v1/tenants")
async def create_tenant(request: Request, store: StoreDep) -> JSONResponse:
    """``POST /api/v1/tenants``: 202, provisioning continues in the background."""
    key = idempotency_key(request)
    tenant, replayed = store.create_tenant(await _json(request, scim=False), key)
    return _created(tenant, 202, key, replayed)


@router.get("/api/v1/tenants")
def list_tenants(store: StoreDep, external_id: str | None = None, domain: str | None = None) -> dict[str, Any]:
    """``GET /api/v1/tenants?external_id=...``."""
    return {"data": store.tenants(external_id=external_id, domain=domain)}


@router.get("/api/v1/tenants/{tenant_id}")
def read_tenant(tenant_id: str, store: StoreDep) -> dict[str, Any]:
    """``GET /api/v1/tenants/{id}``."""
    tenant = store.tenant(tenant_id)
    if tenant is None:
        raise api_error(404, "not_found", f"No tenant {tenant_id}.")
    return tenant


@router.post("/api/v1/sso-connections")
async def create_sso(request: Request, store: StoreDep) -> JSONResponse:
    """``POST /api/v1/sso-connections``."""
    key = idempotency_key(request)
    connection, replayed = store.create_sso(await _json(request, scim=False), key)
    return _created(connection, 201, key, replayed)


@router.get("/api/v1/sso-connections")
def list_sso(store: StoreDep, tenant: str | None = None) -> dict[str, Any]:
    """``GET /api/v1/sso-connections?tenant=...``."""
    return {"data": store.sso_connections(tenant)}


# -- SCIM filters ----------------------------------------------------------------------------------------


def _int_param(raw: str | None, default: int) -> int:
    if raw in (None, ""):
        return default
    try:
        return int(str(raw))
    except ValueError as exc:
        raise scim_error(400, f"{raw!r} is not an integer.", "invalidValue") from exc


_SCIM_CLAUSE = re.compile(r'\s*(?P<attr>[A-Za-z.]+)\s+(?P<op>[A-Za-z]+)\s+(?P<value>"(?:[^"\\]|\\.)*"|true|false)\s*')
_SCIM_AND = re.compile(r"and\s+", re.IGNORECASE)
SCIM_FILTER_ATTRIBUTES = ("userName", "externalId", "emails.value", "id", "active")
"""Attributes a filter may test, with ``eq`` only, joined by ``and``."""

UserMatcher = Callable[[dict[str, Any]], bool]


def scim_filter(text: str | None) -> UserMatcher:
    """Compile a SCIM filter such as ``userName eq "jane@acme.com" and active eq true``."""
    if not text or not text.strip():
        return lambda user: True
    tests: list[UserMatcher] = []
    position = 0
    while True:
        match = _SCIM_CLAUSE.match(text, position)
        if match is None:
            raise scim_error(400, f"Unsupported or malformed filter: {text}", "invalidFilter")
        tests.append(_scim_clause(match["attr"], match["op"], match["value"]))
        position = match.end()
        if position >= len(text):
            return lambda user: all(test(user) for test in tests)
        connective = _SCIM_AND.match(text, position)
        if connective is None:
            raise scim_error(400, f"Unsupported filter (only 'and' is supported): {text}", "invalidFilter")
        position = connective.end()


def _scim_clause(attribute: str, operator: str, raw: str) -> UserMatcher:
    """One ``attribute eq value`` test; attribute names ignore case, as RFC 7644 says."""
    name = next((a for a in SCIM_FILTER_ATTRIBUTES if a.lower() == attribute.lower()), None)
    if name is None or operator.lower() != "eq":
        raise scim_error(400, f"Unsupported filter: {attribute} {operator}", "invalidFilter")
    if name == "active":
        wanted_flag = raw == "true"
        return lambda user: user.get("active") is wanted_flag
    value = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
    if name in ("externalId", "id"):  # caseExact attributes
        return lambda user: user.get(name) == value
    folded = value.casefold()
    if name == "emails.value":
        return lambda user: any(str(e.get("value", "")).casefold() == folded for e in user.get("emails", []))
    return lambda user: str(user.get("userName", "")).casefold() == folded


# -- admin -------------------------------------------------------------------------------------------------------


class ProvisioningSettings(BaseModel):
    """Body of ``POST /_sandbox/provisioning/settings``."""

    provision_seconds: float = Field(ge=0)


class OutcomeBody(BaseModel):
    """Body of ``POST /_sandbox/provisioning/outcomes``: script how provisioning ends."""

    outcome: Outcome
    tenant_id: str | None = None
    external_id: str | None = None
    error: str | None = None


admin_router = APIRouter()


@admin_router.post("/settings")
def settings(body: ProvisioningSettings, store: StoreDep) -> dict[str, Any]:
    """Change how long tenants take to provision (applies to existing ones too)."""
    store.provision_seconds = body.provision_seconds
    return body.model_dump()


@admin_router.post("/outcomes")
def set_outcome(body: OutcomeBody, store: StoreDep) -> dict[str, Any]:
    """Make a tenant (or a customer's tenants) fail, hang, or provision normally."""
    try:
        store.set_outcome(body.outcome, tenant_id=body.tenant_id, external_id=body.external_id, error=body.error)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    except KeyError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    return {"ok": True}


SYSTEM = SandboxSystem(
    name=SYSTEM_NAME,
    prefix=PREFIXES,
    router=router,
    render_error=render_error,
    admin_router=admin_router,
    respond_error=respond_error,
)
"""The product's provisioning APIs as the app and the fault layer see them."""
