"""Judging one CRM deal: a table of per-field rules, walked in order.

Each :class:`FieldRule` names the CRM property it reads, the order field it
fills, whether the order needs it, and a small pure check that parses the
property's trimmed text and returns the value or a :class:`Refused` with the
problem.  :func:`normalise` walks :data:`RULES` in order, so a check can rely
on what earlier rules found (the segment is checked against the tier, the
owner and the activation target need the tier, the region and the signing
date), and collects every problem, not just the first.

Before the table: a record that is no CRM deal object is refused outright;
every property must be text (or absent), and a value of another type is
reported as such and not again as missing or invalid; the deal id and the
modification time identify the record.  Dates must fall in the accepted range
(:data:`~include.onboarding.clients.crm.EARLIEST_DATE` to
:data:`~include.onboarding.clients.crm.LATEST_DATE`), so a placeholder such as
9999-12-31 can neither break date arithmetic nor, as a modification time,
carry the watermark past every later change.

:func:`judge` adds what staging found and never raises: an error no check
foresaw quarantines that order with the error's text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from include.onboarding.calendar import region_calendar
from include.onboarding.clients.crm import EARLIEST_DATE, LATEST_DATE, record_modified_at, within_date_range
from include.onboarding.config import OnboardingConfig, Stage
from include.onboarding.intake.cleaning import UNSTORABLE, error_text
from include.onboarding.intake.orders import Order, Problem, Rejected, deal_key, text_value
from include.onboarding.owners import NoOwner, named_owner, stage_owner

log = logging.getLogger(__name__)

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_DATE_RANGE = f"the accepted range {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}"


@dataclass(frozen=True, slots=True)
class Refused:
    """A check's answer for a value the order cannot have: the problem, in words an ops engineer can act on."""

    problem: str


Found = dict[str, Any]
"""What the rules walked so far filled, by order field (``None`` where a value was missing or refused)."""
Check = Callable[[Any, Found, OnboardingConfig], Any]
"""``check(text, found, config)``: the value for the order, or a :class:`Refused`."""


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One property of a CRM deal and what the order makes of it."""

    crm_property: str
    fills: str
    """The order field the value fills (the owner rule fills ``owner``: an email and a role)."""
    required: bool
    """A blank value is the problem :attr:`missing`; an optional one fills ``None`` unchecked."""
    check: Check | None = None
    """Parses and checks the trimmed text; ``None`` keeps the text as it is."""
    missing: str = ""
    also: str | None = None
    """A second property read when the first is blank (the deal name stands in for the company name)."""
    judges_blank: bool = False
    """The check also decides what a blank value means, as that depends on other fields (e.g. the tier)."""
    field: str | None = None
    """The field problems name, when not the property (the owner is not one property)."""

    @property
    def problem_field(self) -> str:
        return self.field or self.crm_property


# --------------------------------------------------------------------------- the checks


def _parse_timestamp(raw: str) -> datetime:
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def signed_stage(raw: str | None, found: Found, config: OnboardingConfig) -> Any:
    wanted = config.settings.intake.signed_stage
    return raw if raw == wanted else Refused(f"{raw!r} is not the signed stage {wanted!r}")


def tier(raw: str, found: Found, config: OnboardingConfig) -> Any:
    known = config.tier_for_crm_value(raw)
    if known is None:
        values = sorted(v for t in config.tiers.values() for v in t.crm_tier_values)
        return Refused(f"unknown tier {raw!r} (known: {', '.join(values)})")
    return known


def domain(raw: str, found: Found, config: OnboardingConfig) -> Any:
    name = raw.lower().removeprefix("www.")
    return name if _DOMAIN.match(name) else Refused(f"{name!r} is not a domain name")


def region(raw: str, found: Found, config: OnboardingConfig) -> Any:
    served = config.settings.regions
    if raw not in served:
        return Refused(f"no owner resolvable: region {raw!r} is not served (known: {', '.join(served)})")
    return raw


def segment(raw: str, found: Found, config: OnboardingConfig) -> Any:
    of_tier = found["tier"]
    if of_tier is not None and raw not in of_tier.segments:
        return Refused(f"{raw!r} is not a {of_tier.key} segment ({', '.join(of_tier.segments)})")
    return raw


def email(raw: str, found: Found, config: OnboardingConfig) -> Any:
    from include.onboarding.validators.emails import BadAddress, normalised_address

    address = normalised_address(raw)
    if isinstance(address, BadAddress):
        return Refused(f"{raw!r} is not a valid email address: {address.reason}")
    return address


def signing_time(raw: str, found: Found, config: OnboardingConfig) -> Any:
    try:
        moment = _parse_timestamp(raw)
    except ValueError:
        return Refused(f"{raw!r} is not an ISO 8601 date or timestamp")
    return moment if within_date_range(moment) else Refused(f"{raw!r} is outside {_DATE_RANGE}")


def amount(raw: str, found: Found, config: OnboardingConfig) -> Any:
    try:
        value = Decimal(raw).quantize(Decimal("0.01"))
        if value < 0 or not value.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        return Refused(f"{raw!r} is not a non-negative amount")
    return value


def partner(raw: str | None, found: Found, config: OnboardingConfig) -> Any:
    if raw is None and found["tier"] is not None and found["tier"].key == "partner":
        return Refused("missing: partner-led orders name the partner")
    return raw


def addons(raw: str | None, found: Found, config: OnboardingConfig) -> Any:
    return tuple(sorted({a.strip().lower() for a in (raw or "").split(";") if a.strip()}))


def owner(raw: str | None, found: Found, config: OnboardingConfig) -> Any:
    """The named owner (the one the order names, else the tier's role holder in the region), who owns intake too."""
    of_tier, in_region = found["tier"], found["region"]
    if of_tier is None or in_region is None:
        return None  # the order is refused for its tier or region already
    try:
        assignment = named_owner(config.settings, of_tier, in_region, raw)
        stage_owner(config.settings, of_tier, Stage.INTAKE, in_region, assignment)
    except NoOwner as exc:
        return Refused(f"no owner resolvable: {exc}")
    return assignment


def activation_target(raw: str | None, found: Found, config: OnboardingConfig) -> Any:
    """The committed go-live date, else the tier's business days from the signing day on the region's calendar."""
    target: date | None = None
    if raw is not None:
        try:
            target = date.fromisoformat(raw[:10])
        except ValueError:
            return Refused(f"{raw!r} is not an ISO date")
        if not within_date_range(target):
            return Refused(f"{raw!r} is outside {_DATE_RANGE}")
    signed_at, in_region, of_tier = found["signed_at"], found["region"], found["tier"]
    if signed_at is None or in_region is None:
        return target  # the order is refused for its signing date or region already
    served = config.settings.regions[in_region]
    local_signing = signed_at.astimezone(ZoneInfo(served.timezone)).date()
    if target is not None:
        if target < local_signing:
            return Refused(f"{target.isoformat()} is before the order was signed ({local_signing.isoformat()})")
        return target
    if of_tier is None:
        return None
    return region_calendar(served).add_business_days(local_signing, of_tier.activation_target_business_days)


# --------------------------------------------------------------------------- the table

RULES: tuple[FieldRule, ...] = (
    FieldRule("order_number", "order_number", required=False),
    FieldRule("dealstage", "dealstage", required=True, check=signed_stage, judges_blank=True),
    FieldRule(
        "onboarding_tier", "tier", required=True, check=tier,
        missing="missing: the order does not say which onboarding tier it is",
    ),
    FieldRule(
        "company_name", "account_name", required=True, also="dealname", missing="missing: no company name on the deal"
    ),
    FieldRule("company_domain", "account_domain", required=False, check=domain),
    FieldRule(
        "region", "region", required=True, check=region, missing="missing: cannot choose an owner or a holiday calendar"
    ),
    FieldRule("segment", "segment", required=False, check=segment),
    FieldRule(
        "primary_contact_email", "primary_contact_email", required=True, check=email,
        missing="missing: nobody to send the onboarding checklist to",
    ),
    FieldRule(
        "closedate", "signed_at", required=True, check=signing_time,
        missing="missing: the signing date starts the activation clock",
    ),
    FieldRule("amount", "amount", required=False, check=amount),
    FieldRule("partner_name", "partner_name", required=False, check=partner, judges_blank=True),
    FieldRule("addons", "addons", required=False, check=addons, judges_blank=True),
    FieldRule("onboarding_owner_email", "owner", required=False, check=owner, judges_blank=True, field="owner"),
    FieldRule(
        "committed_go_live_date", "activation_target", required=False, check=activation_target, judges_blank=True
    ),
    FieldRule("deal_currency_code", "currency", required=False),
    FieldRule("primary_contact_name", "primary_contact_name", required=False),
    FieldRule("hubspot_owner_id", "sales_owner_id", required=False),
)  # fmt: skip
"""Every property an order is made of, in the order problems are listed."""

# The table as plain tuples: the judging loop runs for every order of every pickup.
_STEPS = tuple(
    (r.crm_property, r.also, r.fills, r.problem_field, r.required and not r.judges_blank, r.missing, r.check,
     r.judges_blank)
    for r in RULES
)  # fmt: skip


def walk(props: dict[str, Any], config: OnboardingConfig, problems: list[Problem]) -> Found:
    """What the rules make of ``props``, in table order; each problem found is appended to ``problems``."""
    found: Found = {}
    for prop, also, fills, problem_field, required, missing, check, judges_blank in _STEPS:
        value = props.get(prop)
        raw = (value.strip() or None) if isinstance(value, str) else None
        if raw is None and also is not None:
            raw = text_value(props, also)
        if raw is None and not judges_blank:
            if required:
                problems.append(Problem(problem_field, missing))
            found[fills] = None
            continue
        result = raw if check is None else check(raw, found, config)
        if type(result) is Refused:
            problems.append(Problem(problem_field, result.problem))
            result = None
        found[fills] = result
    return found


# --------------------------------------------------------------------------- before the table


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


def _modified_problem(record: dict[str, Any], props: dict[str, Any]) -> str:
    """Why a record has no usable modification time."""
    raw = text_value(props, "hs_lastmodifieddate") or text_value(record, "updatedAt")
    if raw is not None:
        try:
            _parse_timestamp(raw)
            return f"{raw!r} is outside {_DATE_RANGE}"  # readable, but not believable
        except ValueError:
            pass
    return "missing or not an ISO 8601 timestamp"


# --------------------------------------------------------------------------- judging


def normalise(record: Any, config: OnboardingConfig) -> Order | Rejected:
    """Validate one raw CRM deal against :data:`RULES`.  Collects every problem, not just the first."""
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
    deal_id = text_value(record, "id") or text_value(props, "hs_object_id")
    if deal_id is None:
        problems.append(Problem("id", "the deal has no id"))
    modified = record_modified_at(record)
    if modified is None:
        problems.append(Problem("hs_lastmodifieddate", _modified_problem(record, props)))
    found = walk(props, config, problems)
    if mistyped:  # a mistyped field is reported once, as mistyped, not again as missing
        problems = mistyped + [p for p in problems if p.field not in {m.field for m in mistyped}]
    if problems or deal_id is None or modified is None:
        return Rejected(deal_id or "unknown", found["order_number"], modified, tuple(problems), record)
    return Order(
        crm_source=config.settings.intake.crm_source,
        crm_deal_id=deal_id,
        order_number=found["order_number"],
        account_name=found["account_name"],
        account_domain=found["account_domain"],
        tier=found["tier"].key,
        region=found["region"],
        segment=found["segment"],
        addons=found["addons"],
        amount=found["amount"],
        currency=found["currency"],
        partner_name=found["partner_name"],
        primary_contact_name=found["primary_contact_name"],
        primary_contact_email=found["primary_contact_email"],
        sales_owner_id=found["sales_owner_id"],
        owner_email=found["owner"].email,
        owner_role=found["owner"].role,
        signed_at=found["signed_at"],
        activation_target=found["activation_target"],
        target_source="committed" if text_value(props, "committed_go_live_date") else "tier_default",
        crm_modified_at=modified,
        payload=record,
    )


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
