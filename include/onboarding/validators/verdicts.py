"""What a validator is given and what it answers: the submission, the account, the verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from include.onboarding.exceptions import Refused as Refused

MAX_TEXT_CHARS = 10_000
"""Longest typed answer accepted for any item except SAML metadata."""
MAX_SAML_BYTES = 1024 * 1024
"""Largest SAML metadata document accepted (1 MB, UTF-8)."""
MEGABYTE = 1024 * 1024
"""Bytes in the MB of ``DocumentRules.max_mb`` (the binary megabyte, the larger reading)."""


@dataclass(frozen=True)
class DocumentMeta:
    """What the portal tells us about an uploaded file (the file itself stays in the portal)."""

    filename: str
    content_type: str
    size_bytes: int
    sha256: str | None = None


@dataclass(frozen=True)
class Submission:
    """One answer from the customer: a typed ``value`` or an uploaded ``document``."""

    item_key: str
    value: str | None = None
    document: DocumentMeta | None = None


@dataclass(frozen=True)
class AccountContext:
    """What we know about the account the submission belongs to."""

    region: str
    country: str | None = None
    """ISO 3166 country of the customer when known (``GB``, ``DE``); used to refuse another country's VAT number."""
    company_domain: str | None = None
    """The company's domain from the CRM; only used to make examples in reasons look familiar."""


@dataclass(frozen=True)
class Verdict:
    """The outcome: ``value`` is what to store (JSON-able) when ``ok``; ``reason`` is for the customer otherwise."""

    ok: bool
    value: Any = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.ok and self.reason is not None:
            raise ValueError("an accepted verdict has no reason")
        if not self.ok and not self.reason:
            raise ValueError("a rejected verdict needs a reason the customer can act on")

    @classmethod
    def accept(cls, value: Any) -> Verdict:
        return cls(ok=True, value=value)

    @classmethod
    def reject(cls, reason: str) -> Verdict:
        return cls(ok=False, value=None, reason=reason)
