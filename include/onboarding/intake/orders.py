"""What the intake makes of one CRM deal: an :class:`Order` or a :class:`Rejected` one.

An order is a signed deal that passed every rule of :mod:`.rules`, in the
store's terms; a rejected one carries every :class:`Problem` found, each naming
the CRM property (or ``record``, ``id``, ``owner``) and the cause.  Fingerprints
hash what a record or an order says, ignoring when it was last touched, so a
re-read of the same deal is recognised as the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import cached_property
from typing import Any

from include.onboarding.store import canonical_json, fingerprint, text_fingerprint

ACTOR = "system:intake"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Fields that define the deal commercially.  Once an onboarding has started, a
# change to one of these is a conflict for a person to settle, not an update.
IMMUTABLE_FIELDS = ("tier", "region", "order_number", "signed_at")
_VOLATILE_PROPERTIES = {"hs_lastmodifieddate", "updatedAt"}


@dataclass(frozen=True)
class Problem:
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


_VOLATILE = frozenset({"crm_source", "crm_deal_id", "crm_modified_at", "payload"})


@dataclass(frozen=True)
class Order:
    """A signed order that passed validation, in the store's terms."""

    crm_source: str
    crm_deal_id: str
    order_number: str | None
    account_name: str
    account_domain: str | None
    tier: str
    region: str
    segment: str | None
    addons: tuple[str, ...]
    amount: Decimal | None
    currency: str | None
    partner_name: str | None
    primary_contact_name: str | None
    primary_contact_email: str
    sales_owner_id: str | None
    owner_email: str
    owner_role: str
    signed_at: datetime
    activation_target: date
    target_source: str
    crm_modified_at: datetime
    payload: dict[str, Any] = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.crm_source}-{self.crm_deal_id}"

    def business_fields(self) -> dict[str, Any]:
        """What the order says, without CRM bookkeeping: compared to spot real changes."""
        # Not dataclasses.asdict: it deep-copies the raw CRM payload only to drop it.
        data = {name: getattr(self, name) for name in _BUSINESS_FIELDS}
        data["addons"] = sorted(self.addons)
        data["amount"] = str(self.amount) if self.amount is not None else None
        data["signed_at"] = self.signed_at.isoformat()
        data["activation_target"] = self.activation_target.isoformat()
        return data

    @cached_property
    def business_json(self) -> str:
        """:meth:`business_fields` as the JSON text its fingerprint hashes (worked out once: orders do not change)."""
        return canonical_json(self.business_fields())

    @cached_property
    def fingerprint(self) -> str:
        return text_fingerprint(self.business_json)


_BUSINESS_FIELDS = tuple(f.name for f in fields(Order) if f.name not in _VOLATILE)


@dataclass(frozen=True)
class Rejected:
    crm_deal_id: str
    order_number: str | None
    crm_modified_at: datetime | None
    problems: tuple[Problem, ...]
    record: Any

    @property
    def fingerprint(self) -> str:
        return record_fingerprint(self.record)


def record_fingerprint(record: Any) -> str:
    """Hash of what a CRM record says, ignoring when it was last touched."""
    if isinstance(record, dict):
        props = record.get("properties")
        if isinstance(props, dict):
            props = {k: v for k, v in props.items() if k not in _VOLATILE_PROPERTIES}
        body = {k: v for k, v in record.items() if k not in _VOLATILE_PROPERTIES and k != "properties"}
        return fingerprint({"record": body, "properties": props})
    return fingerprint({"record": record})


def text_value(props: dict[str, Any], name: str) -> str | None:
    """A property's trimmed text; ``None`` when absent, blank or not text (reported as mistyped by the rules)."""
    value = props.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def deal_key(record: Any) -> str:
    """The CRM deal id a record is filed under: its id, else its hs_object_id, else ``unknown``."""
    if not isinstance(record, dict):
        return "unknown"
    props = record.get("properties")
    props = props if isinstance(props, dict) else {}
    return text_value(record, "id") or text_value(props, "hs_object_id") or "unknown"
