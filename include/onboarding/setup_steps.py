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

Vendors limit lengths (Jira's summary 255 characters, Stripe's name 256 and
description 350): what is sent there is clipped with an ellipsis; the full
account name stays in the Jira description and the onboarding store.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from psycopg.types.json import Jsonb

from include.onboarding import lifecycle
from include.onboarding.config import OnboardingConfig, RunSettings, SetupStep, Stage, StepKind
from include.onboarding.connections import BILLING_API, PROVISIONING_API, TICKETING_API
from include.onboarding.http import ApiClient, ApiError, ApiResponse
from include.onboarding.store import SCHEMA, Event, Store
from include.onboarding.text import clip

log = logging.getLogger(__name__)

ACTOR = "system:setup"

ClientFor = Callable[[str], ApiClient]
"""Returns the API client for an Airflow connection id."""


class StepNotReady(RuntimeError):
    """A step ran before the steps it depends on finished."""


def jira_label(idempotency_key: str) -> str:
    """Jira labels cannot contain spaces or colons: one label per (onboarding, step)."""
    return "onb-" + re.sub(r"[^A-Za-z0-9_-]+", "-", idempotency_key).strip("-").lower()


def _dig(body: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(body, dict):
            body = body.get(part)
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            return None
    return body


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


def _stripe_form(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Stripe's bracket notation: {"metadata": {"k": "v"}} -> {"metadata[k]": "v"}."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            flat.update(_stripe_form(value, name))
        elif value is not None:
            flat[name] = str(value)
    return flat


def _require_id(system: str, body: Any, path: str = "id") -> str:
    found = _dig(body, path)
    if found is None or found == "":
        raise ApiError(system, f"{system} answered without {path!r}: {str(body)[:200]!r}", retryable=True)
    return str(found)


# --------------------------------------------------------------------------- one create per kind

JIRA_SUMMARY_LIMIT = 255
JIRA_DESCRIPTION_LIMIT = 32_767
STRIPE_NAME_LIMIT = 256
STRIPE_DESCRIPTION_LIMIT = 350
SCIM_MEDIA_TYPE = "application/scim+json"
STRIPE_KEY_RETENTION_SECONDS = 23 * 3600
"""Stripe keeps an idempotency key 24 hours; past this age a re-send is treated as a new create."""
MAX_SENDS = 3
"""Sends of one create whose answers were lost before a step gives up (the task retries later)."""

Found = tuple[str, str | None]
"""(external id, URL) of the object a step created or adopted."""


@dataclass(frozen=True)
class Outbound:
    """One create request, frozen with its idempotency key the first time it is built."""

    method: str
    endpoint: str
    json: Any = None
    form: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "endpoint": self.endpoint, "json": self.json, "form": self.form,
                "headers": self.headers}  # fmt: skip

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Outbound:
        return cls(raw["method"], raw["endpoint"], raw.get("json"), raw.get("form"), dict(raw.get("headers") or {}))


@dataclass(frozen=True)
class Create:
    """How one step creates its object exactly once.

    ``look_up`` finds an object an earlier send created (None where the vendor
    offers no look-up); ``resend_safe`` says whether sending the frozen request
    again can never create a second object (an idempotency key the vendor still
    holds, or a uniqueness rule such as SCIM's 409); ``read`` turns the answer
    into the object's id and URL.
    """

    api: ApiClient
    build: Callable[[], Outbound]
    read: Callable[[ApiResponse], Found]
    look_up: Callable[[], Found | None] | None = None
    resend_safe: Callable[[float | None, float], bool] = lambda first_sent, now: True
    search_lag_seconds: float = 0.0
    ok_statuses: tuple[int, ...] = ()


def _adf(text: str) -> dict[str, Any]:
    """A plain paragraph in Atlassian Document Format."""
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"type": "doc", "version": 1, "content": [paragraph]}


_subtask_types: dict[tuple[str, str], dict[str, str]] = {}
"""(connection, project) -> the sub-task issue type, as the project's create metadata names it."""


def jira_subtask_type(api: ApiClient, project: str, configured: str | None) -> dict[str, str]:
    """The issue type to create sub-tasks with: the configured name, else the project's ``subtask: true`` type."""
    if configured:
        return {"name": configured}
    cached = _subtask_types.get((api.conn_id, project))
    if cached is not None:
        return cached
    body = api.request("GET", f"/rest/api/3/issue/createmeta/{quote(project)}/issuetypes").body
    types = (body.get("issueTypes") or body.get("values") or []) if isinstance(body, dict) else []
    found = next((t for t in types if isinstance(t, dict) and t.get("subtask") is True and t.get("id")), None)
    if found is None:
        names = ", ".join(str(t.get("name")) for t in types if isinstance(t, dict)) or "none"
        raise ApiError(
            "ticketing",
            f"Jira project {project} has no sub-task issue type (its types: {names}); "
            "enable sub-tasks in Jira or set runs.ticket_subtask_type",
        )
    _subtask_types[(api.conn_id, project)] = {"id": str(found["id"])}
    return _subtask_types[(api.conn_id, project)]


def _jira_issue(
    api: ApiClient, ob: lifecycle.Onboarding, step: SetupStep, key: str, runs: RunSettings, parent: str | None
) -> Create:
    label = jira_label(key)

    def look_up() -> Found | None:
        found = api.request(
            "GET", "/rest/api/3/search/jql", params={"jql": f'labels = "{label}"', "fields": "summary,labels"}
        ).body
        issues = found.get("issues") if isinstance(found, dict) else None
        return (str(issues[0]["key"]), issues[0].get("self")) if issues else None

    def build() -> Outbound:
        summary = f"{step.label}: {ob.account_name} ({ob.tier}, go-live {ob.activation_target.isoformat()})"
        fields: dict[str, Any] = {
            "project": {"key": runs.ticket_project},
            "summary": clip(" ".join(summary.split()), JIRA_SUMMARY_LIMIT),
            "issuetype": jira_subtask_type(api, runs.ticket_project, runs.ticket_subtask_type)
            if parent
            else {"name": "Task"},
            "labels": [label, "onboarding", f"tier-{ob.tier}"],
            "description": _adf(
                clip(
                    f"{step.label} for {ob.account_name}. Onboarding {ob.key}. Owner: {ob.owner_email}. "
                    f"Target go-live {ob.activation_target.isoformat()}.",
                    JIRA_DESCRIPTION_LIMIT,
                )
            ),
        }
        if parent:
            fields["parent"] = {"key": parent}
        return Outbound("POST", "/rest/api/3/issue", json={"fields": fields})

    return Create(
        api,
        build,
        read=lambda r: (_require_id("ticketing", r.body, "key"), _dig(r.body, "self")),
        look_up=look_up,
        resend_safe=lambda first_sent, now: False,  # Jira has no idempotency key
        search_lag_seconds=runs.ticket_search_lag_seconds,
    )


def _stripe_customer(api: ApiClient, ob: lifecycle.Onboarding, key: str, runs: RunSettings) -> Create:
    def look_up() -> Found | None:
        query = f"metadata['onboarding_key']:'{ob.key}'"
        found = api.request("GET", "/v1/customers/search", params={"query": query}).body
        return (str(found["data"][0]["id"]), None) if isinstance(found, dict) and found.get("data") else None

    def build() -> Outbound:
        form = _stripe_form(
            {
                "name": clip(ob.account_name, STRIPE_NAME_LIMIT),
                "email": ob.primary_contact_email,
                "description": clip(f"Onboarding {ob.key} ({ob.tier}): {ob.account_name}", STRIPE_DESCRIPTION_LIMIT),
                "metadata": {"onboarding_key": ob.key, "tier": ob.tier, "region": ob.region},
            }
        )
        return Outbound("POST", "/v1/customers", form=form, headers={"Idempotency-Key": key})

    return Create(
        api,
        build,
        read=lambda r: (_require_id("billing", r.body), None),
        look_up=look_up,
        resend_safe=lambda first_sent, now: first_sent is None or now - first_sent < STRIPE_KEY_RETENTION_SECONDS,
        search_lag_seconds=runs.billing_search_lag_seconds,
    )


def _scim_user(api: ApiClient, ob: lifecycle.Onboarding, key: str) -> Create:
    user_name = ob.primary_contact_email
    scim = {"Content-Type": SCIM_MEDIA_TYPE, "Accept": SCIM_MEDIA_TYPE}

    def build() -> Outbound:
        given, _, family = (ob.primary_contact_name or user_name.split("@")[0]).partition(" ")
        payload = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "externalId": key,
            "name": {"givenName": given, "familyName": family or given},
            "emails": [{"value": user_name, "primary": True}],
            "active": True,
        }
        return Outbound("POST", "/scim/v2/Users", json=payload, headers=scim)

    def read(response: ApiResponse) -> Found:
        if response.status != 409:
            return _require_id("provisioning", response.body), _dig(response.body, "meta.location")
        # 409 uniqueness: the user exists (an earlier send, or the customer's own); adopt it.
        params = {"filter": f'userName eq "{user_name}"'}
        found = api.request("GET", "/scim/v2/Users", params=params, headers={"Accept": SCIM_MEDIA_TYPE}).body
        resources = found.get("Resources") if isinstance(found, dict) else None
        if not resources:
            raise ApiError("provisioning", f"SCIM said {user_name!r} exists (409) but a lookup finds no such user")
        return str(resources[0]["id"]), _dig(resources[0], "meta.location")

    # userName is unique (409 on a second create), so re-sending is safe.
    return Create(api, build, read=read, ok_statuses=(409,))


def _tenant(api: ApiClient, ob: lifecycle.Onboarding, key: str) -> Create:
    def look_up() -> Found | None:
        found = api.request("GET", "/api/v1/tenants", params={"external_id": ob.key}).body
        existing = found.get("data") if isinstance(found, dict) else found
        return (str(existing[0]["id"]), None) if isinstance(existing, list) and existing else None

    def build() -> Outbound:
        payload = {
            "external_id": ob.key,
            "name": ob.account_name,
            "domain": ob.account_domain,
            "region": ob.region,
            "plan": ob.tier,
        }
        return Outbound("POST", "/api/v1/tenants", json=payload, headers={"Idempotency-Key": key})

    return Create(api, build, read=lambda r: (_require_id("provisioning", r.body), None), look_up=look_up)


def _http(api: ApiClient, ob: lifecycle.Onboarding, step: SetupStep, key: str, done: Mapping[str, str]) -> Create:
    assert step.http is not None
    spec = step.http

    def build() -> Outbound:
        headers = {spec.idempotency_header: key} if spec.idempotency_header else {}
        # Templates see the account's fields and the ids of finished steps as {step_<key>}.
        fields = {**ob.template_fields(), **{f"step_{k}": v for k, v in done.items()}}
        return Outbound(spec.method, spec.endpoint, json=_render(spec.payload, fields), headers=headers)

    return Create(
        api,
        build,
        read=lambda r: (_require_id(api.system, r.body, spec.id_path), None),
        resend_safe=lambda first_sent, now: spec.idempotency_header is not None,
    )


# --------------------------------------------------------------------------- running a step


def _step_row(store: Store, onboarding_id: int, step_key: str) -> dict[str, Any] | None:
    rows = store.query(
        f"SELECT * FROM {SCHEMA}.setup_steps WHERE onboarding_id = %s AND step_key = %s", (onboarding_id, step_key)
    )
    return rows[0] if rows else None


def run_step(
    store: Store, config: OnboardingConfig, key: str, step_key: str, client_for: ClientFor, now: datetime
) -> str | None:
    """Perform one setup step for one account if it is not done; return its external id.

    Returns None for a step that does not apply to this account (its condition is false).
    """
    ob = lifecycle.load(store, key)
    tier = lifecycle.tier_of(config, ob)
    step = next((s for s in tier.setup_steps if s.key == step_key), None)
    row = _step_row(store, ob.id, step_key)
    if step is None or row is None:
        raise StepNotReady(f"onboarding {key}: step {step_key!r} is not planned (tier {tier.tier})")
    if row["status"] == "skipped":
        return None
    if row["status"] == "done":
        return str(row["external_id"])
    waiting = [
        d["step_key"]
        for d in store.query(
            f"""SELECT step_key FROM {SCHEMA}.setup_steps
                WHERE onboarding_id = %s AND step_key = ANY(%s) AND status NOT IN ('done', 'skipped')""",
            (ob.id, list(row["depends_on"])),
        )
    ]
    if waiting:
        raise StepNotReady(f"onboarding {key}: {step_key} waits for {', '.join(waiting)}")
    lifecycle.advance(store, config, key, Stage.SETUP, now, ACTOR, "readiness gate passed")
    with store.transaction() as cur:
        cur.execute(
            f"""UPDATE {SCHEMA}.setup_steps SET status = 'in_progress', attempts = attempts + 1,
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
            f"""UPDATE {SCHEMA}.setup_steps SET status = 'done', external_id = %s, external_url = %s,
                    last_error = NULL, completed_at = %s, updated_at = %s
                WHERE id = %s""",
            (external_id, url, now, now, row["id"]),
        )
        Store.record_events(
            cur,
            [
                Event(
                    subject=key,
                    onboarding_id=ob.id,
                    event_type="setup.step_completed",
                    actor=ACTOR,
                    occurred_at=now,
                    stage=Stage.SETUP.value,
                    stage_owner=ob.stage_owner_email,
                    details={"step": step.key, "kind": step.kind.value, "external_id": external_id, "url": url},
                    dedupe_key=f"setup.step_completed:{idempotency_key}",
                )
            ],
        )
    log.info("onboarding %s: %s done (%s)", key, step.key, external_id)
    return external_id


def _call(
    store: Store,
    config: OnboardingConfig,
    ob: lifecycle.Onboarding,
    step: SetupStep,
    key: str,
    client_for: ClientFor,
    *,
    wall: Callable[[], float] = time.time,
) -> Found:
    """Create (or find) the step's object: the frozen request, sent so that it takes effect once."""
    row = _step_row(store, ob.id, step.key)
    if row is None:
        raise StepNotReady(f"onboarding {ob.key}: step {step.key!r} is not planned")
    create = _create_for(store, config, ob, step, key, client_for)
    return _create_once(store, row, create, step, wall)


def _create_for(
    store: Store, config: OnboardingConfig, ob: lifecycle.Onboarding, step: SetupStep, key: str, client_for: ClientFor
) -> Create:
    runs = config.settings.runs
    if step.kind is StepKind.JIRA_ISSUE:
        return _jira_issue(client_for(TICKETING_API), ob, step, key, runs, None)
    if step.kind is StepKind.JIRA_SUBTASK:
        steps = {s.key: s for s in lifecycle.tier_of(config, ob).setup_steps}
        parent_step = next(d for d in step.depends_on if steps[d].kind is StepKind.JIRA_ISSUE)
        parent_row = _step_row(store, ob.id, parent_step)
        parent = str(parent_row["external_id"]) if parent_row else None
        return _jira_issue(client_for(TICKETING_API), ob, step, key, runs, parent)
    if step.kind is StepKind.STRIPE_CUSTOMER:
        return _stripe_customer(client_for(BILLING_API), ob, key, runs)
    if step.kind is StepKind.SCIM_USER:
        return _scim_user(client_for(PROVISIONING_API), ob, key)
    if step.kind is StepKind.TENANT:
        return _tenant(client_for(PROVISIONING_API), ob, key)
    assert step.http is not None
    done = {
        r["step_key"]: str(r["external_id"])
        for r in store.query(
            f"SELECT step_key, external_id FROM {SCHEMA}.setup_steps WHERE onboarding_id = %s AND status = 'done'",
            (ob.id,),
        )
    }
    return _http(client_for(step.http.connection), ob, step, key, done)


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
) -> Found:
    """Send the frozen request until an answer arrives, never twice where that could create twice.

    Before every send the object is looked up; where a re-send is not safe and
    an earlier send may have taken effect, the look-up is repeated until the
    vendor's search lag since that send has passed, and what it finds is adopted.
    """
    api = create.api
    outbound = _frozen(store, row, create)
    first_sent, last_sent = _timestamp(row.get("first_sent_at")), _timestamp(row.get("last_sent_at"))
    resend_safe = create.resend_safe(first_sent, wall())
    for _ in range(MAX_SENDS):
        if create.look_up is not None:
            lag_from = None if resend_safe else last_sent
            found = api.look_up_after(create.look_up, lag_from, create.search_lag_seconds, wall)
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
            response = api.request(
                outbound.method,
                outbound.endpoint,
                json_body=outbound.json,
                form_body=outbound.form,
                headers=outbound.headers,
                ok_statuses=create.ok_statuses,
                resend_safe=resend_safe,
            )
        except ApiError as exc:
            if resend_safe or not exc.maybe_committed:
                raise
            log.warning("%s; looking it up before sending again", exc)
            continue
        return create.read(response)
    raise ApiError(
        api.system,
        f"{api.system} {outbound.method} {outbound.endpoint} for step {step.key!r}: the answer was lost {MAX_SENDS} "
        f"times and a look-up {create.search_lag_seconds:g}s after each send found nothing",
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
                    event_type="setup.step_failed",
                    actor=ACTOR,
                    occurred_at=now,
                    stage=Stage.SETUP.value,
                    stage_owner=ob.stage_owner_email,
                    details={"step": step.key, "kind": step.kind.value, "error": error, "permanent": permanent},
                )
            ],
        )


def tenant_status(store: Store, key: str, client_for: ClientFor) -> tuple[str, str | None]:
    """The provisioning state of the account's tenant: ('active'|'provisioning'|'failed'|..., error)."""
    ob = lifecycle.load(store, key)
    rows = store.query(
        f"SELECT external_id, status FROM {SCHEMA}.setup_steps WHERE onboarding_id = %s AND kind = 'tenant'",
        (ob.id,),
    )
    if not rows:
        return "active", None  # no tenant step in this tier: nothing asynchronous to wait for
    if rows[0]["status"] != "done":
        raise StepNotReady(f"onboarding {key}: the tenant was not created (step status {rows[0]['status']})")
    body = client_for(PROVISIONING_API).request("GET", f"/api/v1/tenants/{rows[0]['external_id']}").body
    status = str(_dig(body, "status") or "unknown")
    return status, _dig(body, "error")
