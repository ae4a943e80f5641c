"""Onboarding configuration: company settings and one YAML file per tier.

Configuration is data.  It is validated here, at the edge, into typed models;
everything below trusts the models.  A bad file never silently drops a tier:
loading raises :class:`ConfigError` naming the file and the field, which shows
up as an import error on the DAG in the Airflow UI and fails the test suite.

Layout (``include/config`` by default, ``ONBOARDING_CONFIG_DIR`` to override)::

    settings.yaml        intake settings, regions and holiday calendars,
                         the people directory and who holds each role per region
    tiers/<tier>.yaml    one onboarding path per tier (enterprise, smb, partner, ...)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import Enum
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from include.onboarding.exceptions import ConfigError as ConfigError

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"

KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
Key = Annotated[str, Field(pattern=KEY_PATTERN, min_length=1, max_length=63)]


class Model(BaseModel):
    """Strict base: unknown fields are errors, so a typo never passes silently.

    Validators are built when first needed rather than at import: a task process that finds the
    configuration in the load cache (:func:`load_config`) never needs them."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# --------------------------------------------------------------------------- settings


class IntakeSettings(Model):
    schedule: str = "*/15 * * * *"
    """Cron schedule of the batch pickup; ``ONBOARDING_INTAKE_SCHEDULE`` overrides it."""
    crm_source: Key = "hubspot"
    page_size: int = Field(default=100, ge=1, le=200)
    lookback_minutes: int = Field(default=5, ge=0, le=1440)
    """Re-read this much before the watermark: CRM timestamps can land slightly late."""
    signed_stage: str = "closedwon"
    max_attempts: int = Field(default=6, ge=1, le=20)
    """Attempts per CRM request on 429, 5xx, timeouts and garbled responses."""
    max_retry_after_seconds: float = Field(default=120, gt=0)
    start_from: datetime | None = None
    """Where the very first pickup starts reading; older signed deals are history, not new work."""

    @field_validator("start_from")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("start_from needs a timezone (for example 2026-01-01T00:00:00Z)")
        return value


class BusinessHours(Model):
    """The working day in a region's local time; business-hour SLAs count only these hours."""

    start: str = Field(default="09:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    end: str = Field(default="17:00", pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$")

    @model_validator(mode="after")
    def _ordered(self) -> BusinessHours:
        if self.end_seconds <= self.start_seconds:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self

    @property
    def start_seconds(self) -> int:
        hours, minutes = self.start.split(":")
        return int(hours) * 3600 + int(minutes) * 60

    @property
    def end_seconds(self) -> int:
        hours, minutes = self.end.split(":")
        return min(int(hours) * 3600 + int(minutes) * 60, 86400)

    @property
    def day_seconds(self) -> int:
        """Length of one business day: one business day of SLA is this many working seconds."""
        return self.end_seconds - self.start_seconds


class Region(Model):
    country: str = Field(min_length=2, max_length=3)
    """ISO country code of the holiday calendar (``holidays`` package)."""
    subdivision: str | None = None
    timezone: str
    business_hours: BusinessHours = BusinessHours()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _known_calendar(self) -> Region:
        check_calendar(self.country, self.subdivision)
        return self


def check_calendar(country: str, subdivision: str | None) -> None:
    """Raise ``ValueError`` unless the ``holidays`` package has a calendar for the country and subdivision.

    Importing ``holidays`` and looking a country up takes a few hundred milliseconds, and the
    configuration is loaded by every DAG file, in the dag-processor and again in every task process
    before its task runs.  So a calendar found once is remembered by an empty marker file in
    :func:`cache_dir`, named by a hash of the country, the subdivision and the installed ``holidays``
    package (a reinstall or upgrade checks again).  Only calendars that exist are remembered; when the
    directory cannot be written, every load checks.
    """
    marker = _calendar_marker(country, subdivision)
    if marker is not None and marker.exists():
        return
    import holidays

    try:
        holidays.country_holidays(country, subdiv=subdivision, years=2026)
    except NotImplementedError as exc:
        raise ValueError(f"no holiday calendar for country {country!r} subdivision {subdivision!r}: {exc}") from exc
    if marker is not None:
        try:
            marker.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            marker.touch()  # empty, so processes creating it at once cannot leave it half written
        except OSError:
            pass


def cache_dir() -> Path:
    """Where loading remembers checks it need not repeat: ``ONBOARDING_CACHE_DIR``, else the user's cache."""
    explicit = os.environ.get("ONBOARDING_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "onboarding"


def _calendar_marker(country: str, subdivision: str | None) -> Path | None:
    installed = _holidays_installation()
    if installed is None:
        return None
    try:
        directory = cache_dir()
    except RuntimeError:  # no home directory to hold the user's cache
        return None
    key = hashlib.sha256(json.dumps([country, subdivision, installed]).encode()).hexdigest()[:32]
    return directory / "calendars" / key


@cache
def _holidays_installation() -> str | None:
    """Identifies the installed ``holidays`` package without importing it: its location, and the size and
    modification time of its country registry (rewritten by every install)."""
    try:
        spec = importlib.util.find_spec("holidays")
        if spec is None or spec.origin is None:
            return None
        registry = Path(spec.origin).with_name("registry.py")
        stat = registry.stat()
    except (ImportError, ValueError, OSError):
        return None
    return f"{registry}:{stat.st_size}:{stat.st_mtime_ns}"


class Person(Model):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    name: str = Field(min_length=1)
    slack_connection: str | None = None
    """Airflow connection id of the Slack incoming webhook that reaches this person."""
    manager: str | None = None
    """Email of the person escalations climb to after this one."""
    airflow_user: str | None = Field(default=None, min_length=1)
    """The id Airflow's auth manager knows this person by, when it is not their email: approvals are
    assigned to it, and only that user may answer them (see the README's Approvals section)."""

    @property
    def airflow_id(self) -> str:
        """Who this person is to Airflow: ``airflow_user``, else the email."""
        return self.airflow_user or self.email


class RunSettings(Model):
    """How the per-account runs of the tier DAGs wait and call out."""

    poke_seconds: float = Field(default=300, gt=0)
    """How often a waiting sensor looks again (``ONBOARDING_POKE_SECONDS`` overrides)."""
    input_timeout_days: float = Field(default=30, gt=0)
    """How long the checklist sensors wait for the customer before failing (and escalating)."""
    approval_timeout_business_days: float = Field(default=10, gt=0)
    """An approval request nobody answers expires after this much business time of the account's region,
    and its expiry is escalated (``approvals[].timeout_business_days`` overrides it per approval)."""
    provisioning_timeout_hours: float = Field(default=24, gt=0)
    max_active_runs: int = Field(default=500, ge=1)
    """Concurrent onboardings per tier; most of them are waiting on people, not using workers."""
    ticket_project: str = "ONB"
    """Jira project key for implementation tickets."""
    ticket_subtask_type: str | None = None
    """Name of the Jira issue type for sub-tasks; by default found in the project's create metadata."""
    ticket_search_lag_seconds: float = Field(default=30, ge=0)
    """How long Jira's search may not yet show an issue just created; a lost create is looked up that long."""
    billing_search_lag_seconds: float = Field(default=60, ge=0)
    """How long Stripe's search may not yet show a customer just created."""
    max_attempts: int = Field(default=6, ge=1, le=20)
    max_retry_after_seconds: float = Field(default=120, gt=0)
    target_warning_business_days: int = Field(default=3, ge=0, le=60)
    """The run's deadline alert warns the named owner this many business days before the activation target."""


class EscalationSettings(Model):
    """The escalation pass over every open onboarding, and how its notices reach people."""

    schedule: str = "*/15 * * * *"
    """Cron schedule of ``onboarding_escalations`` (``ONBOARDING_ESCALATION_SCHEDULE`` overrides)."""
    max_deliveries_per_pass: int = Field(default=500, ge=1)
    """Slack posts per pass; the rest wait (as pending) for the next pass, oldest first."""
    slack_rate_limit_retries: int = Field(default=3, ge=0, le=10)
    """Retries of a Slack post answered 429, each after the Retry-After Slack sent."""
    airflow_base_url: str | None = None
    """Base URL of the Airflow UI for run links (default: Airflow's ``[api] base_url``)."""
    customer_silent_business_days: float = Field(default=3, gt=0)
    """A customer who sent nothing for this long while critical inputs are out is escalated to the stage owner.
    Every tier's customer reminders (``reminders.after_business_days``) come before it."""
    max_reminders_per_pass: int = Field(default=500, ge=1)
    """Customer reminders one pass queues at most, the longest-waiting customers first; the rest are still
    due at the next pass (a first pass over a backlog would otherwise issue thousands of links at once)."""


class ReportingSettings(Model):
    schedule: str = "30 5 * * *"
    """Daily run of ``onboarding_reporting`` (UTC; ``ONBOARDING_REPORTING_SCHEDULE`` overrides).
    It also runs whenever the onboarding DAGs publish new events."""


class PortalSettings(Model):
    """The customer portal (``python -m include.portal``): its address, magic links and uploads."""

    base_url: str = Field(default="http://127.0.0.1:8790", pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    """Where customers reach the portal; magic links in emails start with it (``ONBOARDING_PORTAL_URL`` overrides)."""
    secret_env: str = Field(default="ONBOARDING_PORTAL_SECRET", pattern=r"^[A-Z_][A-Z0-9_]*$")
    """Environment variable holding the key magic links are signed with (never in this file)."""
    secret_connection: str = Field(default="portal_secret", pattern=r"^[A-Za-z0-9_]+$")
    """Airflow connection whose password is the signing key, used when the variable is not set."""
    link_business_days: int = Field(default=10, ge=1, le=90)
    """A magic link works this many business days (of the account's region) after it is sent."""
    max_upload_mb: float = Field(default=25, gt=0, le=100)
    """Largest upload the portal reads at all; each document item also has its own, usually smaller, limit."""
    storage_root: str | None = None
    """Where uploaded documents go: ``file:///...``, ``s3://bucket/prefix`` or ``gs://...`` (an Airflow
    ObjectStoragePath); ``ONBOARDING_PORTAL_STORAGE`` overrides; by default a folder in the user's data directory."""
    support_email: str = Field(default="onboarding@example.com", pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    """Who a visitor with an unusable link that names no account is told to write to."""
    bad_tokens_per_window: int = Field(default=10, ge=1)
    """Unusable links one client may open per window before the portal answers 429."""
    bad_token_window_seconds: float = Field(default=300, gt=0)


class MailSettings(Model):
    """Email to customers: queued in the store's outbox, delivered through an Airflow SMTP connection."""

    connection: str = Field(default="customer_mail", pattern=r"^[A-Za-z0-9_]+$")
    """Airflow connection (type ``smtp``) of the outgoing mail server."""
    sender: str = Field(default="Onboarding <onboarding@example.com>", min_length=3)
    """The From of every customer email."""
    batch_size: int = Field(default=100, ge=1)
    """Messages one delivery pass sends at most; the rest wait for the next pass, oldest first."""


class BoardSettings(Model):
    """The onboarding board: the Airflow UI page where ops engineers see every open account."""

    base_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    """Where people reach the board (Slack notices link to it; ``ONBOARDING_BOARD_URL`` overrides).
    By default the Airflow UI's address (``escalations.airflow_base_url`` or ``[api] base_url``) plus ``/board``."""
    page_size: int = Field(default=50, ge=10, le=500)
    """Accounts per page of the board's list."""


PILOT_FIELDS = (
    "tier", "region", "segment", "addons", "currency", "partner_name", "sales_owner_id", "owner_email",
    "account_domain", "account_name", "order_number", "target_source",
)  # fmt: skip
"""Order fields a pilot rule may test (``addons``, a list, matches when any add-on is named)."""

PilotRule = dict[str, list[str]]
"""One rule: field -> accepted values.  Every field named must match (any of its values)."""


class PilotScope(Model):
    """Which signed orders the automation takes: the pilot.

    An order is in the pilot when it matches one of the ``include`` rules (no
    rules: every order) and none of the ``exclude`` rules: exclude wins.  Orders
    outside are counted by the intake as out of pilot and left alone; widening the
    scope later picks them up from the CRM on the next pickup.
    """

    name: str = Field(default="every signed order", min_length=1, max_length=200)
    """What the pilot is called in the report (for example "SMB in North America")."""
    include: list[PilotRule] = []
    exclude: list[PilotRule] = []
    minimum_accounts: int = Field(default=5, ge=1)
    """The before/after report shows a figure only when both sides have at least this many accounts."""

    @field_validator("include", "exclude", mode="before")
    @classmethod
    def _values_as_lists(cls, value: Any) -> Any:
        """A rule's single value may be written without a list (``tier: smb``)."""
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            return value
        return [
            {k: [v] if isinstance(v, str) else v for k, v in rule.items()} if isinstance(rule, dict) else rule
            for rule in value
        ]

    @model_validator(mode="after")
    def _known_fields(self) -> PilotScope:
        for side in ("include", "exclude"):
            for i, rule in enumerate(getattr(self, side)):
                if not rule:
                    raise ValueError(
                        f"{side}[{i}]: an empty rule; name at least one field (known: {list(PILOT_FIELDS)})"
                    )
                for name, values in rule.items():
                    if name not in PILOT_FIELDS:
                        raise ValueError(f"{side}[{i}].{name}: not an order field a pilot can test"
                                         f" (known: {list(PILOT_FIELDS)})")  # fmt: skip
                    if not values or any(not str(v).strip() for v in values):
                        raise ValueError(f"{side}[{i}].{name}: give at least one non-blank value")
        return self

    @property
    def takes_everything(self) -> bool:
        return not self.include and not self.exclude

    @cached_property
    def fingerprint(self) -> str:
        """Hash of what the scope admits (its name and minimum do not change which orders it takes)."""

        def canonical(rules: list[PilotRule]) -> list[dict[str, list[str]]]:
            shown = [{k: sorted({v.strip().casefold() for v in vs}) for k, vs in sorted(r.items())} for r in rules]
            return sorted(shown, key=lambda r: json.dumps(r, sort_keys=True))

        body = json.dumps({"include": canonical(self.include), "exclude": canonical(self.exclude)}, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:32]

    def admits(self, facts: dict[str, Any], known: Iterable[str] | None = None) -> bool:
        """Whether an order with these field values is in the pilot.

        ``known`` names the fields the facts carry (a baseline export may lack
        some): a condition on any other field is left out of the comparison.
        """
        fields = set(PILOT_FIELDS if known is None else known)
        if self.include and not any(_rule_matches(r, facts, fields) for r in self.include):
            return False
        return not any(_rule_matches(r, facts, fields, empty=False) for r in self.exclude)

    def describe(self) -> str:
        """The scope in one line, for logs, the audit trail and the report."""

        def rules(side: list[PilotRule]) -> str:
            return " or ".join(
                "(" + " and ".join(f"{k} in {', '.join(v)}" for k, v in rule.items()) + ")" for rule in side
            )

        text = f"include {rules(self.include)}" if self.include else "include every order"
        return text + (f", exclude {rules(self.exclude)}" if self.exclude else "")


def _rule_matches(rule: PilotRule, facts: dict[str, Any], fields: set[str], empty: bool = True) -> bool:
    tested = [(name, values) for name, values in rule.items() if name in fields]
    if not tested:
        return empty
    return all(_value_matches(values, facts.get(name)) for name, values in tested)


def _value_matches(wanted: list[str], actual: Any) -> bool:
    accepted = {v.strip().casefold() for v in wanted}
    if actual is None:
        return False
    if isinstance(actual, (list, tuple, set, frozenset)):
        return any(str(a).strip().casefold() in accepted for a in actual)
    return str(actual).strip().casefold() in accepted


class BaselineSettings(Model):
    """Reading the historical onboardings export (``python -m include.onboarding.baseline import-baseline``)."""

    day_first: bool = False
    """How a date such as 02/03/2026 reads: ``true`` for 2 March (day first), ``false`` for 3 February."""


class Settings(Model):
    intake: IntakeSettings = IntakeSettings()
    runs: RunSettings = RunSettings()
    escalations: EscalationSettings = EscalationSettings()
    reporting: ReportingSettings = ReportingSettings()
    portal: PortalSettings = PortalSettings()
    mail: MailSettings = MailSettings()
    board: BoardSettings = BoardSettings()
    pilot: PilotScope = PilotScope()
    baseline: BaselineSettings = BaselineSettings()
    regions: dict[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")], Region]
    people: list[Person]
    roles: dict[Key, dict[str, str]]
    """role -> region (or ``default``) -> person email."""
    ops_lead: str
    """Who hears about unowned accounts and orders stuck in quarantine."""

    @model_validator(mode="after")
    def _references_resolve(self) -> Settings:
        emails = [p.email for p in self.people]
        duplicates = sorted({e for e in emails if emails.count(e) > 1})
        if duplicates:
            raise ValueError(f"people: duplicate email(s) {duplicates}")
        ids = [p.airflow_id.lower() for p in self.people]
        shared = sorted({i for i in ids if ids.count(i) > 1})
        if shared:
            raise ValueError(f"people: two people have the same Airflow user {shared} (airflow_user or email)")
        known = set(emails)
        for i, person in enumerate(self.people):
            if person.manager is not None and person.manager not in known:
                raise ValueError(f"people[{i}].manager: {person.manager!r} is not in people")
        for role, by_region in self.roles.items():
            for region, email in by_region.items():
                if region != "default" and region not in self.regions:
                    raise ValueError(f"roles.{role}.{region}: unknown region (known: {sorted(self.regions)})")
                if email not in known:
                    raise ValueError(f"roles.{role}.{region}: {email!r} is not in people")
        if self.ops_lead not in known:
            raise ValueError(f"ops_lead: {self.ops_lead!r} is not in people")
        return self

    @model_validator(mode="after")
    def _pilot_regions(self) -> Settings:
        for side in ("include", "exclude"):
            for i, rule in enumerate(getattr(self.pilot, side)):
                unknown = sorted(set(rule.get("region", [])) - set(self.regions))
                if unknown:
                    raise ValueError(
                        f"pilot.{side}[{i}].region: unknown region(s) {unknown} (known: {sorted(self.regions)})"
                    )
        return self

    @cached_property
    def people_by_email(self) -> dict[str, Person]:
        return {p.email: p for p in self.people}

    def holder(self, role: str, region: str) -> str | None:
        """The email of whoever holds ``role`` in ``region`` (or the role's default)."""
        by_region = self.roles.get(role, {})
        return by_region.get(region) or by_region.get("default")


# --------------------------------------------------------------------------- tiers


class Stage(str, Enum):
    """The onboarding lifecycle, in order.  Every tier names an owner for each."""

    INTAKE = "intake"
    COLLECT_INPUTS = "collect_inputs"
    APPROVALS = "approvals"
    SETUP = "setup"
    PROVISIONING = "provisioning"
    CUSTOMER_COMMUNICATION = "customer_communication"
    HANDOFF = "handoff"
    LIVE = "live"


class Condition(Model):
    """Per-account variation: the item or step applies only when all given tests hold."""

    addons_include: list[Key] | None = None
    region_in: list[str] | None = None
    segment_in: list[str] | None = None
    amount_at_least: float | None = None

    def matches(self, order: OrderFacts) -> bool:
        if self.addons_include and not set(self.addons_include) <= set(order.addons):
            return False
        if self.region_in is not None and order.region not in self.region_in:
            return False
        if self.segment_in is not None and order.segment not in self.segment_in:
            return False
        return self.amount_at_least is None or (order.amount or 0) >= self.amount_at_least


class OrderFacts(BaseModel):
    """The order fields conditions can test (a view of a normalised order)."""

    region: str
    segment: str | None = None
    addons: tuple[str, ...] = ()
    amount: float | None = None


class InputType(str, Enum):
    EMAIL = "email"
    DOMAIN = "domain"
    URL = "url"
    VAT_ID = "vat_id"
    TAX_ID = "tax_id"
    SAML_METADATA = "saml_metadata"
    DOCUMENT = "document"
    TEXT = "text"
    CHOICE = "choice"


class DocumentRules(Model):
    content_types: list[str] = Field(min_length=1)
    max_mb: float = Field(gt=0, le=100)


class ChecklistItem(Model):
    key: Key
    label: str = Field(min_length=1)
    type: InputType
    critical: bool = False
    """Critical items must be verified before setup and customer commitments."""
    help: str | None = None
    document: DocumentRules | None = None
    choices: list[str] | None = None
    when: Condition | None = None

    @model_validator(mode="after")
    def _type_options(self) -> ChecklistItem:
        if self.type is InputType.DOCUMENT and self.document is None:
            raise ValueError("document items need 'document' rules (content_types, max_mb)")
        if self.type is not InputType.DOCUMENT and self.document is not None:
            raise ValueError("'document' rules only apply to type 'document'")
        if self.type is InputType.CHOICE and not self.choices:
            raise ValueError("choice items need a non-empty 'choices' list")
        return self


class Approval(Model):
    key: Key
    label: str = Field(min_length=1)
    approver_role: Key
    when: Condition | None = None
    timeout_business_days: float | None = Field(default=None, gt=0)
    """How long the request waits for an answer before it expires and is escalated
    (default: ``runs.approval_timeout_business_days``)."""


class StepKind(str, Enum):
    JIRA_ISSUE = "jira_issue"
    JIRA_SUBTASK = "jira_subtask"
    STRIPE_CUSTOMER = "stripe_customer"
    SCIM_USER = "scim_user"
    TENANT = "tenant"
    HTTP = "http"


class HttpStepSpec(Model):
    """A generic setup call for systems without a built-in step."""

    connection: str
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    endpoint: str
    payload: dict[str, Any] = Field(default_factory=dict)
    """JSON body; string values are templates over the onboarding record (``{account_name}``)."""
    id_path: str = "id"
    """Dotted path of the created object's id in the response body."""
    idempotency_header: str | None = "Idempotency-Key"


class SetupStep(Model):
    key: Key
    label: str = Field(min_length=1)
    kind: StepKind
    depends_on: list[Key] = Field(default_factory=list)
    when: Condition | None = None
    http: HttpStepSpec | None = None

    @model_validator(mode="after")
    def _http_spec(self) -> SetupStep:
        if self.kind is StepKind.HTTP and self.http is None:
            raise ValueError("steps of kind 'http' need an 'http' spec")
        if self.kind is not StepKind.HTTP and self.http is not None:
            raise ValueError("'http' spec only applies to steps of kind 'http'")
        return self


class StageConfig(Model):
    key: Stage
    owner_role: Key
    sla_business_days: float | None = Field(default=None, gt=0)
    """Stage SLA in business days of the region's working hours (give this or ``sla_business_hours``)."""
    sla_business_hours: float | None = Field(default=None, gt=0)
    clock_pauses_on_customer: bool = False
    """Stop the stage SLA clock while the account waits on the customer (the checklist is out with them)."""

    @model_validator(mode="after")
    def _one_sla(self) -> StageConfig:
        if (self.sla_business_days is None) == (self.sla_business_hours is None):
            raise ValueError("give exactly one of sla_business_days and sla_business_hours")
        if self.clock_pauses_on_customer and self.key is not Stage.COLLECT_INPUTS:
            raise ValueError("clock_pauses_on_customer only applies to collect_inputs (the customer's turn)")
        return self

    def sla_seconds(self, hours: BusinessHours) -> float:
        """The SLA as working seconds in a region with these business hours."""
        if self.sla_business_hours is not None:
            return self.sla_business_hours * 3600
        return float(self.sla_business_days or 0) * hours.day_seconds

    def describe_sla(self) -> str:
        amount, unit = (
            (self.sla_business_hours, "business hour")
            if self.sla_business_hours is not None
            else (self.sla_business_days, "business day")
        )
        return f"{amount:g} {unit}{'' if amount == 1 else 's'}"


class LadderRung(Model):
    at_percent_of_sla: int = Field(ge=1, le=1000)
    notify: str = Field(pattern=r"^(stage_owner|manager|ops_lead|role:[a-z][a-z0-9_]*)$")


class ReminderCadence(Model):
    """When the customer is reminded by email of the checklist items still open.

    ``after_business_days: [2, 4]``: a reminder after 2 and after 4 business days (working time on the
    account's region calendar) without progress on the critical items, counted from the checklist
    request or the customer's last submission, whichever is later.  A submission restarts the count.
    """

    after_business_days: list[Annotated[int, Field(ge=1, le=60)]] = Field(min_length=1, max_length=10)

    @field_validator("after_business_days")
    @classmethod
    def _ascending(cls, value: list[int]) -> list[int]:
        if value != sorted(set(value)):
            raise ValueError(f"must be strictly ascending business days, one reminder each (got {value})")
        return value


class TierConfig(Model):
    key: Key = Field(alias="tier")
    """The tier's name, ``tier:`` in its file (which is named after it) and in the CRM's routing."""
    display_name: str
    description: str
    crm_tier_values: list[str] = Field(min_length=1)
    """Values of the CRM's tier property that route an order to this tier."""
    regions: list[str] = Field(min_length=1)
    segments: list[str] = Field(min_length=1)
    activation_target_business_days: int = Field(ge=1, le=365)
    run_window_days: int | None = Field(default=None, ge=1, le=730)
    """Calendar days a run may take before its deadline alert calls it overrun
    (default: the activation target in calendar days, doubled)."""
    onboarding_owner_role: Key
    handoff_to_role: Key
    """Who owns the account once it is live (CSM, support, partner manager)."""
    stages: list[StageConfig]
    escalation_ladder: list[LadderRung] = Field(min_length=1)
    checklist: list[ChecklistItem] = Field(min_length=1)
    approvals: list[Approval] = Field(default_factory=list)
    setup_steps: list[SetupStep] = Field(min_length=1)
    reminders: ReminderCadence | None = None
    """Customer reminder cadence while the checklist is out; without it the tier's customers are not reminded."""

    @model_validator(mode="after")
    def _consistent(self) -> TierConfig:  # noqa: C901
        _unique("checklist", [i.key for i in self.checklist])
        _unique("approvals", [a.key for a in self.approvals])
        _unique("setup_steps", [s.key for s in self.setup_steps])
        _unique("stages", [s.key.value for s in self.stages])
        present = {s.key for s in self.stages}
        for stage in Stage:
            if stage is Stage.LIVE or (stage is Stage.APPROVALS and not self.approvals):
                continue
            if stage not in present:
                raise ValueError(f"stages: no owner for stage {stage.value!r} (add it with an owner_role)")
        if Stage.LIVE in present:
            raise ValueError("stages: 'live' is owned by handoff_to_role, do not list it")
        order = [s for s in Stage if s in present]
        if [s.key for s in self.stages] != order:
            raise ValueError(f"stages: must be listed in lifecycle order {[s.value for s in order]}")
        percents = [r.at_percent_of_sla for r in self.escalation_ladder]
        if percents != sorted(set(percents)):
            raise ValueError("escalation_ladder: at_percent_of_sla must be strictly increasing")
        keys = {s.key for s in self.setup_steps}
        for i, step in enumerate(self.setup_steps):
            for dep in step.depends_on:
                if dep not in keys:
                    raise ValueError(f"setup_steps[{i}].depends_on: unknown step {dep!r} (known: {sorted(keys)})")
        cycle = _find_cycle({s.key: s.depends_on for s in self.setup_steps})
        if cycle:
            raise ValueError(f"setup_steps: dependency cycle {' -> '.join(cycle)}")
        kinds = {s.key: s.kind for s in self.setup_steps}
        for i, step in enumerate(self.setup_steps):
            if step.kind is StepKind.JIRA_SUBTASK and not any(kinds[d] is StepKind.JIRA_ISSUE for d in step.depends_on):
                raise ValueError(f"setup_steps[{i}].depends_on: a jira_subtask needs a jira_issue step as its parent")
        if sum(1 for s in self.setup_steps if s.kind is StepKind.TENANT) > 1:
            raise ValueError("setup_steps: at most one step of kind 'tenant' (the account's tenant)")
        return self

    def stage(self, stage: Stage) -> StageConfig | None:
        return next((s for s in self.stages if s.key is stage), None)

    @property
    def overrun_after_days(self) -> int:
        """Calendar days after the run was queued when its overrun deadline fires."""
        if self.run_window_days is not None:
            return self.run_window_days
        return -(-self.activation_target_business_days * 7 // 5) * 2

    def checklist_for(self, order: OrderFacts) -> list[ChecklistItem]:
        return [i for i in self.checklist if i.when is None or i.when.matches(order)]

    def approvals_for(self, order: OrderFacts) -> list[Approval]:
        return [a for a in self.approvals if a.when is None or a.when.matches(order)]

    def steps_for(self, order: OrderFacts) -> list[SetupStep]:
        return [s for s in self.setup_steps if s.when is None or s.when.matches(order)]

    def roles_used(self) -> Iterable[tuple[str, str]]:
        """(field path, role) for every role this tier relies on."""
        yield "onboarding_owner_role", self.onboarding_owner_role
        yield "handoff_to_role", self.handoff_to_role
        for i, st in enumerate(self.stages):
            yield f"stages[{i}].owner_role", st.owner_role
        for i, ap in enumerate(self.approvals):
            yield f"approvals[{i}].approver_role", ap.approver_role
        for i, rung in enumerate(self.escalation_ladder):
            if rung.notify.startswith("role:"):
                yield f"escalation_ladder[{i}].notify", rung.notify.removeprefix("role:")


def _unique(field: str, keys: list[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{field}: duplicate key {key!r}")
        seen.add(key)


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """Return one dependency cycle as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


# --------------------------------------------------------------------------- loading


class OnboardingConfig(Model):
    settings: Settings
    tiers: dict[str, TierConfig]
    config_dir: Path

    def tier_for_crm_value(self, value: str) -> TierConfig | None:
        wanted = value.strip().lower()
        for tier in self.tiers.values():
            if wanted in (v.lower() for v in tier.crm_tier_values):
                return tier
        return None

    @property
    def intake_schedule(self) -> str | timedelta:
        return airflow_schedule(os.environ.get("ONBOARDING_INTAKE_SCHEDULE") or self.settings.intake.schedule)

    @property
    def escalation_schedule(self) -> str | timedelta:
        return airflow_schedule(os.environ.get("ONBOARDING_ESCALATION_SCHEDULE") or self.settings.escalations.schedule)

    @property
    def reporting_schedule(self) -> str:
        """Cron schedule of ``onboarding_reporting`` (UTC); ``ONBOARDING_REPORTING_SCHEDULE`` overrides it."""
        return os.environ.get("ONBOARDING_REPORTING_SCHEDULE") or self.settings.reporting.schedule

    @property
    def run_waits(self) -> RunWaits:
        """How the tier runs wait on the wall clock, with the environment's overrides."""
        return RunWaits.of(self.settings.runs)


class RunWaits(BaseModel):
    """The tier runs' waits on the wall clock (Airflow waits on it; settings are business time, the same unless
    the clock is accelerated), each overridable from the environment for tests and demos."""

    model_config = ConfigDict(frozen=True)

    poke_seconds: float
    """``ONBOARDING_POKE_SECONDS``, else ``runs.poke_seconds`` (at least 5 s)."""
    retry_delay: timedelta
    """``ONBOARDING_RETRY_DELAY_SECONDS``, else 120 business seconds (at least 5 s)."""
    input_timeout_seconds: float
    """``ONBOARDING_INPUT_TIMEOUT_SECONDS``, else ``runs.input_timeout_days``."""
    provisioning_timeout_seconds: float
    deadline_alerts: bool
    """``ONBOARDING_DEADLINE_ALERTS=off`` leaves them out: ``airflow dags test`` in Airflow 3.3.2 cannot
    finish a run of a DAG with deadline alerts, so only for such local, scheduler-less runs."""

    @classmethod
    def of(cls, runs: RunSettings) -> RunWaits:
        from include.onboarding.clock import wall_seconds

        env = os.environ.get
        return cls(
            poke_seconds=float(env("ONBOARDING_POKE_SECONDS") or wall_seconds(runs.poke_seconds, floor=5)),
            retry_delay=timedelta(seconds=float(env("ONBOARDING_RETRY_DELAY_SECONDS") or wall_seconds(120, floor=5))),
            input_timeout_seconds=float(
                env("ONBOARDING_INPUT_TIMEOUT_SECONDS") or wall_seconds(runs.input_timeout_days * 86400)
            ),
            provisioning_timeout_seconds=wall_seconds(runs.provisioning_timeout_hours * 3600),
            deadline_alerts=env("ONBOARDING_DEADLINE_ALERTS", "on").lower() not in ("off", "0", "false", "no"),
        )


_EVERY = re.compile(r"^every\s+(\d+(?:\.\d+)?)\s*(s|m|h)$")


def airflow_schedule(value: str) -> str | timedelta:
    """A cron expression or preset as Airflow takes it, or ``every <n>s|m|h`` for a fixed interval.

    Cron cannot say "every 20 seconds"; a demo that runs business time faster
    than the wall clock needs that, so ``every 20s`` becomes ``timedelta(seconds=20)``.
    """
    found = _EVERY.match(value.strip())
    if not found:
        return value
    seconds = float(found.group(1)) * {"s": 1, "m": 60, "h": 3600}[found.group(2)]
    if seconds <= 0:
        raise ValueError(f"schedule {value!r}: the interval must be positive")
    return timedelta(seconds=seconds)


def config_dir() -> Path:
    return Path(os.environ.get("ONBOARDING_CONFIG_DIR") or DEFAULT_CONFIG_DIR)


# --------------------------------------------------------------------------- environment overrides
# The environment variables this package reads, all here: each overrides a setting (or a default)
# for one deployment, a test or the demo.


def clock_spec() -> str:
    """``ONBOARDING_CLOCK``: ``system`` (default), ``fixed:<ISO timestamp>`` or ``accelerated:...``."""
    return os.environ.get("ONBOARDING_CLOCK", "system")


def reports_dir() -> Path:
    """``ONBOARDING_REPORTS_DIR``, else ``reports/`` under ``AIRFLOW_HOME`` (or the working directory)."""
    explicit = os.environ.get("ONBOARDING_REPORTS_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("AIRFLOW_HOME") or ".") / "reports"


def board_base_url(settings: Settings) -> str | None:
    """``ONBOARDING_BOARD_URL``, else ``board.base_url`` (None: the caller derives it from the Airflow UI's)."""
    return os.environ.get("ONBOARDING_BOARD_URL") or settings.board.base_url


def portal_base_url(settings: Settings) -> str:
    """Where customers reach the portal: ``ONBOARDING_PORTAL_URL``, else ``portal.base_url``."""
    return (os.environ.get("ONBOARDING_PORTAL_URL") or settings.portal.base_url).rstrip("/")


def portal_secret(settings: PortalSettings) -> str | None:
    """The magic links' signing key from the environment variable ``portal.secret_env`` names, if set."""
    return os.environ.get(settings.secret_env)


def portal_storage(settings: PortalSettings) -> str:
    """Where uploads go: ``ONBOARDING_PORTAL_STORAGE``, else ``portal.storage_root``, else a folder in the
    user's data directory (``XDG_DATA_HOME``, else ``~/.local/share``), as a URI."""
    configured = os.environ.get("ONBOARDING_PORTAL_STORAGE") or settings.storage_root
    if configured:
        return configured
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return (data_home / "onboarding" / "portal-documents").as_uri()


def database_url() -> str | None:
    """``ONBOARDING_DATABASE_URL``: the store's address for the portal run on its own (``python -m include.portal``)."""
    return os.environ.get("ONBOARDING_DATABASE_URL")


def load_config(directory: Path | None = None) -> OnboardingConfig:
    """Load and cross-check settings and every tier file, or raise :class:`ConfigError`.

    Every DAG parse and every task process loads the configuration, and validating it costs far
    more than reading it.  So a configuration that validated is remembered in :func:`cache_dir`
    under a hash of every file's bytes, this module's source and the installed ``pydantic`` and
    ``holidays``: a change to any of them validates again.  The cache is a file of this user's
    (``0600``), read only when nobody else could have written it.
    """
    root = Path(directory) if directory is not None else config_dir()
    cache = _load_cache_path(root)
    if cache is not None:
        cached = _read_cached(cache)
        if cached is not None:
            return cached
    config = _load(root)
    if cache is not None:
        _write_cached(cache, config)
    return config


def _load_cache_path(root: Path) -> Path | None:
    """Where a validated load of ``root`` is kept, named by everything its result depends on (None: no cache)."""
    import pydantic

    digest = hashlib.sha256()
    try:
        sources = [root / "settings.yaml", *sorted((root / "tiers").glob("*.yaml")), Path(__file__)]
        for path in sources:
            digest.update(f"{path.relative_to(root) if path.is_relative_to(root) else path.name}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
        directory = cache_dir()
    except (OSError, RuntimeError):  # a missing file is reported by the load itself
        return None
    digest.update(f"{root.resolve()}|{pydantic.VERSION}|{_holidays_installation()}".encode())
    return directory / "config" / f"{digest.hexdigest()[:40]}.pickle"


def _read_cached(path: Path) -> OnboardingConfig | None:
    import pickle

    try:
        with path.open("rb") as f:
            stat = os.fstat(f.fileno())
            if stat.st_uid != os.getuid() or stat.st_mode & 0o022:
                return None  # not ours alone: never unpickle what someone else could have written
            loaded = pickle.load(f)  # our own file, checked above
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None
    return loaded if isinstance(loaded, OnboardingConfig) else None


def _write_cached(path: Path, config: OnboardingConfig) -> None:
    import pickle
    import tempfile

    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-")  # created 0600
        with os.fdopen(fd, "wb") as f:
            pickle.dump(config, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # whole or not at all, for processes loading at the same moment
    except OSError:
        pass


def _load(root: Path) -> OnboardingConfig:
    settings_path = root / "settings.yaml"
    settings = _parse(settings_path, Settings)
    tier_files = sorted((root / "tiers").glob("*.yaml"))
    if not tier_files:
        raise ConfigError(f"{root / 'tiers'}: no tier files (*.yaml) found")
    tiers: dict[str, TierConfig] = {}
    crm_values: dict[str, Path] = {}
    for path in tier_files:
        tier = _parse(path, TierConfig)
        if tier.key != path.stem:
            raise ConfigError(f"{path}: tier: {tier.key!r} must match the file name {path.stem!r}")
        _check_against_settings(path, tier, settings)
        for value in tier.crm_tier_values:
            other = crm_values.get(value.lower())
            if other is not None:
                raise ConfigError(f"{path}: crm_tier_values: {value!r} is already routed by {other}")
            crm_values[value.lower()] = path
        tiers[tier.key] = tier
    _check_pilot_tiers(settings_path, settings.pilot, tiers)
    return OnboardingConfig(settings=settings, tiers=tiers, config_dir=root)


def _check_pilot_tiers(path: Path, pilot: PilotScope, tiers: dict[str, TierConfig]) -> None:
    for side in ("include", "exclude"):
        for i, rule in enumerate(getattr(pilot, side)):
            unknown = sorted(set(rule.get("tier", [])) - set(tiers))
            if unknown:
                raise ConfigError(
                    f"{path}: pilot.{side}[{i}].tier: unknown tier(s) {unknown} (tier files: {sorted(tiers)})"
                )


def _check_against_settings(path: Path, tier: TierConfig, settings: Settings) -> None:
    for i, region in enumerate(tier.regions):
        if region not in settings.regions:
            raise ConfigError(
                f"{path}: regions[{i}]: unknown region {region!r} (settings.yaml knows {sorted(settings.regions)})"
            )
    for field, role in tier.roles_used():
        if role not in settings.roles:
            raise ConfigError(f"{path}: {field}: role {role!r} is not defined in settings.yaml roles")
        for region in tier.regions:
            if settings.holder(role, region) is None:
                raise ConfigError(
                    f"{path}: {field}: nobody holds role {role!r} in region {region!r}"
                    f" (add roles.{role}.{region} or roles.{role}.default to settings.yaml)"
                )
    for i, step in enumerate(tier.setup_steps):
        if step.http is not None and not re.fullmatch(r"[A-Za-z0-9_]+", step.http.connection):
            raise ConfigError(f"{path}: setup_steps[{i}].http.connection: not a valid connection id")
    _check_reminders(path, tier, settings)


def _check_reminders(path: Path, tier: TierConfig, settings: Settings) -> None:
    """Every reminder comes before the silent-customer escalation: the customer is asked before the owner is told."""
    if tier.reminders is None:
        return
    silent = settings.escalations.customer_silent_business_days
    for i, days in enumerate(tier.reminders.after_business_days):
        if days >= silent:
            raise ConfigError(
                f"{path}: reminders.after_business_days[{i}]: a reminder after {days} business days comes too late:"
                f" the stage owner is told of a silent customer after {silent:g}"
                " (escalations.customer_silent_business_days in settings.yaml); remind earlier or raise that"
            )


M = TypeVar("M", bound=BaseModel)
# libyaml's safe loader when available: DAG files load this config at every parse.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(path: Path, model: type[M]) -> M:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + "; ".join(_describe(err) for err in exc.errors())) from None


def _describe(err: Any) -> str:
    loc = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err["loc"]).replace(".[", "[")
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    return f"{loc}: {msg}" if loc else msg
