"""The CRM, in the shape of HubSpot CRM v3 deals (search and read).

The intake DAG talks to this exactly as it would to HubSpot, so the sandbox
reproduces the parts of HubSpot's behaviour that an integration can get wrong:
string-typed property values, filter groups (AND within, OR across), date
filters given as epoch milliseconds, a 200-result page limit, opaque ``after``
cursors, the 10,000-result paging wall, bearer authentication and HubSpot's
error body.  Anything the sandbox cannot reproduce faithfully is refused with
a 400 rather than silently accepted.

``after`` cursors are opaque tokens (URL-encoded base64, like HubSpot's), each
bound to the search that handed it out: a client must pass them back exactly as
received, and a forged, altered or borrowed cursor is refused with a 400.

The admin API seeds deals as a sales rep would (``/_sandbox/crm/deals``,
string properties) and, for robustness tests, raw records served verbatim
(``/_sandbox/crm/raw-deals``: control characters, wrong types, absurd dates,
a record that is not even an object).
"""

from __future__ import annotations

import base64
import binascii
import copy
import fnmatch
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, cast
from urllib.parse import quote, unquote

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.common import Clock, SystemStore, configured_token
from sandbox.generator import iso_z
from sandbox.systems import ErrorKind, SandboxSystem, VendorError

SYSTEM_NAME = "crm"
PREFIX = "/crm/"

MAX_LIMIT = 200
"""HubSpot's maximum page size for search."""

MAX_RESULTS = 10_000
"""HubSpot refuses to page a search past this many results."""

MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
"""HubSpot's limits on the size of a search's filter tree."""

DATE_PROPERTIES = frozenset({"createdate", "hs_lastmodifieddate", "closedate", "committed_go_live_date"})
"""Compared as points in time; filter values may be epoch ms or ISO strings."""

NUMBER_PROPERTIES = frozenset({"amount", "hs_object_id"})
"""Compared as numbers ("9000" < "48000"), as HubSpot's number type is."""

ALWAYS_RETURNED = ("hs_object_id", "createdate", "hs_lastmodifieddate")
"""Properties HubSpot adds to every result whatever was requested."""

DEFAULT_PROPERTIES = ("dealname", "amount", "closedate", "pipeline", "dealstage", *ALWAYS_RETURNED)
"""What HubSpot returns for a deal when no properties are requested."""

TEXT_SEARCH_PROPERTIES = ("dealname",)
"""Properties the free-text ``query`` of a deal search looks at."""

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)

_CATEGORIES = {
    ErrorKind.VALIDATION: "VALIDATION_ERROR",
    ErrorKind.AUTHENTICATION: "INVALID_AUTHENTICATION",
    ErrorKind.NOT_FOUND: "OBJECT_NOT_FOUND",
    ErrorKind.RATE_LIMIT: "RATE_LIMITS",
    ErrorKind.INTERNAL: "INTERNAL_ERROR",
}
_DEFAULT_MESSAGES = {
    ErrorKind.VALIDATION: "Invalid input JSON.",
    ErrorKind.AUTHENTICATION: (
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
        "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
    ),
    ErrorKind.NOT_FOUND: "resource not found",
    ErrorKind.RATE_LIMIT: "You have reached your secondly limit.",
    ErrorKind.INTERNAL: "internal error",
}

Scalar = str | int | float | bool


def render_error(kind: ErrorKind, message: str | None) -> dict[str, Any]:
    """HubSpot's error body: status, message, correlationId, category."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message or _DEFAULT_MESSAGES[kind],
        "correlationId": str(uuid.uuid4()),
        "category": _CATEGORIES[kind],
    }
    if kind is ErrorKind.RATE_LIMIT:
        body["errorType"] = "RATE_LIMIT"
        body["policyName"] = "SECONDLY"
    return body


def _invalid(message: str) -> VendorError:
    """A 400 VALIDATION_ERROR, HubSpot's answer to any malformed search."""
    return VendorError(400, ErrorKind.VALIDATION, message)


# -- the CRM's data --------------------------------------------------------------

FIRST_DEAL_ID = 18_000_000_001
"""HubSpot deal ids are large integers; start in that range so ids look real."""

SYSTEM_MANAGED = frozenset({"hs_object_id", "hs_lastmodifieddate"})
"""Properties the CRM sets itself; values sent by a client are ignored."""


def ms_to_iso(ms: int) -> str:
    """Milliseconds since the epoch to HubSpot's ISO form (``...T14:03:00.000Z``)."""
    return iso_z(datetime.fromtimestamp(ms / 1000, tz=timezone.utc))


def parse_timestamp(value: str) -> datetime | None:
    """Parse what HubSpot accepts for a date or datetime; ``None`` if unparsable.

    Accepts milliseconds since the epoch (``"1790000000000"``), ISO datetimes
    (with ``Z`` or an offset; naive ones are UTC) and plain dates (midnight UTC).
    """
    text = value.strip()
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def to_property_value(value: object) -> str | None:
    """Coerce a client value to what HubSpot stores: a string, or ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_NOT_RAW: Any = object()


@dataclass
class Deal:
    """One CRM deal; ``properties`` holds HubSpot's string values.

    ``raw``, when set, is what reads and searches return for this deal instead
    of its JSON, exactly as seeded (see :meth:`CrmStore.seed_raw_deal`);
    ``properties`` then only decide which searches find it and in what order.
    """

    id: str
    properties: dict[str, str | None]
    archived: bool = False
    raw: Any = _NOT_RAW

    def to_json(self, only: Iterable[str] | None = None) -> Any:
        """The deal as HubSpot returns it, with all or only the named properties (or its raw record)."""
        if self.raw is not _NOT_RAW:
            return copy.deepcopy(self.raw)
        names = list(self.properties) if only is None else list(only)
        return {
            "id": self.id,
            "properties": {name: self.properties.get(name) for name in names},
            "createdAt": self.properties.get("createdate"),
            "updatedAt": self.properties.get("hs_lastmodifieddate"),
            "archived": self.archived,
        }


class CrmStore(SystemStore):
    """HubSpot: the deals, by id."""

    def __init__(self, lock: threading.RLock, clock: Clock) -> None:
        super().__init__(lock, clock)
        self._deals: dict[str, Deal] = {}
        self._next_id = FIRST_DEAL_ID
        self._last_modified_ms = 0

    def upsert_deal(self, properties: Mapping[str, object], deal_id: str | None = None) -> dict[str, Any]:
        """Create a deal, or merge ``properties`` into deal ``deal_id`` if it exists.

        Like HubSpot, the CRM stamps ``hs_lastmodifieddate`` itself, strictly
        increasing so incremental-sync tests never see two writes at the same
        millisecond.  ``createdate`` may be given (HubSpot allows back-dating
        on import); it defaults to now on create.  Raises ``ValueError`` for an
        unparsable ``createdate``.
        """
        values = {k: to_property_value(v) for k, v in properties.items() if k not in SYSTEM_MANAGED}
        if values.get("createdate") is not None:
            values["createdate"] = _normalized_time(values["createdate"] or "")
        with self.lock:
            deal = self._deals.get(deal_id) if deal_id else None
            if deal is None:
                deal = self._create(deal_id)
            deal.raw = _NOT_RAW  # an edit in the CRM's UI replaces a seeded raw record
            deal.properties.update(values)
            now = ms_to_iso(self._next_modified_ms())
            deal.properties["hs_lastmodifieddate"] = now
            if deal.properties.get("createdate") is None:
                deal.properties["createdate"] = now
            json: dict[str, Any] = deal.to_json()
            return json

    def seed_raw_deal(self, record: Any, deal_id: str | None = None, dealstage: str = "closedwon") -> dict[str, Any]:
        """Store a record that searches and reads return verbatim, whatever it holds.

        For tests of what a client does with records no well-behaved CRM sends
        (control characters, wrong types, absurd dates, not even an object), as
        a broken export or a proxy in between could.  The deal is found by
        searches as a deal in ``dealstage`` modified now; the record itself is
        never checked or changed.  Returns the deal's id and that modification
        time.
        """
        with self.lock:
            deal = self._deals.get(deal_id) if deal_id else None
            if deal is None:
                deal = self._create(deal_id)
            now = ms_to_iso(self._next_modified_ms())
            deal.properties.update({"dealstage": dealstage, "hs_lastmodifieddate": now})
            deal.properties.setdefault("createdate", now)
            deal.raw = copy.deepcopy(record)
            return {"id": deal.id, "hs_lastmodifieddate": now}

    def get_deal(self, deal_id: str) -> Deal | None:
        """A copy of one deal, or ``None``."""
        with self.lock:
            deal = self._deals.get(deal_id)
            return _copy(deal) if deal else None

    def deals(self) -> list[Deal]:
        """Copies of all deals, safe to filter and sort outside the lock."""
        with self.lock:
            return [_copy(deal) for deal in self._deals.values()]

    def _create(self, deal_id: str | None) -> Deal:
        """Register an empty deal under ``deal_id`` or the next free id."""
        if deal_id is None:
            while str(self._next_id) in self._deals:
                self._next_id += 1
            deal_id = str(self._next_id)
            self._next_id += 1
        deal = Deal(id=deal_id, properties={"hs_object_id": deal_id})
        self._deals[deal_id] = deal
        return deal

    def _next_modified_ms(self) -> int:
        """Now in ms, bumped past the previous stamp so stamps never repeat."""
        now = int(self.clock() * 1000)
        stamp = max(now, self._last_modified_ms + 1)
        self._last_modified_ms = stamp
        return stamp

    def ledger(self) -> dict[str, Any]:
        """What the CRM holds: deal counts by stage and the defects seeded."""
        stages: dict[str, int] = {}
        defects: dict[str, int] = {}
        with self.lock:
            for deal in self._deals.values():
                stage = deal.properties.get("dealstage") or "(none)"
                stages[stage] = stages.get(stage, 0) + 1
                defect = deal.properties.get("sandbox_defect")
                if defect:
                    defects[defect] = defects.get(defect, 0) + 1
            total = len(self._deals)
        return {"deals": total, "closedwon": stages.get("closedwon", 0), "stages": stages, "defects": defects}


def _normalized_time(value: str) -> str:
    """A client-supplied timestamp in HubSpot's ISO form; ``ValueError`` if unparsable."""
    parsed = parse_timestamp(value)
    if parsed is None:
        raise ValueError(f"createdate {value!r} is not a date")
    return iso_z(parsed)


def _copy(deal: Deal) -> Deal:
    """Detach a deal from the store so callers cannot mutate it unlocked."""
    return Deal(id=deal.id, properties=dict(deal.properties), archived=deal.archived, raw=deal.raw)


# -- request models -----------------------------------------------------------


class Filter(BaseModel):
    """One condition on one property."""

    propertyName: str
    operator: str
    value: Scalar | None = None
    values: list[Scalar] | None = None
    highValue: Scalar | None = None


class FilterGroup(BaseModel):
    """Filters that must all hold (groups are ORed together)."""

    filters: list[Filter] = Field(default_factory=list)


class Sort(BaseModel):
    """Sort order of a search."""

    propertyName: str
    direction: str = "ASCENDING"


class SearchRequest(BaseModel):
    """Body of ``POST /crm/v3/objects/deals/search``."""

    filterGroups: list[FilterGroup] = Field(default_factory=list)
    sorts: list[Sort | str] = Field(default_factory=list)
    properties: list[str] = Field(default_factory=list)
    limit: int = 10
    after: str | int | None = None
    query: str | None = None


# -- typed comparison ------------------------------------------------------------

Comparable = datetime | Decimal | str


def _typed(prop: str, raw: str | None) -> Comparable | None:
    """A stored value in the type its property compares by; ``None`` if unusable."""
    if raw is None or raw == "":
        return None
    if prop in DATE_PROPERTIES:
        return parse_timestamp(raw)
    if prop in NUMBER_PROPERTIES:
        return _decimal(raw)
    return raw.lower()


def _filter_value(prop: str, raw: Scalar | None) -> Comparable:
    """A filter operand in its property's type; a 400 if it cannot be read."""
    if raw is None:
        raise _invalid(f"Filter on {prop} is missing a value.")
    text = "true" if raw is True else "false" if raw is False else str(raw)
    typed = _typed(prop, text)
    if typed is None:
        raise _invalid(f"{text!r} is not a valid value for property {prop}.")
    return typed


def _decimal(raw: str) -> Decimal | None:
    """Parse a HubSpot number property; ``None`` when it is not a number."""
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


def _tokens(raw: str | None) -> list[str]:
    """Words of a value, as HubSpot's token operators see them (multi-select aware)."""
    return [t for t in re.split(r"[\s;,]+", (raw or "").lower()) if t]


# -- filtering -------------------------------------------------------------------

_ORDERED: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
}


def _compile(flt: Filter) -> Callable[[Deal], bool]:
    """Turn one filter into a predicate, validating its operands up front."""
    prop, op = flt.propertyName, flt.operator.upper()
    if op not in OPERATORS:
        raise _invalid(f"Unknown operator {flt.operator!r}. Supported: {', '.join(sorted(OPERATORS))}.")
    if op == "HAS_PROPERTY":
        return lambda deal: deal.properties.get(prop) not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return lambda deal: deal.properties.get(prop) in (None, "")
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        return _token_predicate(prop, flt.value, negate=op.startswith("NOT_"))
    if op in ("IN", "NOT_IN"):
        return _in_predicate(prop, flt.values, negate=op == "NOT_IN")
    if op == "BETWEEN":
        low, high = _filter_value(prop, flt.value), _filter_value(prop, flt.highValue)
        return lambda deal: _holds(deal, prop, lambda v: low <= v <= high)
    operand = _filter_value(prop, flt.value)
    if op == "NEQ":
        # A deal without the property is "not equal" too.
        return lambda deal: _typed(prop, deal.properties.get(prop)) != operand
    compare = _ORDERED[op]
    return lambda deal: _holds(deal, prop, lambda v: compare(v, operand))


def _holds(deal: Deal, prop: str, test: Callable[[Any], bool]) -> bool:
    """Apply ``test`` to a deal's typed value; a missing value never matches."""
    value = _typed(prop, deal.properties.get(prop))
    return value is not None and test(value)


def _in_predicate(prop: str, values: list[Scalar] | None, negate: bool) -> Callable[[Deal], bool]:
    """``IN`` / ``NOT_IN`` against the ``values`` list."""
    if not values:
        raise _invalid(f"Filter on {prop} with IN/NOT_IN needs a non-empty 'values' list.")
    wanted = [_filter_value(prop, v) for v in values]
    return lambda deal: (_typed(prop, deal.properties.get(prop)) in wanted) != negate


def _token_predicate(prop: str, value: Scalar | None, negate: bool) -> Callable[[Deal], bool]:
    """``CONTAINS_TOKEN`` (``*`` wildcards allowed) and its negation."""
    pattern = "" if value is None else str(value).lower()
    if not pattern:
        raise _invalid(f"Filter on {prop} with CONTAINS_TOKEN needs a value.")

    def predicate(deal: Deal) -> bool:
        found = any(fnmatch.fnmatchcase(t, pattern) for t in _tokens(deal.properties.get(prop)))
        return found != negate

    return predicate


def _matcher(request: SearchRequest) -> Callable[[Deal], bool]:
    """One predicate for the whole filter tree (AND within groups, OR across)."""
    groups = request.filterGroups
    if len(groups) > MAX_FILTER_GROUPS:
        raise _invalid(f"Too many filter groups: {len(groups)} (maximum {MAX_FILTER_GROUPS}).")
    if any(len(g.filters) > MAX_FILTERS_PER_GROUP for g in groups):
        raise _invalid(f"Too many filters in a group (maximum {MAX_FILTERS_PER_GROUP}).")
    if sum(len(g.filters) for g in groups) > MAX_FILTERS:
        raise _invalid(f"Too many filters in total (maximum {MAX_FILTERS}).")
    compiled = [[_compile(f) for f in g.filters] for g in groups if g.filters]
    words = (request.query or "").lower().split()

    def matches(deal: Deal) -> bool:
        if words and not _text_match(deal, words):
            return False
        return not compiled or any(all(p(deal) for p in group) for group in compiled)

    return matches


def _text_match(deal: Deal, words: list[str]) -> bool:
    """Free-text ``query``: every word appears in one of the searchable properties."""
    text = " ".join((deal.properties.get(p) or "") for p in TEXT_SEARCH_PROPERTIES).lower()
    return all(word in text for word in words)


# -- sorting and paging ------------------------------------------------------------


def _id_key(deal: Deal) -> tuple[int, int, str]:
    """Numeric ids in numeric order, any odd admin-made id after them."""
    return (0, int(deal.id), "") if deal.id.isdigit() else (1, 0, deal.id)


def _sort(deals: list[Deal], sorts: list[Sort | str]) -> list[Deal]:
    """Order by one property, ties (and missing values, kept last) by id ascending."""
    by_id = sorted(deals, key=_id_key)
    if not sorts:
        return by_id
    if len(sorts) > 1:
        raise _invalid("Only one sort is supported.")
    prop, descending = _sort_spec(sorts[0])
    keyed = [(deal, _typed(prop, deal.properties.get(prop))) for deal in by_id]
    present = [pair for pair in keyed if pair[1] is not None]
    present.sort(key=lambda pair: cast(Any, pair[1]), reverse=descending)  # stable: ties stay in id order
    missing = [deal for deal, value in keyed if value is None]
    return [deal for deal, _ in present] + missing


def _sort_spec(sort: Sort | str) -> tuple[str, bool]:
    """(property, descending) from ``{"propertyName", "direction"}`` or ``"-prop"``."""
    if isinstance(sort, str):
        return sort.lstrip("-"), sort.startswith("-")
    direction = sort.direction.upper()
    if direction not in ("ASCENDING", "DESCENDING"):
        raise _invalid(f"Unknown sort direction {sort.direction!r}.")
    return sort.propertyName, direction == "DESCENDING"


def _query_binding(request: SearchRequest) -> str:
    """What a cursor is bound to: the search's filters, sorts and free text (not its page size)."""
    query = request.model_dump(include={"filterGroups", "sorts", "query"}, mode="json")
    return hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:12]


def after_cursor(offset: int, request: SearchRequest) -> str:
    """The opaque ``after`` token that continues ``request`` at result ``offset``.

    Like HubSpot's (whose documented example is ``NTI1Cg%3D%3D``), it is URL-encoded
    base64; inside are the offset and a digest of the query it belongs to, so a
    cursor only continues the search that handed it out.
    """
    token = base64.b64encode(f"{offset}:{_query_binding(request)}\n".encode()).decode()
    return quote(token, safe="")


def _offset(request: SearchRequest) -> int:
    """Decode the ``after`` cursor to an offset and enforce HubSpot's paging wall."""
    after = request.after
    if after in (None, ""):
        return 0
    text = str(after)
    offset = _decode_cursor(text)
    if offset is None or after_cursor(offset, request) != text:
        raise _invalid(
            f"Invalid 'after' value {text!r}: pass paging.next.after from the previous page of the same search,"
            " exactly as it was returned."
        )
    if offset >= MAX_RESULTS:
        raise _invalid(
            f"Paging past {MAX_RESULTS:,} results is not supported (this page would start at result {offset + 1:,}). "
            "Narrow the search, for example with a hs_lastmodifieddate filter, and start again."
        )
    return offset


def _decode_cursor(text: str) -> int | None:
    """The offset inside a cursor, or ``None`` when it is not one this CRM handed out."""
    try:
        inside = base64.b64decode(unquote(text), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    match = re.fullmatch(r"(\d{1,9}):[0-9a-f]{12}\n", inside)
    return int(match.group(1)) if match else None


def _returned_properties(requested: Iterable[str]) -> list[str]:
    """Requested properties (deduplicated, in order) plus those always returned."""
    names = [p for p in dict.fromkeys(requested) if p]
    if not names:
        return list(DEFAULT_PROPERTIES)
    return names + [p for p in ALWAYS_RETURNED if p not in names]


def search_deals(store: CrmStore, request: SearchRequest) -> dict[str, Any]:
    """Run a deals search with HubSpot's filtering, sorting and paging rules."""
    if not 1 <= request.limit <= MAX_LIMIT:
        raise _invalid(f"limit must be between 1 and {MAX_LIMIT}, got {request.limit}.")
    offset = _offset(request)
    matches = _matcher(request)
    found = _sort([deal for deal in store.deals() if not deal.archived and matches(deal)], request.sorts)
    page = found[offset : offset + request.limit]
    wanted = _returned_properties(request.properties)
    body: dict[str, Any] = {"total": len(found), "results": [deal.to_json(wanted) for deal in page]}
    following = offset + request.limit
    if following < len(found):
        # Handed out even at the paging wall: following it is what gets refused, so a client that
        # ignores the wall fails loudly instead of stopping short.
        cursor = after_cursor(following, request)
        body["paging"] = {"next": {"after": cursor, "link": f"?after={cursor}"}}
    return body


# -- routes ----------------------------------------------------------------------


def _store(request: Request) -> CrmStore:
    """The CRM's data in the app's shared state (set by ``create_app``)."""
    store: CrmStore = request.app.state.sandbox.crm
    return store


StoreDep = Annotated[CrmStore, Depends(_store)]


def _authenticated(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Require ``Authorization: Bearer <token>`` (the configured one, if any)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise VendorError(401, ErrorKind.AUTHENTICATION)
    expected = configured_token(request)
    if expected is not None and token.strip() != expected:
        raise VendorError(
            401,
            ErrorKind.AUTHENTICATION,
            "The access token provided is not valid. Check the private app token and try again.",
        )


class VerbatimJSON(JSONResponse):
    """JSON with non-ASCII escaped, so raw records reach the client exactly as seeded.

    Escaping keeps a lone surrogate (``"\\ud800"``, legal JSON text, not encodable
    as UTF-8) transmittable, and ``NaN`` is written as Python's JSON reader
    accepts it; well-formed deals read the same either way.
    """

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=True, separators=(",", ":")).encode("ascii")


router = APIRouter(prefix="/crm/v3/objects/deals", dependencies=[Depends(_authenticated)])


@router.post("/search")
def search(body: SearchRequest, store: StoreDep) -> VerbatimJSON:
    """``POST /crm/v3/objects/deals/search``."""
    return VerbatimJSON(search_deals(store, body))


@router.get("/{deal_id}")
def read_deal(
    deal_id: str,
    store: StoreDep,
    properties: Annotated[list[str] | None, Query()] = None,
    id_property: Annotated[str | None, Query(alias="idProperty")] = None,
) -> VerbatimJSON:
    """``GET /crm/v3/objects/deals/{dealId}``; ``idProperty`` looks up by another unique property."""
    deal = _find(store, deal_id, id_property)
    if deal is None or deal.archived:
        raise VendorError(404, ErrorKind.NOT_FOUND)
    names = [p.strip() for value in properties or [] for p in value.split(",")]
    return VerbatimJSON(deal.to_json(_returned_properties(names)))


def _find(store: CrmStore, key: str, id_property: str | None) -> Deal | None:
    """A deal by id, or by the value of ``id_property``."""
    if id_property in (None, "", "hs_object_id"):
        return store.get_deal(key)
    return next((d for d in store.deals() if d.properties.get(id_property or "") == key), None)


class DealUpsert(BaseModel):
    """Body of ``POST /_sandbox/crm/deals``: create, or merge into deal ``id``."""

    properties: dict[str, Scalar | None] = Field(default_factory=dict)
    id: str | None = None


admin_router = APIRouter()


@admin_router.post("/deals")
def upsert_deal(body: DealUpsert, store: StoreDep) -> dict[str, Any]:
    """Create or update a deal as a sales rep would in the CRM's UI."""
    try:
        return store.upsert_deal(body.properties, deal_id=body.id)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc


class RawDeal(BaseModel):
    """Body of ``POST /_sandbox/crm/raw-deals``: a record served verbatim (see ``CrmStore.seed_raw_deal``)."""

    record: Any
    id: str | None = None
    dealstage: str = "closedwon"


@admin_router.post("/raw-deals")
def seed_raw_deal(body: RawDeal, store: StoreDep) -> dict[str, Any]:
    """Serve ``record`` as a deal exactly as given: the hostile or garbled records no HubSpot UI would produce."""
    return store.seed_raw_deal(body.record, deal_id=body.id, dealstage=body.dealstage)


SYSTEM = SandboxSystem(
    name=SYSTEM_NAME,
    prefix=PREFIX,
    router=router,
    render_error=render_error,
    admin_router=admin_router,
)
"""The CRM as the app and the fault layer see it."""
