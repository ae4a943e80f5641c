"""Billing, in the shape of the Stripe API (customers: create, retrieve, list, search).

Stripe's rules that integrations trip over are kept: request bodies are
form-encoded with bracket notation (``metadata[onboarding_key]=...``), not
JSON; unknown parameters are refused by name; a create without an
``Idempotency-Key`` always makes a new customer, while a repeated key replays
the first answer (``Idempotent-Replayed: true``) and a key reused with other
parameters is an ``idempotency_error``; search is eventually consistent (with
``search_delay_seconds`` set, new customers are not found for that long, as
Stripe documents up to a minute), whereas list-by-email is immediate.  Errors
are ``{"error": {"type", "message", "param", "code"}}``; only test-mode secret
keys are accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.common import (
    Clock,
    SystemStore,
    bearer_token,
    configured_token,
    idempotency_key,
    is_email,
    random_id,
)
from sandbox.idempotency import MAX_KEY_LENGTH, REPLAYED_HEADER, IdempotencyKeys, KeyReused
from sandbox.systems import ErrorKind, SandboxSystem, VendorError

SYSTEM_NAME = "billing"
PREFIX = "/v1/"

CUSTOMER_PARAMS = frozenset({"name", "email", "description", "phone", "metadata", "address", "preferred_locales"})
ADDRESS_PARAMS = frozenset({"line1", "line2", "city", "state", "postal_code", "country"})
STRING_LIMITS = {"name": 256, "email": 512, "description": 350, "phone": 20}
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
SEARCH_FIELDS = frozenset({"email", "name", "phone", "metadata", "created"})
TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")
"""The sandbox is Stripe in test mode: live keys (``sk_live_``) are refused."""

_NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer "
    "auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for "
    "details, or we can help at https://support.stripe.com/."
)
_DEFAULTS: dict[ErrorKind, tuple[str, str, str | None]] = {
    # kind -> (type, message, code)
    ErrorKind.VALIDATION: ("invalid_request_error", "Invalid request.", None),
    ErrorKind.AUTHENTICATION: ("invalid_request_error", _NO_KEY, None),
    ErrorKind.NOT_FOUND: ("invalid_request_error", "Unrecognized request URL.", None),
    ErrorKind.RATE_LIMIT: (
        "invalid_request_error",
        "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        "rate_limit",
    ),
    ErrorKind.INTERNAL: ("api_error", "An unknown error occurred", None),
}


def render_error(kind: ErrorKind, message: str | None) -> dict[str, Any]:
    """Stripe's error body."""
    error_type, default, code = _DEFAULTS[kind]
    error: dict[str, Any] = {"type": error_type, "message": message or default}
    if code:
        error["code"] = code
    return {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None, status: int = 400) -> VendorError:
    """An ``invalid_request_error`` naming the offending parameter."""
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if param is not None:
        error["param"] = param
    if code is not None:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    return VendorError(status, ErrorKind.VALIDATION, message, body={"error": error})


# -- form encoding -----------------------------------------------------------------------------


def parse_form(raw: bytes) -> dict[str, Any]:
    """Decode Stripe's form encoding: ``a[b]=c`` is a hash, ``a[]=x`` and ``a[0]=x`` arrays."""
    params: dict[str, Any] = {}
    for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        match = re.fullmatch(r"([A-Za-z0-9_]+)((?:\[[^\[\]]*\])*)", name)
        if match is None:
            raise invalid(f"Invalid parameter name: {name}", name)
        path = [match[1], *re.findall(r"\[([^\[\]]*)\]", match[2])]
        _insert(params, path, value, name)
    result: dict[str, Any] = _arrays(params)
    return result


def _insert(target: dict[str, Any], path: list[str], value: str, name: str) -> None:
    """Place one decoded pair into the nested parameters."""
    key, rest = path[0], path[1:]
    if not rest:
        target[key] = value
        return
    if rest == [""]:
        existing = target.setdefault(key, [])
        if not isinstance(existing, list):
            raise invalid(f"Invalid array: {name}", key)
        existing.append(value)
        return
    child = target.setdefault(key, {})
    if not isinstance(child, dict) or "" in rest:
        raise invalid(f"Invalid hash: {name}", key)
    _insert(child, rest, value, name)


def _arrays(value: Any) -> Any:
    """Turn hashes keyed ``0``, ``1``, ... (indexed arrays) into lists, recursively."""
    if not isinstance(value, dict):
        return value
    converted = {k: _arrays(v) for k, v in value.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


# -- customers -----------------------------------------------------------------------------------------


@dataclass
class _Customer:
    body: dict[str, Any]
    idempotency_key: str | None


def validate_customer(params: dict[str, Any]) -> dict[str, Any]:
    """Check create parameters as Stripe does; returns them normalised."""
    for name in params:
        if name not in CUSTOMER_PARAMS and name != "expand":
            raise invalid(f"Received unknown parameter: {name}", name)
    for name, limit in STRING_LIMITS.items():
        value = params.get(name)
        if value is not None and not isinstance(value, str):
            raise invalid(f"Invalid string: {value}", name)
        if isinstance(value, str) and len(value) > limit:
            raise invalid(f"Invalid {name}: must be at most {limit} characters", name)
    email = params.get("email")
    if email and not is_email(email):
        raise invalid(f"Invalid email address: {email}", "email", code="email_invalid")
    metadata = _metadata(params.get("metadata", {}))
    address = _address(params.get("address"))
    locales = params.get("preferred_locales", [])
    if not isinstance(locales, list) or not all(isinstance(x, str) for x in locales):
        raise invalid("Invalid array", "preferred_locales")
    clean = {name: params.get(name) or None for name in STRING_LIMITS}
    return {**clean, "metadata": metadata, "address": address, "preferred_locales": locales}


def _metadata(raw: object) -> dict[str, str]:
    if raw == "":
        return {}
    if not isinstance(raw, dict):
        raise invalid("Invalid hash", "metadata")
    if len(raw) > MAX_METADATA_KEYS:
        raise invalid(f"You can specify up to {MAX_METADATA_KEYS} keys in metadata.", "metadata")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise invalid(f"Invalid value for metadata[{key}]: must be a string", f"metadata[{key}]")
        if len(key) > MAX_METADATA_KEY_LENGTH:
            raise invalid(f"Metadata keys can be at most {MAX_METADATA_KEY_LENGTH} characters long.", "metadata")
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            raise invalid(f"Metadata values can be at most {MAX_METADATA_VALUE_LENGTH} characters long.", "metadata")
    return {k: v for k, v in raw.items() if v != ""}


def _address(raw: object) -> dict[str, str | None] | None:
    if raw in (None, ""):
        return None
    if not isinstance(raw, dict):
        raise invalid("Invalid hash", "address")
    for key in raw:
        if key not in ADDRESS_PARAMS:
            raise invalid(f"Received unknown parameter: address[{key}]", f"address[{key}]")
    return {key: raw.get(key) or None for key in sorted(ADDRESS_PARAMS)}


class BillingStore(SystemStore):
    """Customers of one Stripe account in test mode."""

    def __init__(self, lock: threading.RLock, clock: Clock) -> None:
        super().__init__(lock, clock)
        self.search_delay_seconds = 0.0
        """How long a new customer stays invisible to search (Stripe: usually under a minute)."""
        self.idempotency = IdempotencyKeys(self.clock)
        self._customers: list[_Customer] = []

    def create_customer(self, params: dict[str, Any], key: str | None = None) -> tuple[dict[str, Any], bool]:
        """(customer, replayed): a new customer, or the first answer given for ``key``."""
        with self.lock:
            try:
                stored = self.idempotency.replay(key, "POST /v1/customers", params)
            except KeyReused as exc:
                raise VendorError(
                    400, ErrorKind.VALIDATION, body={"error": {"type": "idempotency_error", "message": str(exc)}}
                ) from exc
            if stored is not None:
                return stored.body, True
            values = validate_customer(params)
            body = _customer_json(values, int(self.clock()))
            self._customers.append(_Customer(body, key))
            self.idempotency.remember(key, "POST /v1/customers", params, 200, body)
            return body, False

    def get(self, customer_id: str) -> dict[str, Any] | None:
        """A customer by id."""
        with self.lock:
            return next((c.body for c in self._customers if c.body["id"] == customer_id), None)

    def customers(self, searchable_only: bool = False) -> list[dict[str, Any]]:
        """Customers, newest first (as Stripe lists them); optionally only those search can see."""
        with self.lock:
            cutoff = self.clock() - self.search_delay_seconds if searchable_only else float("inf")
            return [c.body for c in reversed(self._customers) if c.body["created"] <= cutoff]

    def ledger(self) -> dict[str, Any]:
        """Customers created, oldest first."""
        with self.lock:
            return {
                "customers": [
                    {
                        "id": c.body["id"],
                        "email": c.body["email"],
                        "name": c.body["name"],
                        "description": c.body.get("description"),
                        "onboarding_key": c.body["metadata"].get("onboarding_key"),
                        "idempotency_key": c.idempotency_key,
                    }
                    for c in self._customers
                ]
            }


def _customer_json(values: dict[str, Any], created: int) -> dict[str, Any]:
    """A customer object with every field Stripe returns."""
    return {
        "id": random_id("cus_"),
        "object": "customer",
        "address": values["address"],
        "balance": 0,
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": values["description"],
        "discount": None,
        "email": values["email"],
        "invoice_prefix": random_id("", 8, string.ascii_uppercase + string.digits),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": values["metadata"],
        "name": values["name"],
        "next_invoice_sequence": 1,
        "phone": values["phone"],
        "preferred_locales": values["preferred_locales"],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


# -- search ----------------------------------------------------------------------------------------------

_CLAUSE = re.compile(
    r"""\s*(?P<negate>-)?
    (?P<field>metadata\[(?P<quote>['"])(?P<key>[^'"]+)(?P=quote)\]|[a-z_]+)
    (?P<op>:|~|>=|<=|>|<)
    (?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+)\s*""",
    re.VERBOSE,
)
_CONNECTIVE = re.compile(r"(AND|OR)\s+")

Matcher = Callable[[dict[str, Any]], bool]


def compile_search(query: str) -> Matcher:
    """Compile a Stripe search query over customers (``field:'v'``, ``metadata['k']:'v'``, ``~``, AND/OR)."""
    clauses: list[Matcher] = []
    connectives: set[str] = set()
    position = 0
    while True:
        match = _CLAUSE.match(query, position)
        if match is None:
            raise invalid(f"Invalid search query: could not parse '{query[position:] or query}'.", "query")
        clauses.append(_clause(match))
        position = match.end()
        if position >= len(query):
            break
        connective = _CONNECTIVE.match(query, position)
        if connective is None:
            raise invalid(f"Invalid search query: expected AND or OR at '{query[position:]}'.", "query")
        connectives.add(connective[1])
        position = connective.end()
    if len(connectives) > 1:
        raise invalid("Invalid search query: AND and OR cannot be combined in one query.", "query")
    if len(clauses) > 10:
        raise invalid("Invalid search query: a query can have at most 10 clauses.", "query")
    combine = any if connectives == {"OR"} else all
    return lambda customer: combine(clause(customer) for clause in clauses)


def _clause(match: re.Match[str]) -> Matcher:
    """One ``field op value`` clause."""
    field, op, raw = match["field"], match["op"], match["value"]
    name = "metadata" if match["key"] else field
    if name not in SEARCH_FIELDS:
        raise invalid(
            f"Field '{field}' is an unsupported search field for resource `customers`. See "
            "https://stripe.com/docs/search#query-fields-for-customers for a list of supported fields.",
            "query",
        )
    value = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw[0] in "'\"" else raw
    matcher = _created(op, value) if name == "created" else _text(name, match["key"], op, value)
    return (lambda c: not matcher(c)) if match["negate"] else matcher


def _text(name: str, key: str | None, op: str, value: str) -> Matcher:
    """Exact (``:``, ignoring case) or substring (``~``) match on a string field or metadata key."""
    if op not in (":", "~"):
        raise invalid(f"Invalid search query: '{op}' only applies to numeric fields.", "query")
    if op == "~" and len(value) < 3:
        raise invalid("Invalid search query: substring matches need at least 3 characters.", "query")
    wanted = value.casefold()

    def matches(customer: dict[str, Any]) -> bool:
        actual = customer["metadata"].get(key) if key else customer.get(name)
        if not isinstance(actual, str):
            return False
        return actual.casefold() == wanted if op == ":" else wanted in actual.casefold()

    return matches


def _created(op: str, value: str) -> Matcher:
    """Comparison of the ``created`` timestamp."""
    if not value.lstrip("-").isdigit():
        raise invalid("Invalid search query: created needs an integer timestamp.", "query")
    bound = int(value)
    tests: dict[str, Callable[[int], bool]] = {
        ":": lambda v: v == bound,
        ">": lambda v: v > bound,
        "<": lambda v: v < bound,
        ">=": lambda v: v >= bound,
        "<=": lambda v: v <= bound,
    }
    test = tests[op]
    return lambda customer: test(int(customer["created"]))


def _page_token(offset: int, query: str) -> str:
    raw = json.dumps({"o": offset, "q": hashlib.sha1(query.encode()).hexdigest()[:10]})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _page_offset(token: str | None, query: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["q"] == hashlib.sha1(query.encode()).hexdigest()[:10]:
            return int(data["o"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        pass
    raise invalid("Invalid page: it does not belong to this query.", "page")


def _limit(raw: str | None) -> int:
    if raw in (None, ""):
        return 10
    if not str(raw).isdigit() or not 1 <= int(str(raw)) <= 100:
        raise invalid("Invalid integer: limit must be between 1 and 100", "limit")
    return int(str(raw))


# -- routes ---------------------------------------------------------------------------------------------------


def _store(request: Request) -> BillingStore:
    store: BillingStore = request.app.state.sandbox.billing
    return store


StoreDep = Annotated[BillingStore, Depends(_store)]


def _secret_key(request: Request) -> str | None:
    """The API key, sent as a bearer token or as the Basic user name (``curl -u sk_test_...:``)."""
    header = request.headers.get("authorization")
    token = bearer_token(header)
    scheme, _, credentials = (header or "").partition(" ")
    if token is None and scheme.lower() == "basic":
        try:
            token = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[0] or None
        except (binascii.Error, UnicodeDecodeError):
            token = None
    return token


def _authenticated(request: Request) -> None:
    """A test-mode secret key (``sk_test_...``/``rk_test_...``), and ``sk_test_<token>`` when a token is configured."""
    key = _secret_key(request)
    if key is None:
        raise VendorError(401, ErrorKind.AUTHENTICATION)
    expected = configured_token(request)
    prefix = next((p for p in TEST_KEY_PREFIXES if key.startswith(p)), None)
    valid = prefix is not None and len(key) > len(prefix)
    if valid and expected is not None:
        valid = key in (expected, *(p + expected for p in TEST_KEY_PREFIXES))
    if not valid:
        masked = key[:8] + "*" * max(0, len(key) - 12) + key[-4:]
        raise VendorError(401, ErrorKind.AUTHENTICATION, f"Invalid API Key provided: {masked}")


router = APIRouter(prefix="/v1/customers", dependencies=[Depends(_authenticated)])


@router.post("")
async def create_customer(request: Request, store: StoreDep) -> JSONResponse:
    """``POST /v1/customers`` (form-encoded)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if raw.strip() and content_type != "application/x-www-form-urlencoded":
        raise invalid(
            f"Invalid request: unsupported Content-Type {content_type or '(none)'}. "
            "If error persists and you need assistance, please contact support@stripe.com."
        )
    key = idempotency_key(request)
    if key is not None and len(key) > MAX_KEY_LENGTH:
        raise invalid(f"Invalid Idempotency-Key: must be at most {MAX_KEY_LENGTH} characters.")
    body, replayed = store.create_customer(parse_form(raw), key)
    headers = {"Idempotency-Key": key} if key else {}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return JSONResponse(body, headers=headers)


@router.get("")
def list_customers(
    store: StoreDep, email: str | None = None, limit: str | None = None, starting_after: str | None = None
) -> dict[str, Any]:
    """``GET /v1/customers``: newest first; ``email`` is an exact, case-sensitive filter."""
    size = _limit(limit)
    found = [c for c in store.customers() if email is None or c["email"] == email]
    start = 0
    if starting_after:
        ids = [c["id"] for c in found]
        if starting_after not in ids:
            raise invalid(f"No such customer: '{starting_after}'", "starting_after", code="resource_missing")
        start = ids.index(starting_after) + 1
    page = found[start : start + size]
    return {"object": "list", "data": page, "has_more": start + size < len(found), "url": "/v1/customers"}


@router.get("/search")
def search_customers(
    store: StoreDep, query: str | None = None, limit: str | None = None, page: str | None = None
) -> dict[str, Any]:
    """``GET /v1/customers/search``."""
    if not query:
        raise invalid("Missing required param: query.", "query")
    size = _limit(limit)
    matches = compile_search(query)
    offset = _page_offset(page, query)
    found = [c for c in store.customers(searchable_only=True) if matches(c)]
    more = offset + size < len(found)
    return {
        "object": "search_result",
        "data": found[offset : offset + size],
        "has_more": more,
        "next_page": _page_token(offset + size, query) if more else None,
        "url": "/v1/customers/search",
    }


@router.get("/{customer_id}")
def read_customer(customer_id: str, store: StoreDep) -> dict[str, Any]:
    """``GET /v1/customers/{id}``."""
    customer = store.get(customer_id)
    if customer is None:
        raise invalid(f"No such customer: '{customer_id}'", "id", code="resource_missing", status=404)
    return customer


# -- admin ---------------------------------------------------------------------------------------------------


class BillingSettings(BaseModel):
    """Body of ``POST /_sandbox/billing/settings``."""

    search_delay_seconds: float = Field(ge=0)


admin_router = APIRouter()


@admin_router.post("/settings")
def settings(body: BillingSettings, store: StoreDep) -> dict[str, Any]:
    """Change how long new customers stay invisible to search."""
    store.search_delay_seconds = body.search_delay_seconds
    return body.model_dump()


SYSTEM = SandboxSystem(
    name=SYSTEM_NAME,
    prefix=PREFIX,
    router=router,
    render_error=render_error,
    admin_router=admin_router,
)
"""Stripe as the app and the fault layer see it."""
