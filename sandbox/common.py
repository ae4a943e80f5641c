"""Helpers shared by the simulated systems: their stores, ids, times, bodies, auth.

Every system keeps its data in a ``SystemStore`` created by ``SandboxState``,
sharing the state's lock (a request of one system and a test reading the
ledger never see half an update) and its clock (tests move time forward to
let a tenant finish provisioning or a slow customer answer).
"""

from __future__ import annotations

import json
import re
import secrets
import string
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from fastapi import Request

from sandbox.generator import iso_z

Clock = Callable[[], float]
"""Seconds since the epoch."""

EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
"""An address a mail server would accept (local part, ``@``, a dotted domain)."""

DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
"""A lower-case DNS name with at least two labels and an alphabetic top-level domain."""

ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits


class SystemStore:
    """Base of one system's in-memory data; hold ``lock`` around every read-modify-write."""

    def __init__(self, lock: threading.RLock, clock: Clock) -> None:
        self.lock = lock
        self.clock = clock


def random_id(prefix: str, length: int = 14, alphabet: str = ALNUM) -> str:
    """A vendor-style id such as ``cus_NffrFeUfNV2Hib`` (``prefix`` includes any ``_``)."""
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def iso(seconds: float) -> str:
    """Epoch seconds as ``2026-10-01T12:00:00.000Z``."""
    return iso_z(datetime.fromtimestamp(seconds, tz=timezone.utc))


def is_email(value: object) -> bool:
    """Whether ``value`` is a plausible e-mail address."""
    return isinstance(value, str) and len(value) <= 254 and EMAIL.match(value) is not None


def is_domain(value: object) -> bool:
    """Whether ``value`` is a lower-case domain name such as ``acme-robotics.co.uk``."""
    return isinstance(value, str) and DOMAIN.match(value) is not None


async def json_body(request: Request) -> Any:
    """The request's JSON body; ``ValueError`` when it is empty or not JSON."""
    raw = await request.body()
    if not raw.strip():
        raise ValueError("The request body is empty.")
    return json.loads(raw)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def configured_token(request: Request) -> str | None:
    """The only token the vendor APIs accept, when the state was given one."""
    token: str | None = request.app.state.sandbox.token
    return token


def bearer_ok(request: Request) -> bool:
    """Whether the request carries a bearer token the sandbox accepts."""
    token = bearer_token(request.headers.get("authorization"))
    expected = configured_token(request)
    return token is not None and expected in (None, token)


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header, ``None`` when absent or blank."""
    key = (request.headers.get("idempotency-key") or "").strip()
    return key or None


def flat_error(code: str, message: str) -> dict[str, str]:
    """``{"error": code, "message": ...}``, the error style of the provisioning and portal APIs."""
    return {"error": code, "message": message}


def page_limit(raw: str | None, default: int, maximum: int) -> int | None:
    """A ``limit`` query value in ``1..maximum`` (``default`` when absent), ``None`` when invalid."""
    if raw in (None, ""):
        return default
    text = str(raw)
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        return None
    return int(text)
