"""Chat notifications, in the shape of Slack incoming webhooks.

``POST /services/T.../B.../X...`` with a JSON body (or the legacy form field
``payload=<json>``) answers ``200 ok`` in plain text.  Failures are plain-text
codes, as Slack sends them: ``400 invalid_payload`` (not JSON, not an object),
``400 missing_text_or_fallback_or_attachments`` (no ``text``, ``blocks`` or
``attachments``), ``400 invalid_blocks``, ``404 no_service`` (a webhook that was
revoked; every webhook path works until a test disables it), ``429
rate_limited`` and ``500 rollup_error`` (through the fault layer).  The URL is
the credential: there is no other authentication.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from include.sandbox.common import Clock, SystemStore, iso
from include.sandbox.faults import ErrorKind, SandboxSystem, VendorError

if TYPE_CHECKING:
    from include.sandbox.state import SandboxState

SYSTEM_NAME = "slack"
PREFIX = "/services/"
MAX_BLOCKS = 50

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
        with self.lock:
            if webhook in self._disabled:
                raise _fail(404, "no_service")
            self._messages.append(
                {
                    "webhook": webhook,
                    "text": payload.get("text"),
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
        not isinstance(blocks, list)
        or len(blocks) > MAX_BLOCKS
        or not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks)
    ):
        raise _fail(400, "invalid_blocks")
    return payload


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


def ledger(state: SandboxState) -> dict[str, Any]:
    """Slack's line of ``GET /_sandbox/ledger``."""
    return state.slack.ledger()


SYSTEM = SandboxSystem(
    name=SYSTEM_NAME,
    prefix=PREFIX,
    router=router,
    render_error=render_error,
    ledger=ledger,
    admin_router=admin_router,
)
"""Slack incoming webhooks as the app and the fault layer see them."""
