"""Idempotency keys as Stripe defines them (and most modern APIs copy).

A client sends ``Idempotency-Key`` with a POST.  The first request with a key
that succeeds has its status and body stored; a later request with the same
key and the same parameters gets that stored answer again, marked with
``Idempotent-Replayed: true``, and creates nothing.  Reusing a key with other
parameters, or on another endpoint, is a client bug and is refused.  Requests
refused by validation store nothing, so a corrected retry may reuse the key.
Keys are forgotten 24 hours after first use.  Without a key, every request
creates something new.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sandbox.common import Clock, flat_error
from sandbox.systems import ErrorKind, VendorError

REPLAYED_HEADER = "Idempotent-Replayed"
TTL_SECONDS = 24 * 60 * 60
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    """The answer given to the first request with a key."""

    endpoint: str
    fingerprint: str
    status: int
    body: dict[str, Any]
    at: float


class KeyReused(Exception):
    """A key came back with different parameters, or on a different endpoint."""

    def __init__(self, key: str, endpoint: str, first_endpoint: str) -> None:
        self.key = key
        self.endpoint = endpoint
        self.first_endpoint = first_endpoint
        super().__init__(self.stripe_message())

    @property
    def other_endpoint(self) -> bool:
        """Whether the key was first used on another endpoint (not just other parameters)."""
        return self.endpoint != self.first_endpoint

    def stripe_message(self) -> str:
        """Stripe's wording of the refusal."""
        if self.other_endpoint:
            return (
                "Keys for idempotent requests can only be used for the same endpoint they were first used for "
                f"('{self.endpoint}' vs '{self.first_endpoint}'). Try using a key other than '{self.key}' "
                "if you meant to execute a different request."
            )
        return (
            "Keys for idempotent requests can only be used with the same parameters they were first used with. "
            f"Try using a key other than '{self.key}' if you meant to execute a different request."
        )

    def plain_message(self) -> str:
        """The refusal in the words of the provisioning and portal APIs."""
        return (
            f"Idempotency-Key '{self.key}' was already used for a different request ({self.first_endpoint}, "
            "other parameters); use a new key for a new request."
        )


def fingerprint(params: object) -> str:
    """A canonical form of request parameters: key order does not matter, list order does."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


class IdempotencyKeys:
    """Keys seen by one vendor (callers hold their store's lock around lookup and create)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._stored: dict[str, StoredResponse] = {}

    def replay(self, key: str | None, endpoint: str, params: object) -> StoredResponse | None:
        """The stored answer for ``key``, ``None`` if new; ``KeyReused`` on a mismatch."""
        if key is None:
            return None
        stored = self._stored.get(key)
        if stored is None or self._clock() - stored.at > TTL_SECONDS:
            return None
        if stored.endpoint != endpoint or stored.fingerprint != fingerprint(params):
            raise KeyReused(key, endpoint, stored.endpoint)
        return stored

    def remember(self, key: str | None, endpoint: str, params: object, status: int, body: dict[str, Any]) -> None:
        """Store the answer to the first successful request with ``key`` (no-op without a key)."""
        if key is not None:
            self._stored[key] = StoredResponse(endpoint, fingerprint(params), status, body, self._clock())


def flat_vendor_error(status: int, code: str, message: str) -> VendorError:
    """An error in the ``{"error": code, "message": ...}`` style of the tenant and portal APIs."""
    kind = ErrorKind.NOT_FOUND if status == 404 else ErrorKind.VALIDATION
    return VendorError(status, kind, message, body=flat_error(code, message))


def replay_or_conflict(keys: IdempotencyKeys, key: str | None, endpoint: str, body: object) -> dict[str, Any] | None:
    """The stored answer for ``key``; a 409 ``idempotency_key_reused`` when it was used for something else."""
    try:
        stored = keys.replay(key, endpoint, body)
    except KeyReused as exc:
        raise flat_vendor_error(409, "idempotency_key_reused", exc.plain_message()) from exc
    return stored.body if stored else None
