"""Downstream setup, each call made exactly once.

Every step has one idempotency key, ``<onboarding key>:<step key>``.  Its create
request is built once and frozen with the key in the store before it is first
sent; every re-send sends exactly that, so an order changed in between cannot
turn a retry into a refused reuse of the key.  Where the API takes an
``Idempotency-Key`` header (Stripe, the tenant and SSO APIs, the generic HTTP
step) it is sent; SCIM answers a second create with 409, and the user is
adopted.  Jira has neither: its issue is looked up by a label carrying the key
before every send, and after a send whose answer was lost (the vendor may have
committed it) the look-up is repeated until Jira's search lag has passed.  A
generic HTTP step without an idempotency header is never sent twice.  The
external id is stored the moment it returns.  So a retried step, a cleared
task, a lost answer, or a worker killed between the API's success and our
write never creates a second ticket, customer or user.

This module is the bookkeeping only.  What each kind of step sends is its
handler, registered with ``@handles(StepKind...)`` in :data:`HANDLERS`: a few
lines that describe the create (:class:`Create`) with the vendor's client from
:mod:`include.onboarding.clients`, which owns the request and answer shapes and
the vendors' length limits (the full account name stays in the Jira
description and the onboarding store).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from psycopg.types.json import Jsonb

from include.onboarding import lifecycle, state
from include.onboarding.clients.billing import StripeClient
from include.onboarding.clients.http import (
    ApiError,
    ApiResponse,
    ClientFor,
    Created,
    Outbound,
    VendorClient,
)
from include.onboarding.clients.provisioning import USER_CREATE_OK, ProvisioningClient
from include.onboarding.clients.ticketing import JiraClient
from include.onboarding.clients.ticketing import label_for as jira_label
from include.onboarding.config import OnboardingConfig, RunSettings, SetupStep, Stage, StepKind
from include.onboarding.connections import BILLING_API, PROVISIONING_API, TICKETING_API
from include.onboarding.constants import FINISHED_STEP_SQL, StepStatus
from include.onboarding.events import EventType
from include.onboarding.exceptions import StepNotReady as StepNotReady
from include.onboarding.store import SCHEMA, Event, Store

log = logging.getLogger(__name__)

ACTOR = "system:setup"

MAX_SENDS = 3
"""Sends of one create whose answers were lost before a step gives up (the task retries later)."""

__all__ = [
    "HANDLERS",
    "MAX_SENDS",
    "ClientFor",
    "Create",
    "StepContext",
    "StepNotReady",
    "handles",
    "jira_label",
    "run_step",
    "tenant_status",
]


def _always(first_sent: float | None, now: float) -> bool:
    return True


def _never(first_sent: float | None, now: float) -> bool:
    return False


@dataclass(frozen=True)
class Create:
    """How one step creates its object exactly once.

    ``build`` makes the request (called once: it is then frozen); ``read``
    turns the answer into the object's id and URL; ``look_up`` finds an object
    an earlier send created (None where the vendor offers no look-up);
    ``resend_safe(first_sent, now)`` says whether sending the frozen request
    again can never create a second object (an idempotency key the vendor still
    holds, or a uniqueness rule such as SCIM's 409).  The client's
    ``search_lag_seconds`` is how long a look-up may miss a fresh object.
    """

    client: VendorClient
    build: Callable[[], Outbound]
    read: Callable[[ApiResponse], Created]
    look_up: Callable[[], Created | None] | None = None
    resend_safe: Callable[[float | None, float], bool] = _always
    ok_statuses: tuple[int, ...] = ()


@dataclass(frozen=True)
class StepContext:
    """What a handler works from: the account, the step, the step's idempotency key, and the way to each system."""

    store: Store
    config: OnboardingConfig
    onboarding: lifecycle.Onboarding
    step: SetupStep
    idempotency_key: str
    client_for: ClientFor

    @property
    def runs(self) -> RunSettings:
        return self.config.settings.runs

    def done_ids(self) -> dict[str, str]:
        """External ids of the account's finished steps, by step key."""
        rows = self.store.query(
            f"""SELECT step_key, external_id FROM {SCHEMA}.setup_steps
                WHERE onboarding_id = %s AND status = '{StepStatus.DONE}'""",
            (self.onboarding.id,),
        )
        return {r["step_key"]: str(r["external_id"]) for r in rows}


Handler = Callable[[StepContext], Create]

HANDLERS: dict[StepKind, Handler] = {}
"""Step kind -> the handler that describes its create."""


def handles(*kinds: StepKind) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``kinds`` (one handler per kind)."""

    def register(handler: Handler) -> Handler:
        for kind in kinds:
            if kind in HANDLERS:
                raise ValueError(f"step kind {kind.value!r} already has a handler: {HANDLERS[kind].__name__}")
            HANDLERS[kind] = handler
        return handler

    return register


# --------------------------------------------------------------------------- one handler per kind


@handles(StepKind.JIRA_ISSUE, StepKind.JIRA_SUBTASK)
def _jira_issue(ctx: StepContext) -> Create:
    ob, step, runs = ctx.onboarding, ctx.step, ctx.runs
    jira = JiraClient(ctx.client_for(TICKETING_API), search_lag_seconds=runs.ticket_search_lag_seconds)
    label, target = jira_label(ctx.idempotency_key), ob.activation_target.isoformat()
    parent = _parent_issue(ctx) if step.kind is StepKind.JIRA_SUBTASK else None
    return Create(
        jira,
        build=lambda: jira.issue_request(
            project=runs.ticket_project,
            summary=f"{step.label}: {ob.account_name} ({ob.tier}, go-live {target})",
            description=f"{step.label} for {ob.account_name}. Onboarding {ob.key}. Owner: {ob.owner_email}. "
            f"Target go-live {target}.",
            labels=[label, "onboarding", f"tier-{ob.tier}"],
            parent=parent,
            subtask_type=runs.ticket_subtask_type,
        ),
        read=jira.read_issue,
        look_up=lambda: jira.find_by_label(label=label),
        resend_safe=_never,  # Jira has no idempotency key
    )


def _parent_issue(ctx: StepContext) -> str | None:
    """The issue key of the ``jira_issue`` step a sub-task depends on."""
    steps = {s.key: s for s in lifecycle.tier_of(ctx.config, ctx.onboarding).setup_steps}
    parent_step = next(d for d in ctx.step.depends_on if steps[d].kind is StepKind.JIRA_ISSUE)
    parent_row = _step_row(ctx.store, ctx.onboarding.id, parent_step)
    return str(parent_row["external_id"]) if parent_row else None


@handles(StepKind.STRIPE_CUSTOMER)
def _stripe_customer(ctx: StepContext) -> Create:
    ob = ctx.onboarding
    stripe = StripeClient(ctx.client_for(BILLING_API), search_lag_seconds=ctx.runs.billing_search_lag_seconds)
    return Create(
        stripe,
        build=lambda: stripe.customer_request(
            name=ob.account_name,
            email=ob.primary_contact_email,
            description=f"Onboarding {ob.key} ({ob.tier}): {ob.account_name}",
            metadata={"onboarding_key": ob.key, "tier": ob.tier, "region": ob.region},
            idempotency_key=ctx.idempotency_key,
        ),
        read=stripe.read_customer,
        look_up=lambda: stripe.find_customer(metadata_key="onboarding_key", value=ob.key),
        resend_safe=stripe.key_still_held,
    )


@handles(StepKind.SCIM_USER)
def _scim_user(ctx: StepContext) -> Create:
    scim = ProvisioningClient(ctx.client_for(PROVISIONING_API))
    user_name = ctx.onboarding.primary_contact_email
    given, _, family = (ctx.onboarding.primary_contact_name or user_name.split("@")[0]).partition(" ")
    # userName is unique: a second create answers 409 and the user is adopted, so re-sending is safe.
    return Create(
        scim,
        build=lambda: scim.user_request(
            user_name=user_name, given_name=given, family_name=family or given, external_id=ctx.idempotency_key
        ),
        read=lambda response: scim.read_user(response, user_name=user_name),
        ok_statuses=USER_CREATE_OK,
    )


@handles(StepKind.TENANT)
def _tenant(ctx: StepContext) -> Create:
    ob = ctx.onboarding
    tenants = ProvisioningClient(ctx.client_for(PROVISIONING_API))
    return Create(
        tenants,
        build=lambda: tenants.tenant_request(
            external_id=ob.key,
            name=ob.account_name,
            domain=ob.account_domain,
            region=ob.region,
            plan=ob.tier,
            idempotency_key=ctx.idempotency_key,
        ),
        read=tenants.read_tenant,
        look_up=lambda: tenants.find_tenant(external_id=ob.key),
    )


@handles(StepKind.HTTP)
def _http(ctx: StepContext) -> Create:
    spec = ctx.step.http
    assert spec is not None  # the configuration requires it for this kind
    system = VendorClient(ctx.client_for(spec.connection))

    def build() -> Outbound:
        headers = {spec.idempotency_header: ctx.idempotency_key} if spec.idempotency_header else {}
        # Templates see the account's fields and the ids of finished steps as {step_<key>}.
        fields = {**ctx.onboarding.template_fields(), **{f"step_{k}": v for k, v in ctx.done_ids().items()}}
        return Outbound(spec.method, spec.endpoint, json=_render(spec.payload, fields), headers=headers)

    return Create(
        system,
        build,
        read=lambda r: Created(str(system.require(r.body, spec.id_path))),
        resend_safe=_always if spec.idempotency_header else _never,
    )


def _render(template: Any, fields: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        try:
            return template.format_map(dict(fields))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"payload template {template!r} uses an unknown field: {exc}") from None
    if isinstance(template, dict):
        return {k: _render(v, fields) for k, v in template.items()}
    if isinstance(template, list):
        return [_render(v, fields) for v in template]
    return template


# --------------------------------------------------------------------------- running a step


def _step_row(store: Store, onboarding_id: int, step_key: str) -> dict[str, Any] | None:
    rows = store.query(
        f"SELECT * FROM {SCHEMA}.setup_steps WHERE onboarding_id = %s AND step_key = %s", (onboarding_id, step_key)
    )
    return rows[0] if rows else None


def run_step(
    store: Store, config: OnboardingConfig, onboarding_key: str, step_key: str, client_for: ClientFor, now: datetime
) -> str | None:
    """Perform one setup step for one account if it is not done; return its external id.

    Returns None for a step that does not apply to this account (its condition is false).
    """
    ob = lifecycle.load(store, onboarding_key)
    tier = lifecycle.tier_of(config, ob)
    step = next((s for s in tier.setup_steps if s.key == step_key), None)
    row = _step_row(store, ob.id, step_key)
    if step is None or row is None:
        raise StepNotReady(f"onboarding {onboarding_key}: step {step_key!r} is not planned (tier {tier.key})")
    if row["status"] == "skipped":
        return None
    if row["status"] == "done":
        return str(row["external_id"])
    waiting = [
        d["step_key"]
        for d in store.query(
            f"""SELECT step_key FROM {SCHEMA}.setup_steps
                WHERE onboarding_id = %s AND step_key = ANY(%s) AND status NOT IN {FINISHED_STEP_SQL}""",
            (ob.id, list(row["depends_on"])),
        )
    ]
    if waiting:
        raise StepNotReady(f"onboarding {onboarding_key}: {step_key} waits for {', '.join(waiting)}")
    state.advance(store, config, onboarding_key, Stage.SETUP, now, ACTOR, "readiness gate passed")
    with store.transaction() as cur:
        cur.execute(
            f"""UPDATE {SCHEMA}.setup_steps SET status = '{StepStatus.IN_PROGRESS}', attempts = attempts + 1,
                    started_at = COALESCE(started_at, %s), updated_at = %s
                WHERE id = %s""",
            (now, now, row["id"]),
        )
    idempotency_key = str(row["idempotency_key"])
    try:
        external_id, url = _call(store, config, ob, step, idempotency_key, client_for)
    except ApiError as exc:
        _failed(store, ob, step, row["id"], str(exc), now, permanent=not exc.retryable)
        raise
    with store.transaction() as cur:
        cur.execute(
            f"""UPDATE {SCHEMA}.setup_steps SET status = '{StepStatus.DONE}', external_id = %s, external_url = %s,
                    last_error = NULL, completed_at = %s, updated_at = %s
                WHERE id = %s""",
            (external_id, url, now, now, row["id"]),
        )
        Store.record_events(
            cur,
            [
                Event(
                    subject=onboarding_key,
                    onboarding_id=ob.id,
                    event_type=EventType.SETUP_STEP_COMPLETED,
                    actor=ACTOR,
                    occurred_at=now,
                    stage=Stage.SETUP.value,
                    stage_owner=ob.stage_owner_email,
                    details={"step": step.key, "kind": step.kind.value, "external_id": external_id, "url": url},
                    dedupe_key=f"setup.step_completed:{idempotency_key}",
                )
            ],
        )
    log.info("onboarding %s: %s done (%s)", onboarding_key, step.key, external_id)
    return external_id


def _call(
    store: Store,
    config: OnboardingConfig,
    ob: lifecycle.Onboarding,
    step: SetupStep,
    idempotency_key: str,
    client_for: ClientFor,
    *,
    wall: Callable[[], float] = time.time,
) -> Created:
    """Create (or find) the step's object: the frozen request, sent so that it takes effect once."""
    row = _step_row(store, ob.id, step.key)
    if row is None:
        raise StepNotReady(f"onboarding {ob.key}: step {step.key!r} is not planned")
    handler = HANDLERS.get(step.kind)
    if handler is None:
        raise NotImplementedError(f"onboarding {ob.key}: no handler for step kind {step.kind.value!r} ({step.key})")
    create = handler(StepContext(store, config, ob, step, idempotency_key, client_for))
    return _create_once(store, row, create, step, wall)


def _frozen(store: Store, row: Mapping[str, Any], create: Create) -> Outbound:
    """The step's request as first built, stored before it is ever sent and re-sent unchanged."""
    if row.get("request"):
        return Outbound.from_json(row["request"])
    outbound = create.build()
    with store.transaction() as cur:
        cur.execute(
            f"UPDATE {SCHEMA}.setup_steps SET request = %s WHERE id = %s AND request IS NULL RETURNING request",
            (Jsonb(outbound.to_json()), row["id"]),
        )
        if cur.fetchone() is None:  # built concurrently by another try: send what that one stored
            cur.execute(f"SELECT request FROM {SCHEMA}.setup_steps WHERE id = %s", (row["id"],))
            stored = cur.fetchone()
            assert stored is not None
            outbound = Outbound.from_json(stored["request"])
    return outbound


def _mark_sent(store: Store, row_id: int, wall: Callable[[], float]) -> float:
    """Record, before the request leaves, that it may take effect from now on."""
    sent = wall()
    at = datetime.fromtimestamp(sent, tz=timezone.utc)
    with store.transaction() as cur:
        cur.execute(
            f"""UPDATE {SCHEMA}.setup_steps SET first_sent_at = COALESCE(first_sent_at, %s), last_sent_at = %s,
                    sends = sends + 1 WHERE id = %s""",
            (at, at, row_id),
        )
    return sent


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _create_once(
    store: Store, row: Mapping[str, Any], create: Create, step: SetupStep, wall: Callable[[], float]
) -> Created:
    """Send the frozen request until an answer arrives, never twice where that could create twice.

    Before every send the object is looked up; where a re-send is not safe and
    an earlier send may have taken effect, the look-up is repeated until the
    vendor's search lag since that send has passed, and what it finds is adopted.
    """
    api = create.client.api
    outbound = _frozen(store, row, create)
    first_sent, last_sent = _timestamp(row.get("first_sent_at")), _timestamp(row.get("last_sent_at"))
    resend_safe = create.resend_safe(first_sent, wall())
    for _ in range(MAX_SENDS):
        if create.look_up is not None:
            lag_from = None if resend_safe else last_sent
            found = create.client.look_up_after(create.look_up, sent_at=lag_from, wall=wall)
            if found is not None:
                return found
        elif last_sent is not None and not resend_safe:
            raise ApiError(
                api.system,
                f"{api.system} {outbound.method} {outbound.endpoint} for step {step.key!r} was sent before "
                f"({datetime.fromtimestamp(last_sent, tz=timezone.utc).isoformat(timespec='seconds')}) and its answer "
                f"was lost; {api.system} offers no look-up and no idempotency key, so it is not sent again. Check "
                f"{api.system} for what that request created, then mark the step done or add an idempotency_header",
            )
        last_sent = _mark_sent(store, row["id"], wall)
        try:
            response = api.send(outbound, ok_statuses=create.ok_statuses, resend_safe=resend_safe)
        except ApiError as exc:
            if resend_safe or not exc.maybe_committed:
                raise
            log.warning("%s; looking it up before sending again", exc)
            continue
        return create.read(response)
    raise ApiError(
        api.system,
        f"{api.system} {outbound.method} {outbound.endpoint} for step {step.key!r}: the answer was lost {MAX_SENDS} "
        f"times and a look-up {create.client.search_lag_seconds:g}s after each send found nothing",
        retryable=True,
    )


def _failed(
    store: Store, ob: lifecycle.Onboarding, step: SetupStep, row_id: int, error: str, now: datetime, permanent: bool
) -> None:
    with store.transaction() as cur:
        cur.execute(
            f"""UPDATE {SCHEMA}.setup_steps SET status = %s, last_error = %s, updated_at = %s WHERE id = %s""",
            ("failed", error, now, row_id),
        )
        Store.record_events(
            cur,
            [
                Event(
                    subject=ob.key,
                    onboarding_id=ob.id,
                    event_type=EventType.SETUP_STEP_FAILED,
                    actor=ACTOR,
                    occurred_at=now,
                    stage=Stage.SETUP.value,
                    stage_owner=ob.stage_owner_email,
                    details={"step": step.key, "kind": step.kind.value, "error": error, "permanent": permanent},
                )
            ],
        )


def tenant_status(store: Store, onboarding_key: str, client_for: ClientFor) -> tuple[str, str | None]:
    """The provisioning state of the account's tenant: ('active'|'provisioning'|'failed'|..., error)."""
    ob = lifecycle.load(store, onboarding_key)
    rows = store.query(
        f"SELECT external_id, status FROM {SCHEMA}.setup_steps WHERE onboarding_id = %s AND kind = 'tenant'",
        (ob.id,),
    )
    if not rows:
        return "active", None  # no tenant step in this tier: nothing asynchronous to wait for
    if rows[0]["status"] != "done":
        raise StepNotReady(f"onboarding {onboarding_key}: the tenant was not created (step status {rows[0]['status']})")
    return ProvisioningClient(client_for(PROVISIONING_API)).tenant_status(tenant_id=str(rows[0]["external_id"]))
