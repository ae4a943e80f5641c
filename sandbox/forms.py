"""The customer portal: one structured checklist per customer, and customer messages.

The onboarding team sends a checklist request (items typed ``email``,
``vat_id``, ``document``...); the customer answers item by item in the portal,
possibly several times; the team lists submissions with a cursor (the id of
the last submission seen), asks again for an item (a re-request the customer
sees) and sends messages.  Creates accept an ``Idempotency-Key`` with Stripe's
semantics.  The portal stores what the customer typed without judging it:
validation is the caller's job.

The customer is simulated.  Each request gets a behaviour when it is created
(per ``external_ref`` if one was set, else the default):

- ``prompt``: valid answers to every item right after the request is created;
- ``slow``: the same, ``slow_seconds`` later on the sandbox clock;
- ``silent``: never answers;
- ``invalid_then_correct``: first a wrong answer to each item a validator can
  fault (email, domain, url, vat_id, tax_id, saml_metadata, document), valid
  ones for the rest, then a valid answer to each item re-requested;
- ``partial``: answers only the non-critical items, even when re-requested.

Answers to a re-request come at once (``slow``: after ``slow_seconds``).
Simulated answers materialise lazily, when anything reads the request, with
the time they were due as ``submitted_at``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.common import (
    LOWER_ALNUM,
    Clock,
    SystemStore,
    bearer_ok,
    flat_error,
    idempotency_key,
    is_email,
    iso,
    json_body,
    page_limit,
    random_id,
)
from sandbox.faults import ErrorKind, SandboxSystem, VendorError
from sandbox.form_values import ITEM_TYPES, VALIDATED_TYPES, Account, answer
from sandbox.idempotency import REPLAYED_HEADER, IdempotencyKeys, flat_vendor_error, replay_or_conflict

if TYPE_CHECKING:
    from sandbox.state import SandboxState

SYSTEM_NAME = "forms"
PREFIXES = ("/api/v1/requests", "/api/v1/messages")

BEHAVIOURS = ("prompt", "slow", "silent", "invalid_then_correct", "partial")
DEFAULT_BEHAVIOUR = "prompt"
DEFAULT_SLOW_SECONDS = 5.0
DEFAULT_DOCUMENT = {"content_types": ["application/pdf"], "max_mb": 20}
PORTAL_URL = "https://portal.example.com/r/"
MAX_ITEMS = 100
REQUEST_FIELDS = frozenset({"external_ref", "recipient", "account_name", "due_date", "items"})
ITEM_FIELDS = frozenset({"key", "label", "type", "critical", "help", "choices", "document"})
MESSAGE_FIELDS = frozenset({"external_ref", "to", "subject", "body"})

_ERRORS = {
    ErrorKind.VALIDATION: ("validation_error", "The request is invalid."),
    ErrorKind.AUTHENTICATION: ("unauthorized", "Missing or invalid bearer token."),
    ErrorKind.NOT_FOUND: ("not_found", "Not found."),
    ErrorKind.RATE_LIMIT: ("rate_limited", "Too many requests; retry after the number of seconds in Retry-After."),
    ErrorKind.INTERNAL: ("internal_error", "Something went wrong on our side."),
}


def render_error(kind: ErrorKind, message: str | None) -> dict[str, Any]:
    """The portal's error body: ``{"error": code, "message": ...}``."""
    code, default = _ERRORS[kind]
    return flat_error(code, message or default)


_error = flat_vendor_error


def _invalid(message: str) -> VendorError:
    return _error(400, "validation_error", message)


# -- model -------------------------------------------------------------------------------------------


@dataclass
class Submission:
    """One answer the customer submitted for one item."""

    id: str
    request_id: str
    item_key: str
    submitted_at: float
    submitted_by: str
    value: str | None
    document: dict[str, Any] | None
    seq: int
    """Position among the request's events (submissions and re-requests)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "item_key": self.item_key,
            "submitted_at": iso(self.submitted_at),
            "submitted_by": self.submitted_by,
            "value": self.value,
            "document": self.document,
        }


@dataclass
class _Planned:
    """An answer the simulated customer will give once the clock reaches ``due_at``."""

    due_at: float
    item_key: str
    valid: bool


@dataclass
class ChecklistRequest:
    """One checklist sent to one customer, with everything that happened to it."""

    id: str
    external_ref: str
    recipient: dict[str, str]
    account_name: str
    due_date: str | None
    items: list[dict[str, Any]]
    created_at: float
    behaviour: str
    submissions: list[Submission] = field(default_factory=list)
    planned: list[_Planned] = field(default_factory=list)
    rerequests: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0

    def next_event(self) -> int:
        """Number the next submission or re-request, so their order is never ambiguous."""
        self.events += 1
        return self.events

    def item(self, key: str) -> dict[str, Any] | None:
        return next((item for item in self.items if item["key"] == key), None)

    def account(self) -> Account:
        email = self.recipient["email"]
        return Account(self.account_name, email.rsplit("@", 1)[1].lower(), email, self.due_date)

    def item_status(self, key: str) -> str:
        """``pending`` (no answer), ``submitted``, or ``rerequested`` (asked again since the last answer)."""
        answered = [s.seq for s in self.submissions if s.item_key == key]
        asked_again = [r["_seq"] for r in self.rerequests if r["item_key"] == key]
        if asked_again and (not answered or asked_again[-1] > answered[-1]):
            return "rerequested"
        return "submitted" if answered else "pending"

    def to_json(self) -> dict[str, Any]:
        statuses = {item["key"]: self.item_status(item["key"]) for item in self.items}
        return {
            "id": self.id,
            "object": "checklist_request",
            "external_ref": self.external_ref,
            "status": "completed" if all(s == "submitted" for s in statuses.values()) else "open",
            "url": PORTAL_URL + hashlib.sha256(self.id.encode()).hexdigest()[:24],
            "recipient": self.recipient,
            "account_name": self.account_name,
            "due_date": self.due_date,
            "items": [{**item, "status": statuses[item["key"]]} for item in self.items],
            "created_at": iso(self.created_at),
        }


class FormsStore(SystemStore):
    """Checklist requests, submissions, re-requests and messages of the portal."""

    def __init__(self, lock: threading.RLock, clock: Clock) -> None:
        super().__init__(lock, clock)
        self.default_behaviour = DEFAULT_BEHAVIOUR
        self.slow_seconds = DEFAULT_SLOW_SECONDS
        self.idempotency = IdempotencyKeys(self.clock)
        self._behaviour_by_ref: dict[str, str] = {}
        self._requests: dict[str, ChecklistRequest] = {}
        self._messages: list[dict[str, Any]] = []
        self._keys: dict[str, str | None] = {}

    # -- simulated customer -----------------------------------------------------------

    def set_behaviour(self, behaviour: str, external_ref: str | None = None) -> dict[str, Any]:
        """Choose how customers answer requests created from now on (all, or one ``external_ref``)."""
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; known: {', '.join(BEHAVIOURS)}")
        with self.lock:
            if external_ref is None:
                self.default_behaviour = behaviour
            else:
                self._behaviour_by_ref[external_ref] = behaviour
            return self.behaviours()

    def behaviours(self) -> dict[str, Any]:
        """The default behaviour and the per-``external_ref`` ones."""
        with self.lock:
            return {"default": self.default_behaviour, "by_external_ref": dict(self._behaviour_by_ref)}

    def _plan_first_answers(self, request: ChecklistRequest) -> None:
        behaviour, now = request.behaviour, request.created_at
        for item in request.items:
            if behaviour == "silent" or (behaviour == "partial" and item["critical"]):
                continue
            valid = behaviour != "invalid_then_correct" or item["type"] not in VALIDATED_TYPES
            delay = self.slow_seconds if behaviour == "slow" else 0.0
            request.planned.append(_Planned(now + delay, item["key"], valid))

    def _plan_reanswer(self, request: ChecklistRequest, item: dict[str, Any], now: float) -> None:
        behaviour = request.behaviour
        if behaviour == "silent" or (behaviour == "partial" and item["critical"]):
            return
        if any(p.item_key == item["key"] for p in request.planned):
            return  # an answer is already on its way
        delay = self.slow_seconds if behaviour == "slow" else 0.0
        request.planned.append(_Planned(now + delay, item["key"], True))

    def _advance(self, request: ChecklistRequest) -> None:
        """Turn planned answers that are due into submissions, in the order they were due."""
        now = self.clock()
        due = sorted((p for p in request.planned if p.due_at <= now), key=lambda p: p.due_at)
        if not due:
            return
        request.planned = [p for p in request.planned if p.due_at > now]
        for plan in due:
            item = request.item(plan.item_key)
            assert item is not None
            attempt = sum(1 for s in request.submissions if s.item_key == plan.item_key)
            seed = f"{request.external_ref}:{plan.item_key}:{attempt}"
            reply = answer(item, request.account(), plan.valid, seed)
            self._append(request, plan.item_key, plan.due_at, request.recipient["email"], reply.value, reply.document)

    def _append(
        self,
        request: ChecklistRequest,
        item_key: str,
        at: float,
        by: str,
        value: str | None,
        document: dict[str, Any] | None,
    ) -> Submission:
        sub_id = random_id("sub_", 16, LOWER_ALNUM)
        submission = Submission(sub_id, request.id, item_key, at, by, value, document, request.next_event())
        request.submissions.append(submission)
        return submission

    # -- requests -----------------------------------------------------------------------

    def create_request(self, body: object, key: str | None) -> tuple[dict[str, Any], bool]:
        """(request, replayed): send a checklist, or replay the answer given for ``key``."""
        with self.lock:
            stored = replay_or_conflict(self.idempotency, key, "POST /api/v1/requests", body)
            if stored is not None:
                return stored, True
            values = _request_values(body)
            behaviour = self._behaviour_by_ref.get(values["external_ref"], self.default_behaviour)
            request = ChecklistRequest(
                id=random_id("req_", 16, LOWER_ALNUM), created_at=self.clock(), behaviour=behaviour, **values
            )
            self._requests[request.id] = request
            self._keys[request.id] = key
            self._plan_first_answers(request)
            answer_body = request.to_json()
            self.idempotency.remember(key, "POST /api/v1/requests", body, 201, answer_body)
            return answer_body, False

    def _get(self, request_id: str) -> ChecklistRequest:
        request = self._requests.get(request_id)
        if request is None:
            raise _error(404, "not_found", f"No request {request_id}.")
        self._advance(request)
        return request

    def request(self, request_id: str) -> dict[str, Any]:
        """A request with its items' current status (404 ``VendorError`` if unknown)."""
        with self.lock:
            return self._get(request_id).to_json()

    def requests(self, external_ref: str | None = None) -> list[dict[str, Any]]:
        """Requests, optionally of one ``external_ref``, oldest first."""
        with self.lock:
            found = [r for r in self._requests.values() if external_ref in (None, r.external_ref)]
            for request in found:
                self._advance(request)
            return [r.to_json() for r in found]

    def submissions(
        self, request_id: str, item_key: str | None = None, after: str | None = None, limit: int = 50
    ) -> dict[str, Any]:
        """One page of submissions in submission order; ``next_cursor`` is ``None`` on the last page."""
        with self.lock:
            request = self._get(request_id)
            if item_key is not None and request.item(item_key) is None:
                raise _invalid(f"item_key: request {request_id} has no item {item_key!r}.")
            start = 0
            if after:
                ids = [s.id for s in request.submissions]
                if after not in ids:
                    raise _invalid(f"after: {after!r} is not a submission of request {request_id}.")
                start = ids.index(after) + 1
            rest = [s for s in request.submissions[start:] if item_key in (None, s.item_key)]
            page = rest[:limit]
            more = len(rest) > limit
            return {"data": [s.to_json() for s in page], "next_cursor": page[-1].id if more else None}

    def rerequest(self, request_id: str, item_key: str, reason: object) -> dict[str, Any]:
        """Ask the customer again for one item, with a reason they will read."""
        if not isinstance(reason, str) or not reason.strip():
            raise _invalid("reason: required, a non-empty string the customer will read.")
        with self.lock:
            request = self._get(request_id)
            item = request.item(item_key)
            if item is None:
                raise _error(404, "not_found", f"Request {request_id} has no item {item_key!r}.")
            now = self.clock()
            record = {
                "id": random_id("rrq_", 16, LOWER_ALNUM),
                "request_id": request.id,
                "item_key": item_key,
                "reason": reason,
                "requested_at": iso(now),
                "_seq": request.next_event(),
            }
            request.rerequests.append(record)
            self._plan_reanswer(request, item, now)
            return _public(record)

    def submit(
        self,
        request_id: str,
        item_key: str,
        value: str | None = None,
        document: dict[str, Any] | None = None,
        submitted_by: str | None = None,
    ) -> dict[str, Any]:
        """Submit exactly this answer as the customer would (for tests); ``KeyError``/``ValueError`` if wrong."""
        if (value is None) == (document is None):
            raise ValueError("give exactly one of value and document")
        if document is not None:
            document = _document_upload(document)
        with self.lock:
            request = self._requests.get(request_id)
            if request is None:
                raise KeyError(f"no request {request_id}")
            if request.item(item_key) is None:
                raise KeyError(f"request {request_id} has no item {item_key!r}")
            self._advance(request)
            by = submitted_by or request.recipient["email"]
            return self._append(request, item_key, self.clock(), by, value, document).to_json()

    # -- messages ------------------------------------------------------------------------

    def send_message(self, body: object, key: str | None) -> tuple[dict[str, Any], bool]:
        """(message, replayed): send the customer a message, or replay the answer for ``key``."""
        with self.lock:
            stored = replay_or_conflict(self.idempotency, key, "POST /api/v1/messages", body)
            if stored is not None:
                return stored, True
            values = _message_values(body)
            message = {
                "id": random_id("msg_", 16, LOWER_ALNUM),
                "object": "message",
                **values,
                "status": "sent",
                "created_at": iso(self.clock()),
            }
            self._messages.append({**message, "_key": key})
            self.idempotency.remember(key, "POST /api/v1/messages", body, 201, message)
            return message, False

    def messages(self, external_ref: str | None = None) -> list[dict[str, Any]]:
        """Messages sent, optionally to one ``external_ref``, oldest first."""
        with self.lock:
            return [_public(m) for m in self._messages if external_ref in (None, m["external_ref"])]

    def ledger(self) -> dict[str, Any]:
        """Requests, submissions, re-requests and messages (due simulated answers included)."""
        with self.lock:
            requests = list(self._requests.values())
            for request in requests:
                self._advance(request)
            return {
                "requests": [
                    {
                        "id": r.id,
                        "external_ref": r.external_ref,
                        "items": [item["key"] for item in r.items],
                        "behaviour": r.behaviour,
                        "status": r.to_json()["status"],
                        "idempotency_key": self._keys.get(r.id),
                    }
                    for r in requests
                ],
                "submissions": [
                    {**s.to_json(), "external_ref": r.external_ref} for r in requests for s in r.submissions
                ],
                "rerequests": [{**_public(x), "external_ref": r.external_ref} for r in requests for x in r.rerequests],
                "messages": [
                    {
                        "id": m["id"],
                        "external_ref": m["external_ref"],
                        "to": m["to"],
                        "subject": m["subject"],
                        "idempotency_key": m["_key"],
                    }
                    for m in self._messages
                ],
            }


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record without its internal (underscored) fields."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


# -- validation -----------------------------------------------------------------------------------------


def _request_values(body: object) -> dict[str, Any]:
    """Fields of a new checklist request, or a 400 naming the first problem."""
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    _no_unknown(body, REQUEST_FIELDS, "")
    if not isinstance(body.get("external_ref"), str) or not body["external_ref"].strip():
        raise _invalid("external_ref: required, a non-empty string.")
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not is_email(recipient.get("email")):
        raise _invalid("recipient.email: required, a valid e-mail address.")
    if not isinstance(body.get("account_name"), str) or not body["account_name"].strip():
        raise _invalid("account_name: required, a non-empty string.")
    due_date = body.get("due_date")
    if due_date is not None:
        try:
            due_date = date.fromisoformat(str(due_date)).isoformat()
        except ValueError as exc:
            raise _invalid(f"due_date: {due_date!r} is not a YYYY-MM-DD date.") from exc
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise _invalid(f"items: required, a list of 1 to {MAX_ITEMS} items.")
    clean = [_item(item, f"items[{i}]") for i, item in enumerate(items)]
    keys = [item["key"] for item in clean]
    if len(set(keys)) != len(keys):
        raise _invalid("items: item keys must be unique.")
    return {
        "external_ref": body["external_ref"],
        "recipient": {"email": recipient["email"], "name": str(recipient.get("name") or "")},
        "account_name": body["account_name"],
        "due_date": due_date,
        "items": clean,
    }


def _item(raw: object, where: str) -> dict[str, Any]:
    """One checklist item with its defaults filled in."""
    if not isinstance(raw, dict):
        raise _invalid(f"{where}: must be an object.")
    _no_unknown(raw, ITEM_FIELDS, f"{where}.")
    key = raw.get("key")
    if not isinstance(key, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", key):
        raise _invalid(f"{where}.key: required, lower-case letters, digits and underscores.")
    if not isinstance(raw.get("label"), str) or not raw["label"].strip():
        raise _invalid(f"{where}.label: required, a non-empty string.")
    kind = raw.get("type")
    if kind not in ITEM_TYPES:
        raise _invalid(f"{where}.type: must be one of {', '.join(ITEM_TYPES)}.")
    if not isinstance(raw.get("critical", False), bool):
        raise _invalid(f"{where}.critical: must be a boolean.")
    choices = raw.get("choices")
    if kind == "choice" and (
        not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices)
    ):
        raise _invalid(f"{where}.choices: a choice item needs a non-empty list of strings.")
    document = raw.get("document")
    if kind == "document":
        document = _document_rules(document if document is not None else DEFAULT_DOCUMENT, f"{where}.document")
    return {
        "key": key,
        "label": raw["label"],
        "type": kind,
        "critical": raw.get("critical", False),
        "help": raw.get("help"),
        "choices": choices if kind == "choice" else None,
        "document": document if kind == "document" else None,
    }


def _document_rules(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _invalid(f"{where}: must be an object.")
    types = raw.get("content_types")
    if not isinstance(types, list) or not types or not all(isinstance(t, str) and "/" in t for t in types):
        raise _invalid(f"{where}.content_types: a non-empty list of MIME types.")
    max_mb = raw.get("max_mb", 20)
    if isinstance(max_mb, bool) or not isinstance(max_mb, (int, float)) or not 0 < max_mb <= 1024:
        raise _invalid(f"{where}.max_mb: a number of megabytes between 0 and 1024.")
    return {"content_types": types, "max_mb": max_mb}


def _document_upload(raw: dict[str, Any]) -> dict[str, Any]:
    """Upload metadata given by a test; ``sha256`` is derived when not given."""
    filename, content_type, size = raw.get("filename"), raw.get("content_type"), raw.get("size_bytes")
    if not isinstance(filename, str) or not isinstance(content_type, str) or not isinstance(size, int):
        raise ValueError("document needs filename, content_type and size_bytes (an integer)")
    digest = raw.get("sha256") or hashlib.sha256(f"{filename}:{size}".encode()).hexdigest()
    return {"filename": filename, "content_type": content_type, "size_bytes": size, "sha256": digest}


def _message_values(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    _no_unknown(body, MESSAGE_FIELDS, "")
    if not is_email(body.get("to")):
        raise _invalid("to: required, a valid e-mail address.")
    for name, limit in (("subject", 255), ("body", 50_000)):
        if not isinstance(body.get(name), str) or not body[name].strip() or len(body[name]) > limit:
            raise _invalid(f"{name}: required, a non-empty string of at most {limit} characters.")
    external_ref = body.get("external_ref")
    if external_ref is not None and not isinstance(external_ref, str):
        raise _invalid("external_ref: must be a string.")
    return {"external_ref": external_ref, "to": body["to"], "subject": body["subject"], "body": body["body"]}


def _no_unknown(body: dict[str, Any], known: frozenset[str], where: str) -> None:
    for name in body:
        if name not in known:
            raise _invalid(f"{where}{name}: unknown field.")


# -- routes ----------------------------------------------------------------------------------------------------


def _store(request: Request) -> FormsStore:
    store: FormsStore = request.app.state.sandbox.forms
    return store


StoreDep = Annotated[FormsStore, Depends(_store)]


def _authenticated(request: Request) -> None:
    if not bearer_ok(request):
        raise VendorError(401, ErrorKind.AUTHENTICATION)


async def _json(request: Request) -> Any:
    try:
        return await json_body(request)
    except ValueError as exc:
        raise _invalid(f"The request body is not valid JSON: {exc}") from exc


def _created(body: dict[str, Any], key: str | None, replayed: bool) -> JSONResponse:
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    if key:
        headers["Idempotency-Key"] = key
    return JSONResponse(body, 201, headers)


router = APIRouter(dependencies=[Depends(_authenticated)])


@router.post("/api/v1/requests")
async def create_request(request: Request, store: StoreDep) -> JSONResponse:
    """``POST /api/v1/requests``."""
    key = idempotency_key(request)
    body, replayed = store.create_request(await _json(request), key)
    return _created(body, key, replayed)


@router.get("/api/v1/requests")
def list_requests(store: StoreDep, external_ref: str | None = None) -> dict[str, Any]:
    """``GET /api/v1/requests?external_ref=...``."""
    return {"data": store.requests(external_ref), "next_cursor": None}


@router.get("/api/v1/requests/{request_id}")
def read_request(request_id: str, store: StoreDep) -> dict[str, Any]:
    """``GET /api/v1/requests/{id}``."""
    return store.request(request_id)


@router.get("/api/v1/requests/{request_id}/submissions")
def list_submissions(
    request_id: str,
    store: StoreDep,
    item_key: str | None = None,
    after: str | None = None,
    limit: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """``GET /api/v1/requests/{id}/submissions?item_key=&after=&limit=``."""
    size = page_limit(limit, 50, 100)
    if size is None:
        raise _invalid("limit: must be an integer between 1 and 100.")
    return store.submissions(request_id, item_key=item_key, after=after, limit=size)


@router.post("/api/v1/requests/{request_id}/items/{item_key}/rerequest")
async def rerequest(request_id: str, item_key: str, request: Request, store: StoreDep) -> dict[str, Any]:
    """``POST /api/v1/requests/{id}/items/{key}/rerequest`` with ``{"reason": ...}``."""
    body = await _json(request)
    return store.rerequest(request_id, item_key, body.get("reason") if isinstance(body, dict) else None)


@router.post("/api/v1/messages")
async def send_message(request: Request, store: StoreDep) -> JSONResponse:
    """``POST /api/v1/messages``."""
    key = idempotency_key(request)
    body, replayed = store.send_message(await _json(request), key)
    return _created(body, key, replayed)


@router.get("/api/v1/messages")
def list_messages(store: StoreDep, external_ref: str | None = None) -> dict[str, Any]:
    """``GET /api/v1/messages?external_ref=...``."""
    return {"data": store.messages(external_ref), "next_cursor": None}


# -- admin ---------------------------------------------------------------------------------------------------------


class BehaviourBody(BaseModel):
    """Body of ``POST /_sandbox/forms/behaviour``: ``{"default": b}`` or ``{"external_ref": r, "behaviour": b}``."""

    default: str | None = None
    external_ref: str | None = None
    behaviour: str | None = None


class SubmitBody(BaseModel):
    """Body of ``POST /_sandbox/forms/requests/{id}/submit``."""

    item_key: str
    value: str | None = None
    document: dict[str, Any] | None = None
    submitted_by: str | None = None


class FormsSettings(BaseModel):
    """Body of ``POST /_sandbox/forms/settings``."""

    slow_seconds: float = Field(ge=0)


admin_router = APIRouter()


@admin_router.post("/behaviour")
def set_behaviour(body: BehaviourBody, store: StoreDep) -> dict[str, Any]:
    """Choose the simulated customers' behaviour for requests created from now on."""
    try:
        if body.default is not None:
            store.set_behaviour(body.default)
        if body.external_ref is not None:
            store.set_behaviour(body.behaviour or "", external_ref=body.external_ref)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return store.behaviours()


@admin_router.post("/requests/{request_id}/submit")
def submit(request_id: str, body: SubmitBody, store: StoreDep) -> dict[str, Any]:
    """Submit exactly this answer, as the customer."""
    try:
        return store.submit(request_id, body.item_key, body.value, body.document, body.submitted_by)
    except KeyError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc


@admin_router.post("/settings")
def settings(body: FormsSettings, store: StoreDep) -> dict[str, Any]:
    """Change how long ``slow`` customers take."""
    store.slow_seconds = body.slow_seconds
    return body.model_dump()


def ledger(state: SandboxState) -> dict[str, Any]:
    """The portal's line of ``GET /_sandbox/ledger``."""
    return state.forms.ledger()


SYSTEM = SandboxSystem(
    name=SYSTEM_NAME,
    prefix=PREFIXES,
    router=router,
    render_error=render_error,
    ledger=ledger,
    admin_router=admin_router,
)
"""The customer portal as the app and the fault layer see it."""
