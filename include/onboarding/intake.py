"""Batch pickup of signed orders: CRM -> onboarding store.

A pickup has three steps, each safe to retry or clear:

1. :func:`pull_orders` reads the deals changed since the watermark (minus a
   small look-back) and stages the raw records under the pickup's batch id.
   Any record can be staged: control characters and unpaired surrogates are
   stored as visible symbols, with a problem naming the field, and a record
   PostgreSQL still refuses as JSON is kept as text, with the store's reason.
2. :func:`process_batch` judges each staged record.  Good orders become
   onboardings (idempotent upsert keyed by the CRM deal id) with a named owner
   and an activation target in business days; bad ones go to quarantine with
   every reason found (and an ``order.quarantined`` event).
3. :func:`commit_batch` moves the watermark to the newest record of the batch.
   It runs only after processing succeeded, so a failed pickup leaves the
   watermark where it was and the next pickup reads the same orders again.

One bad order never stops the others, by construction: each record is judged
on its own, and an error no check foresaw quarantines that order with the
error's text; orders are written a chunk at a time, and if the store refuses
one order's values the chunk is written again order by order, each under its
own savepoint, quarantining the order refused with the store's reason.  Only a
failure of the CRM or of the store itself (connection, deadlock, disk, SQL)
fails a pickup.  Dates outside 2000-01-01..2100-12-31 are refused, so a
placeholder such as 9999-12-31 can neither break date arithmetic nor, as a
modification time, carry the watermark past every later change.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from include.onboarding.calendar import region_calendar
from include.onboarding.clock import Clock
from include.onboarding.config import OnboardingConfig, Stage
from include.onboarding.crm import EARLIEST_DATE, LATEST_DATE, CrmClient, record_modified_at, within_date_range
from include.onboarding.deadlines import CONF_KEY as TARGET_WARNING_KEY
from include.onboarding.deadlines import target_warning_at
from include.onboarding.owners import Assignment, NoOwner, named_owner, stage_owner
from include.onboarding.store import SCHEMA, Event, Scratch, Store, canonical_json, fingerprint, text_fingerprint

log = logging.getLogger(__name__)

ACTOR = "system:intake"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CHUNK = 500

# Fields that define the deal commercially.  Once an onboarding has started, a
# change to one of these is a conflict for a person to settle, not an update.
IMMUTABLE_FIELDS = ("tier", "region", "order_number", "signed_at")
_VOLATILE_PROPERTIES = {"hs_lastmodifieddate", "updatedAt", "sandbox_defect"}
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


# --------------------------------------------------------------------------- judging one order


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


def _text(props: dict[str, Any], name: str) -> str | None:
    """A property's trimmed text; ``None`` when absent, blank or not text (reported by :func:`_type_problems`)."""
    value = props.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _parse_timestamp(raw: str) -> datetime:
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


_DATE_RANGE = f"the accepted range {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}"


def _kind(value: Any) -> str:
    """How an ops engineer would name a JSON value's type."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _type_problems(record: dict[str, Any], props: dict[str, Any]) -> list[Problem]:
    """Values that are not text where the CRM only ever sends text (every property, and the id)."""
    problems = []
    if record.get("id") is not None and not isinstance(record["id"], str):
        problems.append(Problem("id", f"expected text, got {_kind(record['id'])}: {str(record['id'])[:100]}"))
    for name, value in props.items():
        if value is not None and not isinstance(value, str):
            problems.append(
                Problem(
                    name,
                    f"expected text (the CRM sends every property as text), got {_kind(value)}: {str(value)[:100]}",
                )
            )
    return problems


def deal_key(record: Any) -> str:
    """The CRM deal id a record is filed under: its id, else its hs_object_id, else ``unknown``."""
    if not isinstance(record, dict):
        return "unknown"
    props = record.get("properties")
    props = props if isinstance(props, dict) else {}
    return _text(record, "id") or _text(props, "hs_object_id") or "unknown"


def normalise(record: Any, config: OnboardingConfig) -> Order | Rejected:
    """Validate one raw CRM deal.  Collects every problem, not just the first.

    Every property must be text (or absent): a value of another type is
    reported as such, and not reported again as missing or invalid.  Dates must
    fall in the accepted range (:data:`~include.onboarding.crm.EARLIEST_DATE` to
    :data:`~include.onboarding.crm.LATEST_DATE`).
    """
    source = config.settings.intake.crm_source
    if not isinstance(record, dict) or not isinstance(record.get("properties"), dict):
        return Rejected(
            crm_deal_id=deal_key(record),
            order_number=None,
            crm_modified_at=record_modified_at(record),
            problems=(Problem("record", "not a CRM deal object (no 'properties' mapping)"),),
            record=record,
        )
    props: dict[str, Any] = record["properties"]
    mistyped = _type_problems(record, props)
    problems: list[Problem] = []
    deal_id = _text(record, "id") or _text(props, "hs_object_id")
    if deal_id is None:
        problems.append(Problem("id", "the deal has no id"))
    modified = record_modified_at(record)
    if modified is None:
        problem = "missing or not an ISO 8601 timestamp"
        raw_modified = _text(props, "hs_lastmodifieddate") or _text(record, "updatedAt")
        if raw_modified is not None:
            try:
                _parse_timestamp(raw_modified)
                problem = f"{raw_modified!r} is outside {_DATE_RANGE}"  # readable, but not believable
            except ValueError:
                pass
        problems.append(Problem("hs_lastmodifieddate", problem))
    order_number = _text(props, "order_number")

    stage = _text(props, "dealstage")
    if stage != config.settings.intake.signed_stage:
        problems.append(
            Problem("dealstage", f"{stage!r} is not the signed stage {config.settings.intake.signed_stage!r}")
        )

    tier_value = _text(props, "onboarding_tier")
    tier = config.tier_for_crm_value(tier_value) if tier_value else None
    if tier_value is None:
        problems.append(Problem("onboarding_tier", "missing: the order does not say which onboarding tier it is"))
    elif tier is None:
        known = sorted(v for t in config.tiers.values() for v in t.crm_tier_values)
        problems.append(Problem("onboarding_tier", f"unknown tier {tier_value!r} (known: {', '.join(known)})"))

    account_name = _text(props, "company_name") or _text(props, "dealname")
    if account_name is None:
        problems.append(Problem("company_name", "missing: no company name on the deal"))

    domain = _text(props, "company_domain")
    if domain is not None:
        domain = domain.lower().removeprefix("www.")
        if not _DOMAIN.match(domain):
            problems.append(Problem("company_domain", f"{domain!r} is not a domain name"))

    region = _text(props, "region")
    if region is None:
        problems.append(Problem("region", "missing: cannot choose an owner or a holiday calendar"))
    elif region not in config.settings.regions:
        problems.append(
            Problem(
                "region",
                f"no owner resolvable: region {region!r} is not served (known: {', '.join(config.settings.regions)})",
            )
        )

    segment = _text(props, "segment")
    if tier is not None and segment is not None and segment not in tier.segments:
        problems.append(Problem("segment", f"{segment!r} is not a {tier.tier} segment ({', '.join(tier.segments)})"))

    contact_email = _text(props, "primary_contact_email")
    if contact_email is None:
        problems.append(Problem("primary_contact_email", "missing: nobody to send the onboarding checklist to"))
    else:
        contact_email = _valid_email(contact_email, "primary_contact_email", problems)

    signed_at: datetime | None = None
    raw_close = _text(props, "closedate")
    if raw_close is None:
        problems.append(Problem("closedate", "missing: the signing date starts the activation clock"))
    else:
        try:
            signed_at = _parse_timestamp(raw_close)
        except ValueError:
            problems.append(Problem("closedate", f"{raw_close!r} is not an ISO 8601 date or timestamp"))
        if signed_at is not None and not within_date_range(signed_at):
            problems.append(Problem("closedate", f"{raw_close!r} is outside {_DATE_RANGE}"))
            signed_at = None

    amount: Decimal | None = None
    raw_amount = _text(props, "amount")
    if raw_amount is not None:
        try:
            amount = Decimal(raw_amount).quantize(Decimal("0.01"))
            if amount < 0 or not amount.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            problems.append(Problem("amount", f"{raw_amount!r} is not a non-negative amount"))
            amount = None

    partner_name = _text(props, "partner_name")
    if tier is not None and tier.tier == "partner" and partner_name is None:
        problems.append(Problem("partner_name", "missing: partner-led orders name the partner"))

    addons = tuple(sorted({a.strip().lower() for a in (_text(props, "addons") or "").split(";") if a.strip()}))

    owner = None
    if tier is not None and region in config.settings.regions:
        try:
            owner = named_owner(config.settings, tier, region, _text(props, "onboarding_owner_email"))
            stage_owner(config.settings, tier, Stage.INTAKE, region, owner)
        except NoOwner as exc:
            problems.append(Problem("owner", f"no owner resolvable: {exc}"))

    target: date | None = None
    target_source = "tier_default"
    raw_target = _text(props, "committed_go_live_date")
    if raw_target is not None:
        try:
            target = date.fromisoformat(raw_target[:10])
            target_source = "committed"
        except ValueError:
            problems.append(Problem("committed_go_live_date", f"{raw_target!r} is not an ISO date"))
        if target is not None and not within_date_range(target):
            problems.append(Problem("committed_go_live_date", f"{raw_target!r} is outside {_DATE_RANGE}"))
            target = None
    if signed_at is not None and region in config.settings.regions:
        local_signing = signed_at.astimezone(ZoneInfo(config.settings.regions[region].timezone)).date()
        if target is not None and target < local_signing:
            problems.append(
                Problem(
                    "committed_go_live_date",
                    f"{target.isoformat()} is before the order was signed ({local_signing.isoformat()})",
                )
            )
        elif target is None and tier is not None:
            calendar = region_calendar(config.settings.regions[region])
            target = calendar.add_business_days(local_signing, tier.activation_target_business_days)

    # A mistyped field is reported once, as mistyped, not again as missing.
    problems = mistyped + [p for p in problems if p.field not in {m.field for m in mistyped}]
    if problems:
        return Rejected(deal_id or "unknown", order_number, modified, tuple(problems), record)
    assert deal_id and modified and tier and region and account_name and contact_email and signed_at
    assert owner is not None and target is not None
    return Order(
        crm_source=source,
        crm_deal_id=deal_id,
        order_number=order_number,
        account_name=account_name,
        account_domain=domain,
        tier=tier.tier,
        region=region,
        segment=segment,
        addons=addons,
        amount=amount,
        currency=_text(props, "deal_currency_code"),
        partner_name=partner_name,
        primary_contact_name=_text(props, "primary_contact_name"),
        primary_contact_email=contact_email,
        sales_owner_id=_text(props, "hubspot_owner_id"),
        owner_email=owner.email,
        owner_role=owner.role,
        signed_at=signed_at,
        activation_target=target,
        target_source=target_source,
        crm_modified_at=modified,
        payload=record,
    )


def _valid_email(value: str, field_name: str, problems: list[Problem]) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return str(validate_email(value, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        problems.append(Problem(field_name, f"{value!r} is not a valid email address: {exc}"))
        return value


# --------------------------------------------------------------------------- the edge: what can be stored

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
"""C0 control characters other than tab and newline: never part of an order, and NUL cannot be stored."""
_SURROGATE = re.compile(r"[\ud800-\udfff]")
"""Halves of a UTF-16 pair without their partner: not text, and not storable as UTF-8."""
_UNREADABLE = re.compile(r"[\x00-\x08\x0b-\x1f\ud800-\udfff]")
"""Either of the above: one pass tells whether a text needs cleaning at all."""
_C0_NAMES = (
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR", "SO", "SI",
    "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US",
)  # fmt: skip
REPLACEMENT = "\ufffd"
UNSTORABLE = "unstorable_record"
"""Key under which a record the store refused as JSON is kept, as Python's text of it."""


@dataclass
class _Unreadable:
    controls: set[str] = field(default_factory=set)
    surrogates: set[str] = field(default_factory=set)


def clean_record(record: Any) -> tuple[Any, list[Problem]]:
    """A copy of a CRM record that PostgreSQL can store and a person can read, and what had to change.

    Control characters (C0 except tab and newline) become their visible symbols
    (NUL becomes \u2400, BEL \u2407, ESC \u241b) and unpaired surrogates become
    \ufffd, in values and in property names alike.  Each field where that
    happened gets a problem naming it, so the order is quarantined with the
    cleaned copy as its record rather than failing the pickup or being lost.
    """
    found: dict[str, _Unreadable] = {}
    cleaned = _clean(record, (), found)
    problems = []
    for name, what in found.items():
        if what.controls:
            codes = sorted(what.controls)
            listed = ", ".join(f"U+{ord(c):04X} {_C0_NAMES[ord(c)]}" for c in codes)
            shown = " ".join(chr(0x2400 + ord(c)) for c in codes)
            problems.append(
                Problem(name, f"contains control characters ({listed}); the stored copy shows them as {shown}")
            )
        if what.surrogates:
            listed = ", ".join(f"U+{ord(c):04X}" for c in sorted(what.surrogates))
            problems.append(
                Problem(
                    name,
                    f"contains text that is not valid Unicode (unpaired surrogate {listed});"
                    f" the stored copy shows it as {REPLACEMENT}",
                )
            )
    return cleaned, problems


def _clean(value: Any, path: tuple[str | int, ...], found: dict[str, _Unreadable]) -> Any:
    if isinstance(value, str):
        return _clean_text(value, path, found) if _UNREADABLE.search(value) else value
    if isinstance(value, dict):
        cleaned = {}
        for k, v in value.items():  # the name first, then its value, as problems are listed
            name = str(k)
            key = _clean_text(name, (*path, name), found) if _UNREADABLE.search(name) else name
            # Most values are text with nothing to clean: kept without building their path.
            cleaned[key] = v if isinstance(v, str) and not _UNREADABLE.search(v) else _clean(v, (*path, name), found)
        return cleaned
    if isinstance(value, list):
        return [_clean(v, (*path, i), found) for i, v in enumerate(value)]
    return value


def _clean_text(text: str, path: tuple[str | int, ...], found: dict[str, _Unreadable]) -> str:
    controls = set(_CONTROL.findall(text))
    surrogates = set(_SURROGATE.findall(text))
    if not controls and not surrogates:
        return text
    what = found.setdefault(_field_name(path), _Unreadable())
    what.controls |= controls
    what.surrogates |= surrogates
    return clean_text(text)


def clean_text(text: str) -> str:
    """``text`` with control characters and unpaired surrogates made storable and visible (see :func:`clean_record`)."""
    text = _CONTROL.sub(lambda m: chr(0x2400 + ord(m.group())), text)
    return _SURROGATE.sub(REPLACEMENT, text)


def _field_name(path: tuple[str | int, ...]) -> str:
    """``("properties", "addons", 0)`` -> ``addons[0]``: properties by their own names, as in every reason."""
    if path[:1] == ("properties",) and len(path) > 1:
        path = path[1:]
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{clean_text(part)}" if name else clean_text(part))
    return name or "record"


def order_at_fault(exc: Exception) -> bool:
    """Whether a failed write is down to the values of the order being written, not to the store.

    PostgreSQL's data exceptions (SQLSTATE class 22: a number too large for its
    column, text it cannot hold...), integrity violations (23) and program limits
    (54: a value too large to index), and anything raised while turning a value
    into SQL, belong to the order: it is set aside and the others proceed.  A
    lost connection, a cancelled statement, a deadlock, a full disk or SQL the
    server does not understand belong to the store, and fail the pickup.
    """
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate is None:
            return isinstance(exc, psycopg.DataError)  # refused by psycopg before sending
        return exc.sqlstate[:2] in ("22", "23", "54")
    return True


def error_text(exc: BaseException) -> str:
    """One line saying what went wrong, fit for a quarantine reason."""
    if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        text = exc.diag.message_primary + (f" ({exc.diag.message_detail})" if exc.diag.message_detail else "")
    else:
        text = f"{type(exc).__name__}: {exc}"
    return clean_text(" ".join(text.split()))[:500]


@dataclass(frozen=True)
class _Staged:
    """One CRM record as staged: cleaned, with what staging found wrong with it."""

    position: int
    crm_deal_id: str | None
    crm_modified_at: datetime | None
    record: Any
    problems: tuple[Problem, ...]
    received: Any

    @classmethod
    def of(cls, position: int, received: Any) -> _Staged:
        record, problems = clean_record(received)
        key = deal_key(record)
        return cls(
            position, None if key == "unknown" else key, record_modified_at(received), record, tuple(problems), received
        )

    def params(self, batch_id: str) -> tuple[Any, ...]:
        reasons = [{"field": p.field, "problem": p.problem} for p in self.problems]
        return (batch_id, self.position, self.crm_deal_id, self.crm_modified_at, Jsonb(self.record), Jsonb(reasons))

    def as_text(self, exc: Exception) -> _Staged:
        """This record kept as its Python text, for when the store refuses it as JSON."""
        record = {"id": self.crm_deal_id, UNSTORABLE: clean_text(repr(self.received))}
        problem = Problem(
            "record",
            f"could not be stored as received ({error_text(exc)}); kept as text under {UNSTORABLE!r}",
        )
        return replace(self, record=record, problems=(*self.problems, problem))


_STAGED_COLUMNS = "batch_id, position, crm_deal_id, crm_modified_at, record, problems"
_STAGE = f"INSERT INTO {SCHEMA}.intake_batch_orders ({_STAGED_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)"


def _stage(store: Store, batch_id: str, staged: list[_Staged]) -> None:
    """Stage one page in one COPY; if the store refuses a record, stage them one by one.

    One by one, a record the store refuses (as JSON) is staged as text
    instead, with the reason, so it reaches quarantine and the page goes on.
    """
    try:
        with (
            store.transaction() as cur,
            cur.copy(f"COPY {SCHEMA}.intake_batch_orders ({_STAGED_COLUMNS}) FROM STDIN".encode()) as copy,
        ):
            for item in staged:
                copy.write_row(item.params(batch_id))
        return
    except Exception as exc:
        if not order_at_fault(exc):
            raise
        log.warning("intake batch %s: a record of this page could not be staged (%s)", batch_id, error_text(exc))
    with store.transaction() as cur:
        for item in staged:
            try:
                with store.conn.transaction():
                    cur.execute(_STAGE, item.params(batch_id))
            except Exception as exc:
                if not order_at_fault(exc):
                    raise
                cur.execute(_STAGE, item.as_text(exc).params(batch_id))


def judge(record: Any, staged_problems: list[dict[str, str]], config: OnboardingConfig) -> Order | Rejected:
    """:func:`normalise` one staged record, adding what staging found; never raises.

    An error no check foresaw quarantines this order with the error's text
    instead of stopping the batch.
    """
    found = tuple(Problem(p["field"], p["problem"]) for p in staged_problems or ())
    if found and isinstance(record, dict) and UNSTORABLE in record:  # kept as text: nothing more to check
        return Rejected(deal_key(record), None, None, found, record)
    try:
        verdict = normalise(record, config)
    except Exception as exc:
        log.exception("intake could not check CRM deal %s", deal_key(record))
        problem = Problem("record", f"could not be checked: {error_text(exc)}")
        verdict = Rejected(deal_key(record), None, record_modified_at(record), (problem,), record)
    if not found:
        return verdict
    if isinstance(verdict, Order):
        return Rejected(verdict.crm_deal_id, verdict.order_number, verdict.crm_modified_at, found, record)
    return replace(verdict, problems=found + verdict.problems)


# --------------------------------------------------------------------------- the pickup


@dataclass(frozen=True)
class PullSummary:
    batch_id: str
    read_from: str
    fetched: int
    high_water: str | None


@dataclass
class ProcessSummary:
    batch_id: str
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    duplicates: int = 0
    quarantined: int = 0
    """Orders of this batch in quarantine (new or still waiting on a fix)."""
    newly_quarantined: int = 0
    quarantine_resolved: int = 0
    created_keys: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if isinstance(v, int)}

    def add(self, other: ProcessSummary) -> None:
        """Add the counts and created keys of ``other`` (a part of this batch) to these."""
        for name, value in other.counts().items():
            setattr(self, name, getattr(self, name) + value)
        self.created_keys.extend(other.created_keys)


def pull_orders(store: Store, crm: CrmClient, config: OnboardingConfig, batch_id: str, clock: Clock) -> PullSummary:
    """Stage every signed deal changed since the watermark under ``batch_id``."""
    settings = config.settings.intake
    source = settings.crm_source
    high_water = store.scalar(f"SELECT high_water FROM {SCHEMA}.intake_watermarks WHERE source = %s", (source,))
    if high_water is not None:
        read_from = high_water - timedelta(minutes=settings.lookback_minutes)
    else:
        read_from = settings.start_from or EPOCH
    now = clock.now()
    with store.transaction() as cur:
        # A retried or cleared pull starts its batch afresh.
        cur.execute(f"DELETE FROM {SCHEMA}.intake_batches WHERE batch_id = %s", (batch_id,))
        cur.execute(
            f"""INSERT INTO {SCHEMA}.intake_batches (batch_id, source, status, read_from, started_at)
                VALUES (%s, %s, 'pulling', %s, %s)""",
            (batch_id, source, read_from, now),
        )
    fetched = 0
    newest: datetime | None = None
    for page in crm.signed_deals_since(read_from):
        staged = []
        for record in page:
            item = _Staged.of(fetched, record)
            if item.crm_modified_at is not None and (newest is None or item.crm_modified_at > newest):
                newest = item.crm_modified_at
            staged.append(item)
            fetched += 1
        _stage(store, batch_id, staged)
    with store.transaction() as cur:
        cur.execute(
            f"UPDATE {SCHEMA}.intake_batches SET status = 'pulled', fetched = %s, high_water = %s WHERE batch_id = %s",
            (fetched, newest, batch_id),
        )
    log.info("pulled %d changed deal(s) from %s since %s", fetched, source, read_from.isoformat())
    return PullSummary(batch_id, read_from.isoformat(), fetched, newest.isoformat() if newest else None)


def process_batch(store: Store, config: OnboardingConfig, batch_id: str, clock: Clock) -> ProcessSummary:
    """Turn a staged batch into onboardings and quarantined orders."""
    batch = store.query(f"SELECT status FROM {SCHEMA}.intake_batches WHERE batch_id = %s", (batch_id,))
    if not batch or batch[0]["status"] not in ("pulled", "processed", "committed"):
        raise RuntimeError(f"intake batch {batch_id!r} has not been pulled; run the pull step first")
    summary = ProcessSummary(batch_id)
    records = store.query(
        f"SELECT record, problems FROM {SCHEMA}.intake_batch_orders WHERE batch_id = %s ORDER BY position",
        (batch_id,),
    )
    summary.fetched = len(records)
    latest: dict[str, Order | Rejected] = {}
    unidentified: list[Rejected] = []
    for row in records:
        verdict = judge(row["record"], row["problems"], config)
        deal = verdict.crm_deal_id
        if isinstance(verdict, Rejected) and deal == "unknown":
            unidentified.append(verdict)
            continue
        previous = latest.get(deal)
        if previous is None or _newer(verdict.crm_modified_at, previous.crm_modified_at):
            latest[deal] = verdict
    verdicts = list(latest.values())
    for start in range(0, len(verdicts), CHUNK):
        _apply(store, config, verdicts[start : start + CHUNK], batch_id, clock, summary)
    if unidentified:
        _apply(store, config, list(unidentified), batch_id, clock, summary)
    with store.transaction() as cur:
        cur.execute(
            f"""UPDATE {SCHEMA}.intake_batches
                SET status = CASE WHEN status = 'committed' THEN status ELSE 'processed' END, counts = %s
                WHERE batch_id = %s""",
            (Jsonb(summary.counts()), batch_id),
        )
    log.info("intake batch %s: %s", batch_id, summary.counts())
    return summary


def _newer(a: datetime | None, b: datetime | None) -> bool:
    return b is None or (a is not None and a >= b)


@dataclass
class _Plan:
    """What one chunk of verdicts will write, decided before anything is written."""

    creates: list[Order] = field(default_factory=list)
    updates: list[tuple[Order, dict[str, Any]]] = field(default_factory=list)
    quarantines: list[Rejected] = field(default_factory=list)
    duplicates: list[tuple[Order, Event]] = field(default_factory=list)

    def one_by_one(self) -> Iterator[tuple[Order | Rejected, _Plan]]:
        """Each verdict of the plan with a plan of its own."""
        for order in self.creates:
            yield order, _Plan(creates=[order])
        for order, known in self.updates:
            yield order, _Plan(updates=[(order, known)])
        for rejected in self.quarantines:
            yield rejected, _Plan(quarantines=[rejected])
        for order, event in self.duplicates:
            yield order, _Plan(duplicates=[(order, event)])


def _apply(
    store: Store,
    config: OnboardingConfig,
    verdicts: list[Order | Rejected],
    batch_id: str,
    clock: Clock,
    summary: ProcessSummary,
) -> None:
    """Apply one chunk of verdicts in one transaction.

    The chunk is written set-based; if the store refuses one order's values,
    the chunk is written again one order at a time, each under its own
    savepoint, and an order the store refuses is quarantined with the store's
    reason while the others are written.
    """
    now = clock.now()
    source = config.settings.intake.crm_source
    with store.transaction() as cur:
        plan = _plan(cur, source, verdicts, now, summary)
        try:
            with store.conn.transaction():
                written = _write(cur, config, source, plan, batch_id, now)
        except Exception as exc:
            if not order_at_fault(exc):
                raise
            log.warning(
                "intake batch %s: the store refused an order (%s); writing one by one", batch_id, error_text(exc)
            )
            written = ProcessSummary(batch_id)
            for verdict, single in plan.one_by_one():
                written.add(_write_alone(store, cur, config, source, verdict, single, batch_id, now))
        summary.add(written)


def _plan(cur: Any, source: str, verdicts: list[Order | Rejected], now: datetime, summary: ProcessSummary) -> _Plan:
    """Decide each verdict's fate against what the store holds (locking the onboardings concerned)."""
    orders = [v for v in verdicts if isinstance(v, Order)]
    deal_ids = [v.crm_deal_id for v in verdicts]
    numbers = [o.order_number for o in orders if o.order_number]
    cur.execute(
        f"""SELECT id, onboarding_key, crm_deal_id, order_number, crm_modified_at, order_fingerprint,
                   tier, region, signed_at, stage, stage_owner_email
            FROM {SCHEMA}.onboardings
            WHERE crm_source = %s AND (crm_deal_id = ANY(%s) OR order_number = ANY(%s))
            FOR UPDATE""",
        (source, deal_ids, numbers),
    )
    existing = cur.fetchall()
    by_deal = {r["crm_deal_id"]: r for r in existing}
    by_number = {r["order_number"]: r for r in existing if r["order_number"]}
    cur.execute(
        f"""SELECT crm_deal_id, max(crm_modified_at) AS newest FROM {SCHEMA}.quarantined_orders
            WHERE crm_source = %s AND crm_deal_id = ANY(%s) GROUP BY crm_deal_id""",
        (source, deal_ids),
    )
    quarantined_newest = {r["crm_deal_id"]: r["newest"] for r in cur.fetchall()}

    plan = _Plan()
    claimed_numbers: dict[str, Order] = {}
    for verdict in sorted(verdicts, key=lambda v: (v.crm_modified_at or EPOCH, v.crm_deal_id)):
        known = by_deal.get(verdict.crm_deal_id)
        # Records without an id are not versions of one another: none makes another stale.
        seen = quarantined_newest.get(verdict.crm_deal_id) if verdict.crm_deal_id != "unknown" else None
        newest_known = max([t for t in ((known or {}).get("crm_modified_at"), seen) if t], default=None)
        if newest_known is not None and verdict.crm_modified_at is not None and verdict.crm_modified_at < newest_known:
            summary.stale += 1  # an older version re-read by the look-back window
            continue
        if isinstance(verdict, Rejected):
            plan.quarantines.append(verdict)
            continue
        order = verdict
        if known is not None:
            if known["order_fingerprint"] == order.fingerprint:
                summary.unchanged += 1
            else:
                conflict = _conflict(order, known)
                if conflict is not None:
                    plan.quarantines.append(conflict)
                else:
                    plan.updates.append((order, known))
            continue
        twin = by_number.get(order.order_number) if order.order_number else None
        twin_order = claimed_numbers.get(order.order_number) if order.order_number else None
        if twin is not None or twin_order is not None:
            other_key = twin["onboarding_key"] if twin is not None else twin_order.key  # type: ignore[union-attr]
            other_fp = twin["order_fingerprint"] if twin is not None else twin_order.fingerprint  # type: ignore[union-attr]
            if other_fp == order.fingerprint:
                event = Event(
                    subject=f"order:{source}-{order.crm_deal_id}",
                    event_type="order.duplicate_ignored",
                    actor=ACTOR,
                    occurred_at=now,
                    details={"order_number": order.order_number, "same_as": other_key},
                    dedupe_key=f"order.duplicate_ignored:{source}:{order.crm_deal_id}:{order.fingerprint}",
                )
                plan.duplicates.append((order, event))
            else:
                plan.quarantines.append(
                    Rejected(
                        order.crm_deal_id,
                        order.order_number,
                        order.crm_modified_at,
                        (
                            Problem(
                                "order_number",
                                f"duplicate of {other_key} (same order number {order.order_number!r})"
                                " with conflicting data",
                            ),
                        ),
                        order.payload,
                    )
                )
            continue
        if order.order_number:
            claimed_numbers[order.order_number] = order
        plan.creates.append(order)
    return plan


def _write(
    cur: Any, config: OnboardingConfig, source: str, plan: _Plan, batch_id: str, now: datetime
) -> ProcessSummary:
    """Write a plan; return what it did (counted only once the write has succeeded).

    The audit events go last, in the order the writes were made: changed
    onboardings, new ones, resolved and new quarantine entries, duplicates.
    """
    done = ProcessSummary(batch_id)
    changes: list[Event] = []
    _update_existing(cur, plan.updates, now, changes)
    done.updated += len(plan.updates)
    created = _create(cur, config, plan.creates, now)
    done.created_keys.extend(o.key for o in plan.creates if o.key in created)
    done.created += len(plan.creates)
    events: list[Event] = []
    done.quarantine_resolved += _resolve_quarantines(cur, source, plan.creates, now, events)
    done.quarantined += len(plan.quarantines)
    done.newly_quarantined += _quarantine(cur, source, plan.quarantines, batch_id, now, events)
    events.extend(event for _, event in plan.duplicates)
    done.duplicates += len(plan.duplicates)
    Store.record_events(cur, changes)
    _record_created(cur, created, now)
    Store.record_events(cur, events)
    return done


def _write_alone(
    store: Store,
    cur: Any,
    config: OnboardingConfig,
    source: str,
    verdict: Order | Rejected,
    plan: _Plan,
    batch_id: str,
    now: datetime,
) -> ProcessSummary:
    """Write one verdict under its own savepoint; if the store refuses it, quarantine it with the store's reason.

    Should even that be refused, the order is quarantined under the id
    ``unknown`` with its record kept as text; only a failure of the store
    itself is raised.
    """
    try:
        with store.conn.transaction():
            return _write(cur, config, source, plan, batch_id, now)
    except Exception as exc:
        if not order_at_fault(exc):
            raise
        refusal = Problem("record", f"the onboarding store refused the order: {error_text(exc)}")
    problems = verdict.problems if isinstance(verdict, Rejected) else ()
    payload = verdict.record if isinstance(verdict, Rejected) else verdict.payload
    refused = Rejected(
        verdict.crm_deal_id, verdict.order_number, verdict.crm_modified_at, (*problems, refusal), payload
    )
    log.error("intake batch %s: CRM deal %s: %s", batch_id, verdict.crm_deal_id[:100], refusal)
    try:
        with store.conn.transaction():
            return _write(cur, config, source, _Plan(quarantines=[refused]), batch_id, now)
    except Exception as exc:
        if not order_at_fault(exc):
            raise
        again = Problem("record", f"could not be quarantined as received either: {error_text(exc)}")
    record = {"id": verdict.crm_deal_id, UNSTORABLE: clean_text(repr(payload))}
    last = Rejected("unknown", None, None, (*refused.problems, again), record)
    return _write(cur, config, source, _Plan(quarantines=[last]), batch_id, now)


def _conflict(order: Order, known: dict[str, Any]) -> Rejected | None:
    """A change to a field the running onboarding depends on, as a quarantine; ``None`` if there is none."""
    current = {
        "tier": known["tier"],
        "region": known["region"],
        "order_number": known["order_number"],
        "signed_at": known["signed_at"],
    }
    conflicts = [name for name in IMMUTABLE_FIELDS if current[name] != getattr(order, name)]
    if not conflicts:
        return None
    changes = ", ".join(f"{name} {current[name]!s} -> {getattr(order, name)!s}" for name in conflicts)
    return Rejected(
        order.crm_deal_id,
        order.order_number,
        order.crm_modified_at,
        (Problem(conflicts[0], f"conflicts with onboarding {known['onboarding_key']} already under way ({changes})"),),
        order.payload,
    )


_CHANGED = Scratch(
    "intake_changed_onboardings",
    (
        ("id", "bigint"), ("account_name", "text"), ("account_domain", "text"), ("segment", "text"),
        ("addons", "text[]"), ("amount", "numeric"), ("currency", "text"), ("partner_name", "text"),
        ("primary_contact_name", "text"), ("primary_contact_email", "text"), ("sales_owner_id", "text"),
        ("crm_modified_at", "timestamptz"), ("order_fingerprint", "text"), ("order_payload", "jsonb"),
    ),
)  # fmt: skip


def _update_existing(cur: Any, changes: list[tuple[Order, dict[str, Any]]], now: datetime, events: list[Event]) -> None:
    """Apply CRM changes to running onboardings (changes without conflicts, see :func:`_conflict`).

    One UPDATE for them all: each onboarding is changed by one order at most.
    """
    if not changes:
        return
    _CHANGED.load(
        cur,
        (
            (
                n, known["id"], order.account_name, order.account_domain, order.segment, list(order.addons),
                order.amount, order.currency, order.partner_name, order.primary_contact_name,
                order.primary_contact_email, order.sales_owner_id, order.crm_modified_at, order.fingerprint,
                Jsonb(order.payload),
            )
            for n, (order, known) in enumerate(changes)
        ),
    )  # fmt: skip
    assignments = ", ".join(f"{name} = c.{name}" for name, _ in _CHANGED.columns if name != "id")
    cur.execute(
        f"""UPDATE {SCHEMA}.onboardings o SET {assignments}, updated_at = %s
            FROM pg_temp.{_CHANGED.name} c WHERE o.id = c.id""",
        (now,),
    )
    for order, known in changes:
        events.append(
            Event(
                subject=known["onboarding_key"],
                onboarding_id=known["id"],
                event_type="order.updated",
                actor=ACTOR,
                occurred_at=now,
                stage=known["stage"],
                stage_owner=known["stage_owner_email"],
                details={"order": order.business_fields()},
                dedupe_key=f"order.updated:{known['onboarding_key']}:{order.fingerprint}",
            )
        )


_ONBOARDING_COLUMNS = (
    ("onboarding_key", "text"), ("crm_source", "text"), ("crm_deal_id", "text"), ("order_number", "text"),
    ("account_name", "text"), ("account_domain", "text"), ("tier", "text"), ("region", "text"), ("segment", "text"),
    ("addons", "text[]"), ("amount", "numeric"), ("currency", "text"), ("partner_name", "text"),
    ("primary_contact_name", "text"), ("primary_contact_email", "text"), ("sales_owner_id", "text"),
    ("owner_email", "text"), ("stage", "text"), ("stage_owner_email", "text"), ("stage_entered_at", "timestamptz"),
    ("signed_at", "timestamptz"), ("activation_target", "date"), ("target_source", "text"),
    ("crm_modified_at", "timestamptz"), ("order_fingerprint", "text"), ("order_payload", "jsonb"),
    ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
)  # fmt: skip
_NEW = Scratch(
    "intake_new_onboardings",
    (*_ONBOARDING_COLUMNS, ("stage_owner_role", "text"), ("order_fields", "jsonb")),
)
_ONBOARDINGS = ", ".join(name for name, _ in _ONBOARDING_COLUMNS)
_PICKED_UP = "signed order picked up"
# Each new onboarding's first stage-history row is written by the statement that creates it,
# from the rows it created: an onboarding someone else created meanwhile gets none.
_CREATE = f"""
    WITH created AS (
        INSERT INTO {SCHEMA}.onboardings ({_ONBOARDINGS})
        SELECT {_ONBOARDINGS} FROM pg_temp.{_NEW.name} ORDER BY seq
        ON CONFLICT DO NOTHING
        RETURNING id, onboarding_key),
    history AS (
        INSERT INTO {SCHEMA}.stage_history (onboarding_id, stage, owner_email, owner_role, entered_at, reason)
        SELECT c.id, n.stage, n.stage_owner_email, n.stage_owner_role, n.stage_entered_at, %s
        FROM created c JOIN pg_temp.{_NEW.name} n ON n.onboarding_key = c.onboarding_key
        ORDER BY n.seq)
    SELECT id, onboarding_key FROM created"""
# The audit events of the onboardings created, from the same scratch rows: for each, in the
# order they were planned, onboarding.created (details: the order's business fields, the named
# owner, the activation target and its source) then stage.entered (details: the intake owner's
# role and the reason), as Event(...) would record them.
_CREATED_EVENTS = f"""
    INSERT INTO {SCHEMA}.events
        (occurred_at, onboarding_id, subject, event_type, stage, stage_owner, actor, details, dedupe_key)
    SELECT %(now)s, c.id, n.onboarding_key, e.event_type, n.stage, n.stage_owner_email, %(actor)s,
           CASE e.event_type
               WHEN 'onboarding.created' THEN jsonb_build_object(
                   'order', n.order_fields, 'named_owner', n.owner_email,
                   'activation_target', to_char(n.activation_target, 'YYYY-MM-DD'),
                   'target_source', n.target_source)
               ELSE jsonb_build_object('owner_role', n.stage_owner_role, 'reason', %(reason)s::text)
           END,
           CASE e.event_type
               WHEN 'onboarding.created' THEN 'onboarding.created:' || n.onboarding_key
               ELSE 'stage.entered:' || n.onboarding_key || ':' || n.stage
           END
    FROM unnest(%(ids)s::bigint[], %(keys)s::text[]) AS c(id, onboarding_key)
    JOIN pg_temp.{_NEW.name} n ON n.onboarding_key = c.onboarding_key
    CROSS JOIN (VALUES (1, 'onboarding.created'), (2, 'stage.entered')) AS e(turn, event_type)
    ORDER BY n.seq, e.turn
    ON CONFLICT (dedupe_key) DO NOTHING"""


def _create(cur: Any, config: OnboardingConfig, orders: list[Order], now: datetime) -> dict[str, int]:
    """Create onboardings, each with its first stage-history row, in one statement; return the ids by key.

    An onboarding someone else created meanwhile (same deal, key or order
    number) is left as it is.  Their audit events are recorded by
    :func:`_record_created`, from the scratch rows loaded here.
    """
    if not orders:
        return {}
    rows = []
    for n, o in enumerate(orders):
        owner = stage_owner(
            config.settings, config.tiers[o.tier], Stage.INTAKE, o.region, Assignment(o.owner_email, o.owner_role)
        )
        rows.append(
            (
                n, o.key, o.crm_source, o.crm_deal_id, o.order_number, o.account_name, o.account_domain, o.tier,
                o.region, o.segment, list(o.addons), o.amount, o.currency, o.partner_name, o.primary_contact_name,
                o.primary_contact_email, o.sales_owner_id, o.owner_email, Stage.INTAKE.value, owner.email, now,
                o.signed_at, o.activation_target, o.target_source, o.crm_modified_at, o.fingerprint,
                Jsonb(o.payload), now, now, owner.role, o.business_json,
            )
        )  # fmt: skip
    _NEW.load(cur, rows)
    cur.execute(_CREATE, (_PICKED_UP,))
    return {row["onboarding_key"]: row["id"] for row in cur.fetchall()}


def _record_created(cur: Any, created: dict[str, int], now: datetime) -> None:
    """Record the audit events of the onboardings :func:`_create` created, in one INSERT."""
    if created:
        cur.execute(
            _CREATED_EVENTS,
            {"now": now, "actor": ACTOR, "reason": _PICKED_UP, "ids": list(created.values()), "keys": list(created)},
        )


_QUARANTINE = Scratch(
    "intake_quarantined_orders",
    (
        ("crm_deal_id", "text"), ("order_number", "text"), ("crm_modified_at", "timestamptz"), ("payload", "jsonb"),
        ("payload_fingerprint", "text"), ("reasons", "jsonb"),
    ),
)  # fmt: skip


def _quarantine(
    cur: Any, source: str, rejected: list[Rejected], batch_id: str, now: datetime, events: list[Event]
) -> int:
    """Record rejected orders; return how many were not already in quarantine as they are.

    Set-based, with the outcome of recording them one after the other: a
    version of a deal supersedes its other open versions, and a version
    already in quarantine is seen again rather than added.  Where two orders
    would meet in one statement (two versions of one deal, two identical
    records without an id), the second starts the next run of orders, and
    runs are written one after the other.
    """
    if not rejected:
        return 0
    runs: list[list[Rejected]] = [[]]
    meeting: set[tuple[str, str]] = set()
    for item in rejected:
        # Records without an id are not versions of one another: only identical ones meet.
        meets = ("deal", item.crm_deal_id) if item.crm_deal_id != "unknown" else ("record", item.fingerprint)
        if meets in meeting:
            runs.append([])
            meeting.clear()
        meeting.add(meets)
        runs[-1].append(item)
    new = sum(_quarantine_run(cur, source, items, batch_id, now) for items in runs)
    for item in rejected:
        reasons = [{"field": p.field, "problem": p.problem} for p in item.problems]
        log.warning("quarantined order %s-%s: %s", source, item.crm_deal_id, "; ".join(map(str, item.problems)))
        events.append(
            Event(
                subject=f"order:{source}-{item.crm_deal_id}",
                event_type="order.quarantined",
                actor=ACTOR,
                occurred_at=now,
                stage=Stage.INTAKE.value,
                details={"order_number": item.order_number, "reasons": reasons},
                dedupe_key=f"order.quarantined:{source}:{item.crm_deal_id}:{item.fingerprint}",
            )
        )
    return new


def _quarantine_run(cur: Any, source: str, items: list[Rejected], batch_id: str, now: datetime) -> int:
    """Record rejected orders of which no two meet (see :func:`_quarantine`): one UPDATE, one upsert."""
    versions = [(item.crm_deal_id, item.fingerprint) for item in items if item.crm_deal_id != "unknown"]
    if versions:
        cur.execute(
            f"""UPDATE {SCHEMA}.quarantined_orders q
                   SET status = 'resolved', resolved_at = %s,
                       resolution = 'superseded by a newer version of the order'
                  FROM unnest(%s::text[], %s::text[]) AS v(crm_deal_id, payload_fingerprint)
                 WHERE q.crm_source = %s AND q.crm_deal_id = v.crm_deal_id AND q.status = 'open'
                   AND q.payload_fingerprint <> v.payload_fingerprint""",
            (now, [deal for deal, _ in versions], [fp for _, fp in versions], source),
        )
    _QUARANTINE.load(
        cur,
        (
            (
                n, item.crm_deal_id, item.order_number, item.crm_modified_at, Jsonb(item.record), item.fingerprint,
                Jsonb([{"field": p.field, "problem": p.problem} for p in item.problems]),
            )
            for n, item in enumerate(items)
        ),
    )  # fmt: skip
    cur.execute(
        f"""INSERT INTO {SCHEMA}.quarantined_orders AS q (
                crm_source, crm_deal_id, order_number, crm_modified_at, payload, payload_fingerprint, reasons,
                first_seen_at, last_seen_at, first_batch_id, last_batch_id)
            SELECT %s, crm_deal_id, order_number, crm_modified_at, payload, payload_fingerprint, reasons,
                   %s, %s, %s, %s
            FROM pg_temp.{_QUARANTINE.name} ORDER BY seq
            ON CONFLICT (crm_source, crm_deal_id, payload_fingerprint) DO UPDATE SET
                last_seen_at = EXCLUDED.last_seen_at,
                seen_in_batches = q.seen_in_batches + CASE WHEN q.last_batch_id = EXCLUDED.last_batch_id
                                                           THEN 0 ELSE 1 END,
                last_batch_id = EXCLUDED.last_batch_id,
                reasons = EXCLUDED.reasons,
                status = CASE WHEN q.status = 'dismissed' THEN 'dismissed' ELSE 'open' END,
                resolved_at = NULL, resolution = NULL
            RETURNING (xmax = 0) AS inserted""",
        (source, now, now, batch_id, batch_id),
    )
    return sum(1 for row in cur.fetchall() if row["inserted"])


def _resolve_quarantines(cur: Any, source: str, created: list[Order], now: datetime, events: list[Event]) -> int:
    """Close the open quarantine entries of orders that have now become onboardings (one statement)."""
    if not created:
        return 0
    by_deal = {o.crm_deal_id: o for o in created}
    cur.execute(
        f"""UPDATE {SCHEMA}.quarantined_orders q
               SET status = 'resolved', resolved_at = %s,
                   resolution = 'a corrected version became onboarding ' || r.onboarding_key
              FROM unnest(%s::text[], %s::text[]) AS r(crm_deal_id, onboarding_key)
             WHERE q.crm_source = %s AND q.crm_deal_id = r.crm_deal_id AND q.status = 'open'
         RETURNING q.id, q.crm_deal_id, q.resolution""",
        (now, list(by_deal), [o.key for o in by_deal.values()], source),
    )
    resolved: dict[str, list[int]] = {}
    resolutions: dict[str, str] = {}
    for row in cur.fetchall():
        resolved.setdefault(row["crm_deal_id"], []).append(row["id"])
        resolutions[row["crm_deal_id"]] = row["resolution"]
    for deal_id, ids in resolved.items():
        events.append(
            Event(
                subject=f"order:{source}-{deal_id}",
                event_type="order.quarantine_resolved",
                actor=ACTOR,
                occurred_at=now,
                details={"resolution": resolutions[deal_id], "quarantine_ids": ids},
                dedupe_key=f"order.quarantine_resolved:{source}:{deal_id}:{min(ids)}",
            )
        )
    return sum(len(ids) for ids in resolved.values())


def commit_batch(store: Store, config: OnboardingConfig, batch_id: str, clock: Clock) -> dict[str, Any]:
    """Advance the watermark to the batch's newest record, once processing succeeded."""
    source = config.settings.intake.crm_source
    now = clock.now()
    with store.transaction() as cur:
        cur.execute(
            f"SELECT status, high_water, counts, read_from FROM {SCHEMA}.intake_batches WHERE batch_id = %s FOR UPDATE",
            (batch_id,),
        )
        batch = cur.fetchone()
        if batch is None or batch["status"] not in ("processed", "committed"):
            state = batch["status"] if batch else "missing"
            raise RuntimeError(f"intake batch {batch_id!r} is {state}, not processed: the watermark stays where it is")
        if batch["high_water"] is not None:
            cur.execute(
                f"""INSERT INTO {SCHEMA}.intake_watermarks (source, high_water, batch_id, updated_at)
                    VALUES (%s, %s, %s, %s)
                    ON CONFLICT (source) DO UPDATE SET
                        high_water = GREATEST({SCHEMA}.intake_watermarks.high_water, EXCLUDED.high_water),
                        batch_id = EXCLUDED.batch_id, updated_at = EXCLUDED.updated_at""",
                (source, batch["high_water"], batch_id, now),
            )
        cur.execute(
            f"UPDATE {SCHEMA}.intake_batches SET status = 'committed', finished_at = %s WHERE batch_id = %s",
            (now, batch_id),
        )
        # Staged records are only needed until their batch is committed and a week has passed.
        cur.execute(
            f"""DELETE FROM {SCHEMA}.intake_batch_orders WHERE batch_id IN (
                    SELECT batch_id FROM {SCHEMA}.intake_batches
                    WHERE status = 'committed' AND finished_at < %s)""",
            (now - timedelta(days=7),),
        )
        cur.execute(f"SELECT high_water FROM {SCHEMA}.intake_watermarks WHERE source = %s", (source,))
        row = cur.fetchone()
        watermark = row["high_water"] if row else None
        Store.record_events(
            cur,
            [
                Event(
                    subject="intake",
                    event_type="intake.pickup_committed",
                    actor=ACTOR,
                    occurred_at=now,
                    details={"batch_id": batch_id, "counts": batch["counts"], "watermark": str(watermark)},
                    dedupe_key=f"intake.pickup_committed:{batch_id}",
                )
            ],
        )
    return {"batch_id": batch_id, "watermark": watermark.isoformat() if watermark else None, **batch["counts"]}


def open_quarantine(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """Orders waiting on a person, newest first."""
    return store.query(f"SELECT * FROM {SCHEMA}.open_quarantine LIMIT %s", (limit,))


# --------------------------------------------------------------------------- starting the tier runs

MAX_RUNS_PER_PICKUP = 1000  # below Airflow's max_map_length (1024); the rest start at the next pickup


def run_id_for(onboarding_key: str) -> str:
    """The tier DAG run that carries one onboarding: derived from its key, so a repeat starts nothing."""
    return f"onboarding__{onboarding_key}"


def runs_to_start(
    store: Store, config: OnboardingConfig, clock: Clock, limit: int = MAX_RUNS_PER_PICKUP
) -> list[dict[str, Any]]:
    """Trigger arguments for every open onboarding without a run yet (oldest first).

    Accounts whose tier has no configuration any more are not started: they
    are marked blocked with the reason and logged for a person to settle.
    """
    now = clock.now()
    rows = store.query(
        f"""SELECT id, onboarding_key, tier, region, activation_target, stage, stage_owner_email
            FROM {SCHEMA}.onboardings
            WHERE status = 'open' AND run_triggered_at IS NULL AND blocked_reason IS NULL
            ORDER BY created_at, id LIMIT %s""",
        (limit,),
    )
    runs = []
    orphans = []
    for row in rows:
        if row["tier"] not in config.tiers:
            orphans.append(row)
            continue
        conf = {"onboarding_key": row["onboarding_key"], "activation_target": row["activation_target"].isoformat()}
        region = config.settings.regions.get(row["region"])
        if region is not None:
            # Read by the run's deadline alert: the named owner hears before the target slips.
            lead = config.settings.runs.target_warning_business_days
            warn = target_warning_at(region, row["activation_target"], lead)
            conf[TARGET_WARNING_KEY] = warn.isoformat()
        runs.append(
            {
                "trigger_dag_id": f"onboarding_{row['tier']}",
                "trigger_run_id": run_id_for(row["onboarding_key"]),
                "conf": conf,
            }
        )
    if orphans:
        with store.transaction() as cur:
            for row in orphans:
                reason = (
                    f"tier {row['tier']!r} has no configuration file any more"
                    f" (include/config/tiers/{row['tier']}.yaml); restore it or move the account to another tier"
                )
                log.error("onboarding %s not started: %s", row["onboarding_key"], reason)
                cur.execute(
                    f"UPDATE {SCHEMA}.onboardings SET blocked_reason = %s, updated_at = %s WHERE id = %s",
                    (reason, now, row["id"]),
                )
                Store.record_events(
                    cur,
                    [
                        Event(
                            subject=row["onboarding_key"],
                            onboarding_id=row["id"],
                            event_type="onboarding.blocked",
                            actor=ACTOR,
                            occurred_at=now,
                            stage=row["stage"],
                            stage_owner=row["stage_owner_email"],
                            details={"reason": reason},
                            dedupe_key=f"onboarding.blocked:{row['onboarding_key']}:tier-removed",
                        )
                    ],
                )
    return runs


def mark_runs_started(store: Store, runs: list[dict[str, Any]], clock: Clock) -> int:
    """Record which run carries each onboarding (after the trigger succeeded or found it existing)."""
    if not runs:
        return 0
    now = clock.now()
    with store.transaction() as cur:
        cur.executemany(
            f"""UPDATE {SCHEMA}.onboardings SET run_id = %s, run_triggered_at = COALESCE(run_triggered_at, %s)
                WHERE onboarding_key = %s""",
            [(r["trigger_run_id"], now, r["conf"]["onboarding_key"]) for r in runs],
        )
        Store.record_events(
            cur,
            [
                Event(
                    subject=r["conf"]["onboarding_key"],
                    event_type="run.started",
                    actor=ACTOR,
                    occurred_at=now,
                    details={"dag_id": r["trigger_dag_id"], "run_id": r["trigger_run_id"]},
                    dedupe_key=f"run.started:{r['trigger_run_id']}",
                )
                for r in runs
            ],
        )
    return len(runs)
