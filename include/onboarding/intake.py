"""Batch pickup of signed orders: CRM -> onboarding store.

A pickup has three steps, each safe to retry or clear:

1. :func:`pull_orders` reads the deals changed since the watermark (minus a
   small look-back) and stages the raw records under the pickup's batch id.
2. :func:`process_batch` judges each staged record.  Good orders become
   onboardings (idempotent upsert keyed by the CRM deal id) with a named owner
   and an activation target in business days; bad ones go to quarantine with
   every reason found.  One bad order never stops the others.
3. :func:`commit_batch` moves the watermark to the newest record of the batch.
   It runs only after processing succeeded, so a failed pickup leaves the
   watermark where it was and the next pickup reads the same orders again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from psycopg.types.json import Jsonb

from include.onboarding.calendar import region_calendar
from include.onboarding.clock import Clock
from include.onboarding.config import OnboardingConfig, Stage
from include.onboarding.crm import CrmClient, record_modified_at
from include.onboarding.deadlines import CONF_KEY as TARGET_WARNING_KEY
from include.onboarding.deadlines import target_warning_at
from include.onboarding.owners import Assignment, NoOwner, named_owner, stage_owner
from include.onboarding.store import SCHEMA, Event, Store, fingerprint

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
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _VOLATILE}
        data["addons"] = sorted(self.addons)
        data["amount"] = str(self.amount) if self.amount is not None else None
        data["signed_at"] = self.signed_at.isoformat()
        data["activation_target"] = self.activation_target.isoformat()
        return data

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.business_fields())


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
    value = props.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _parse_timestamp(raw: str) -> datetime:
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def normalise(record: Any, config: OnboardingConfig) -> Order | Rejected:
    """Validate one raw CRM deal.  Collects every problem, not just the first."""
    source = config.settings.intake.crm_source
    if not isinstance(record, dict) or not isinstance(record.get("properties"), dict):
        return Rejected(
            crm_deal_id=str(record.get("id")) if isinstance(record, dict) and record.get("id") else "unknown",
            order_number=None,
            crm_modified_at=record_modified_at(record),
            problems=(Problem("record", "not a CRM deal object (no 'properties' mapping)"),),
            record=record,
        )
    props: dict[str, Any] = record["properties"]
    problems: list[Problem] = []
    deal_id = _text(record, "id") or _text(props, "hs_object_id")
    if deal_id is None:
        problems.append(Problem("id", "the deal has no id"))
    modified = record_modified_at(record)
    if modified is None:
        problems.append(Problem("hs_lastmodifieddate", "missing or not an ISO 8601 timestamp"))
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
        rows = []
        for record in page:
            modified = record_modified_at(record)
            if modified is not None and (newest is None or modified > newest):
                newest = modified
            deal_id = record.get("id") if isinstance(record, dict) else None
            rows.append((batch_id, fetched, str(deal_id) if deal_id else None, modified, Jsonb(record)))
            fetched += 1
        with store.transaction() as cur:
            cur.executemany(
                f"""INSERT INTO {SCHEMA}.intake_batch_orders (batch_id, position, crm_deal_id, crm_modified_at, record)
                    VALUES (%s, %s, %s, %s, %s)""",
                rows,
            )
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
        f"SELECT record FROM {SCHEMA}.intake_batch_orders WHERE batch_id = %s ORDER BY position",
        (batch_id,),
    )
    summary.fetched = len(records)
    latest: dict[str, Order | Rejected] = {}
    unidentified: list[Rejected] = []
    for row in records:
        verdict = normalise(row["record"], config)
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


def _apply(
    store: Store,
    config: OnboardingConfig,
    verdicts: list[Order | Rejected],
    batch_id: str,
    clock: Clock,
    summary: ProcessSummary,
) -> None:
    """Apply one chunk of verdicts in one transaction."""
    now = clock.now()
    source = config.settings.intake.crm_source
    orders = [v for v in verdicts if isinstance(v, Order)]
    deal_ids = [v.crm_deal_id for v in verdicts]
    numbers = [o.order_number for o in orders if o.order_number]
    events: list[Event] = []
    with store.transaction() as cur:
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

        claimed_numbers: dict[str, Order] = {}
        to_create: list[Order] = []
        to_quarantine: list[Rejected] = []
        for verdict in sorted(verdicts, key=lambda v: (v.crm_modified_at or EPOCH, v.crm_deal_id)):
            known = by_deal.get(verdict.crm_deal_id)
            newest_known = max(
                [t for t in ((known or {}).get("crm_modified_at"), quarantined_newest.get(verdict.crm_deal_id)) if t],
                default=None,
            )
            if (
                newest_known is not None
                and verdict.crm_modified_at is not None
                and verdict.crm_modified_at < newest_known
            ):
                summary.stale += 1  # an older version re-read by the look-back window
                continue
            if isinstance(verdict, Rejected):
                to_quarantine.append(verdict)
                continue
            order = verdict
            if known is not None:
                outcome = _update_existing(cur, order, known, now, events)
                if isinstance(outcome, Rejected):
                    to_quarantine.append(outcome)
                elif outcome:
                    summary.updated += 1
                else:
                    summary.unchanged += 1
                continue
            twin = by_number.get(order.order_number) if order.order_number else None
            twin_order = claimed_numbers.get(order.order_number) if order.order_number else None
            if twin is not None or twin_order is not None:
                other_key = twin["onboarding_key"] if twin is not None else twin_order.key  # type: ignore[union-attr]
                other_fp = twin["order_fingerprint"] if twin is not None else twin_order.fingerprint  # type: ignore[union-attr]
                if other_fp == order.fingerprint:
                    summary.duplicates += 1
                    events.append(
                        Event(
                            subject=f"order:{source}-{order.crm_deal_id}",
                            event_type="order.duplicate_ignored",
                            actor=ACTOR,
                            occurred_at=now,
                            details={"order_number": order.order_number, "same_as": other_key},
                            dedupe_key=f"order.duplicate_ignored:{source}:{order.crm_deal_id}:{order.fingerprint}",
                        )
                    )
                else:
                    to_quarantine.append(
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
            to_create.append(order)

        summary.created_keys.extend(_create(cur, config, to_create, now, events))
        summary.created += len(to_create)
        summary.quarantine_resolved += _resolve_quarantines(cur, source, to_create, now, events)
        summary.quarantined += len(to_quarantine)
        summary.newly_quarantined += _quarantine(cur, source, to_quarantine, batch_id, now, events)
        Store.record_events(cur, events)


def _update_existing(
    cur: Any, order: Order, known: dict[str, Any], now: datetime, events: list[Event]
) -> bool | Rejected:
    """Apply a CRM change to a running onboarding: True if updated, False if unchanged."""
    if known["order_fingerprint"] == order.fingerprint:
        return False
    current = {
        "tier": known["tier"],
        "region": known["region"],
        "order_number": known["order_number"],
        "signed_at": known["signed_at"],
    }
    conflicts = [name for name in IMMUTABLE_FIELDS if current[name] != getattr(order, name)]
    if conflicts:
        changes = ", ".join(f"{name} {current[name]!s} -> {getattr(order, name)!s}" for name in conflicts)
        return Rejected(
            order.crm_deal_id,
            order.order_number,
            order.crm_modified_at,
            (
                Problem(
                    conflicts[0], f"conflicts with onboarding {known['onboarding_key']} already under way ({changes})"
                ),
            ),
            order.payload,
        )
    cur.execute(
        f"""UPDATE {SCHEMA}.onboardings SET
                account_name = %s, account_domain = %s, segment = %s, addons = %s, amount = %s, currency = %s,
                partner_name = %s, primary_contact_name = %s, primary_contact_email = %s, sales_owner_id = %s,
                crm_modified_at = %s, order_fingerprint = %s, order_payload = %s, updated_at = %s
            WHERE id = %s""",
        (
            order.account_name,
            order.account_domain,
            order.segment,
            list(order.addons),
            order.amount,
            order.currency,
            order.partner_name,
            order.primary_contact_name,
            order.primary_contact_email,
            order.sales_owner_id,
            order.crm_modified_at,
            order.fingerprint,
            Jsonb(order.payload),
            now,
            known["id"],
        ),
    )
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
    return True


def _create(cur: Any, config: OnboardingConfig, orders: list[Order], now: datetime, events: list[Event]) -> list[str]:
    if not orders:
        return []
    rows = []
    intake_owner = {}
    for o in orders:
        tier = config.tiers[o.tier]
        first = stage_owner(config.settings, tier, Stage.INTAKE, o.region, Assignment(o.owner_email, o.owner_role))
        intake_owner[o.key] = first
        rows.append(
            (
                o.key, o.crm_source, o.crm_deal_id, o.order_number, o.account_name, o.account_domain, o.tier,
                o.region, o.segment, list(o.addons), o.amount, o.currency, o.partner_name, o.primary_contact_name,
                o.primary_contact_email, o.sales_owner_id, o.owner_email, Stage.INTAKE.value, first.email, now,
                o.signed_at, o.activation_target, o.target_source, o.crm_modified_at, o.fingerprint,
                Jsonb(o.payload), now, now,
            )
        )  # fmt: skip
    cur.executemany(
        f"""INSERT INTO {SCHEMA}.onboardings (
                onboarding_key, crm_source, crm_deal_id, order_number, account_name, account_domain, tier,
                region, segment, addons, amount, currency, partner_name, primary_contact_name,
                primary_contact_email, sales_owner_id, owner_email, stage, stage_owner_email, stage_entered_at,
                signed_at, activation_target, target_source, crm_modified_at, order_fingerprint,
                order_payload, created_at, updated_at)
            VALUES ({", ".join(["%s"] * 28)})
            ON CONFLICT DO NOTHING
            RETURNING id, onboarding_key""",
        rows,
        returning=True,
    )
    ids: dict[str, int] = {}
    while True:
        for row in cur.fetchall():
            ids[row["onboarding_key"]] = row["id"]
        if not cur.nextset():
            break
    created = [o for o in orders if o.key in ids]
    cur.executemany(
        f"""INSERT INTO {SCHEMA}.stage_history (onboarding_id, stage, owner_email, owner_role, entered_at, reason)
            VALUES (%s, %s, %s, %s, %s, %s)""",
        [
            (
                ids[o.key],
                Stage.INTAKE.value,
                intake_owner[o.key].email,
                intake_owner[o.key].role,
                now,
                "signed order picked up",
            )
            for o in created
        ],
    )
    for o in created:
        owner = intake_owner[o.key]
        events.append(
            Event(
                subject=o.key,
                onboarding_id=ids[o.key],
                actor=ACTOR,
                occurred_at=now,
                event_type="onboarding.created",
                stage=Stage.INTAKE.value,
                stage_owner=owner.email,
                details={
                    "order": o.business_fields(),
                    "named_owner": o.owner_email,
                    "activation_target": o.activation_target.isoformat(),
                    "target_source": o.target_source,
                },
                dedupe_key=f"onboarding.created:{o.key}",
            )
        )
        events.append(
            Event(
                subject=o.key,
                onboarding_id=ids[o.key],
                actor=ACTOR,
                occurred_at=now,
                event_type="stage.entered",
                stage=Stage.INTAKE.value,
                stage_owner=owner.email,
                details={"owner_role": owner.role, "reason": "signed order picked up"},
                dedupe_key=f"stage.entered:{o.key}:{Stage.INTAKE.value}",
            )
        )
    return [o.key for o in created]


def _quarantine(
    cur: Any, source: str, rejected: list[Rejected], batch_id: str, now: datetime, events: list[Event]
) -> int:
    """Record rejected orders; return how many were not already in quarantine as they are."""
    new = 0
    for item in rejected:
        reasons = [{"field": p.field, "problem": p.problem} for p in item.problems]
        cur.execute(
            f"""UPDATE {SCHEMA}.quarantined_orders
                SET status = 'resolved', resolved_at = %s, resolution = 'superseded by a newer version of the order'
                WHERE crm_source = %s AND crm_deal_id = %s AND status = 'open' AND payload_fingerprint <> %s""",
            (now, source, item.crm_deal_id, item.fingerprint),
        )
        cur.execute(
            f"""INSERT INTO {SCHEMA}.quarantined_orders AS q (
                    crm_source, crm_deal_id, order_number, crm_modified_at, payload, payload_fingerprint, reasons,
                    first_seen_at, last_seen_at, first_batch_id, last_batch_id)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (crm_source, crm_deal_id, payload_fingerprint) DO UPDATE SET
                    last_seen_at = EXCLUDED.last_seen_at,
                    seen_in_batches = q.seen_in_batches + CASE WHEN q.last_batch_id = EXCLUDED.last_batch_id
                                                               THEN 0 ELSE 1 END,
                    last_batch_id = EXCLUDED.last_batch_id,
                    reasons = EXCLUDED.reasons,
                    status = CASE WHEN q.status = 'dismissed' THEN 'dismissed' ELSE 'open' END,
                    resolved_at = NULL, resolution = NULL
                RETURNING (xmax = 0) AS inserted""",
            (
                source, item.crm_deal_id, item.order_number, item.crm_modified_at, Jsonb(item.record),
                item.fingerprint, Jsonb(reasons), now, now, batch_id, batch_id,
            ),
        )  # fmt: skip
        row = cur.fetchone()
        new += int(bool(row and row["inserted"]))
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
