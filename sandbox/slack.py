"""Chat notifications, in the shape of Slack incoming webhooks.

``POST /services/T.../B.../X...`` with a JSON body (or the legacy form field
``payload=<json>``) answers ``200 ok`` in plain text.  Failures are plain-text
codes, as Slack sends them: ``400 invalid_payload`` (not JSON, not an object),
``400 missing_text_or_fallback_or_attachments`` (no ``text``, ``blocks`` or
``attachments``), ``400 invalid_blocks``, ``404 no_service`` (a webhook that was
revoked; every webhook path works until a test disables it), ``429
rate_limited`` and ``500 rollup_error`` (through the fault layer).  The URL is
the credential: there is no other authentication.

Blocks are held to Slack's published Block Kit limits, and a message that
breaks one is refused whole with ``400 invalid_blocks``: at most 50 blocks; a
header's plain text at most 150 characters; a section's ``text`` at most 3000,
its ``fields`` at most 10 of at most 2000 each; a context at most 10 elements;
a button's text at most 75 and its URL at most 3000; any other text object at
most 3000.  Text is never empty.  The top-level ``text`` may be longer: Slack
keeps its first 40,000 characters, and so does the sandbox.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from sandbox.common import Clock, SystemStore, iso
from sandbox.systems import ErrorKind, SandboxSystem, VendorError

SYSTEM_NAME = "slack"
PREFIX = "/services/"
MAX_BLOCKS = 50
HEADER_CHARS = 150
TEXT_CHARS = 3000
FIELD_CHARS = 2000
MAX_FIELDS = 10
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS = 25
BUTTON_CHARS = 75
URL_CHARS = 3000
MESSAGE_CHARS = 40_000

_CODES = {
    ErrorKind.VALIDATION: "invalid_payload",
    ErrorKind.AUTHENTICATION: "invalid_token",
    ErrorKind.NOT_FOUND: "no_service",
    ErrorKind.RATE_LIMIT: "rate_limited",
    ErrorKind.INTERNAL: "rollup_error",
}


def render_error(kind: ErrorKind, message: str | None) -> str:
    """Slack's webhook errors are one plain-text code."""
    return _CODES[kind]


def _fail(status: int, code: str) -> VendorError:
    """A webhook error whose body is exactly ``code``."""
    kind = ErrorKind.NOT_FOUND if status == 404 else ErrorKind.VALIDATION
    return VendorError(status, kind, code, body=code)


class SlackStore(SystemStore):
    """Messages posted to webhooks, and the webhooks that were revoked."""

    def __init__(self, lock: threading.RLock, clock: Clock) -> None:
        super().__init__(lock, clock)
        self._messages: list[dict[str, Any]] = []
        self._disabled: set[str] = set()

    def set_enabled(self, webhook: str, enabled: bool) -> None:
        """Revoke (``enabled=False``) or restore the webhook ``T.../B.../X...``."""
        with self.lock:
            if enabled:
                self._disabled.discard(webhook.strip("/"))
            else:
                self._disabled.add(webhook.strip("/"))

    def disabled(self) -> list[str]:
        """Webhooks that answer ``404 no_service``."""
        with self.lock:
            return sorted(self._disabled)

    def post(self, webhook: str, payload: dict[str, Any]) -> None:
        """Accept a message for ``webhook`` (``404 no_service`` when revoked)."""
        text = payload.get("text")
        if isinstance(text, str):
            text = text[:MESSAGE_CHARS]  # Slack keeps the start of an over-long message
        with self.lock:
            if webhook in self._disabled:
                raise _fail(404, "no_service")
            self._messages.append(
                {
                    "webhook": webhook,
                    "text": text,
                    "blocks": payload.get("blocks"),
                    "attachments": payload.get("attachments"),
                    "received_at": iso(self.clock()),
                }
            )

    def messages(self, webhook: str | None = None) -> list[dict[str, Any]]:
        """Messages received (by one webhook, if given), oldest first."""
        with self.lock:
            wanted = webhook.strip("/") if webhook else None
            return [dict(m) for m in self._messages if wanted in (None, m["webhook"])]

    def ledger(self) -> dict[str, Any]:
        """Every message, with its text and how many blocks it had."""
        with self.lock:
            return {
                "messages": [
                    {"webhook": m["webhook"], "text": m["text"], "blocks": len(m["blocks"] or [])}
                    for m in self._messages
                ],
                "disabled": sorted(self._disabled),
            }


def parse_payload(raw: bytes, content_type: str) -> dict[str, Any]:
    """The message of a webhook call, checked as Slack checks it."""
    text = raw.decode("utf-8", "replace")
    if content_type.startswith("application/x-www-form-urlencoded"):
        text = (parse_qs(text).get("payload") or [""])[0]
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise _fail(400, "invalid_payload")
    if not any(payload.get(name) for name in ("text", "blocks", "attachments")):
        raise _fail(400, "missing_text_or_fallback_or_attachments")
    blocks = payload.get("blocks")
    if blocks is not None and (
        not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS or not all(_block_ok(b) for b in blocks)
    ):
        raise _fail(400, "invalid_blocks")
    return payload


def _text_ok(obj: Any, limit: int, plain_only: bool = False) -> bool:
    """A text object (``plain_text`` or ``mrkdwn``) of 1 to ``limit`` characters."""
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    return (
        isinstance(obj, dict)
        and obj.get("type") in allowed
        and isinstance(obj.get("text"), str)
        and 0 < len(obj["text"]) <= limit
    )


def _element_ok(element: Any) -> bool:
    """An element of an actions block: buttons are checked, other kinds only need a type."""
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return False
    if element["type"] != "button":
        return True
    url = element.get("url")
    return _text_ok(element.get("text"), BUTTON_CHARS, plain_only=True) and (
        url is None or (isinstance(url, str) and len(url) <= URL_CHARS)
    )


def _block_ok(block: Any) -> bool:
    """Whether Slack would take this block (its kind's length and count limits)."""
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return False
    kind = block["type"]
    if kind == "header":
        return _text_ok(block.get("text"), HEADER_CHARS, plain_only=True)
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and fields is None:
            return False
        if text is not None and not _text_ok(text, TEXT_CHARS):
            return False
        return fields is None or (
            isinstance(fields, list) and 0 < len(fields) <= MAX_FIELDS and all(_text_ok(f, FIELD_CHARS) for f in fields)
        )
    if kind == "context":
        elements = block.get("elements")
        return (
            isinstance(elements, list)
            and 0 < len(elements) <= MAX_CONTEXT_ELEMENTS
            and all(isinstance(e, dict) and (e.get("type") == "image" or _text_ok(e, TEXT_CHARS)) for e in elements)
        )
    if kind == "actions":
        elements = block.get("elements")
        return isinstance(elements, list) and 0 < len(elements) <= MAX_ACTIONS and all(map(_element_ok, elements))
    return True


def _store(request: Request) -> SlackStore:
    store: SlackStore = request.app.state.sandbox.slack
    return store


StoreDep = Annotated[SlackStore, Depends(_store)]

router = APIRouter(prefix="/services")


@router.post("/{team}/{bot}/{secret}")
async def post_message(team: str, bot: str, secret: str, request: Request, store: StoreDep) -> PlainTextResponse:
    """``POST /services/{T}/{B}/{X}``."""
    webhook = f"{team}/{bot}/{secret}"
    payload = parse_payload(await request.body(), request.headers.get("content-type", "application/json"))
    store.post(webhook, payload)
    return PlainTextResponse("ok")


class WebhookBody(BaseModel):
    """Body of ``POST /_sandbox/slack/webhooks``."""

    webhook: str
    enabled: bool


admin_router = APIRouter()


@admin_router.get("/messages")
def messages(store: StoreDep, webhook: str | None = None) -> list[dict[str, Any]]:
    """Messages received, optionally by one webhook (``T.../B.../X...``)."""
    return store.messages(webhook)


@admin_router.post("/webhooks")
def set_webhook(body: WebhookBody, store: StoreDep) -> dict[str, Any]:
    """Revoke or restore a webhook."""
    store.set_enabled(body.webhook, body.enabled)
    return {"disabled": store.disabled()}


SYSTEM = SandboxSystem(
    name=SYSTEM_NAME,
    prefix=PREFIX,
    router=router,
    render_error=render_error,
    admin_router=admin_router,
)
"""Slack incoming webhooks as the app and the fault layer see them."""
