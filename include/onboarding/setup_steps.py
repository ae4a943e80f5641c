"""Downstream setup, each call made exactly once.

Every step has one idempotency key, ``<onboarding key>:<step key>``.  Where the
API takes an ``Idempotency-Key`` header (Stripe, the tenant and SSO APIs, the
generic HTTP step) it is sent; where it does not (Jira, SCIM) the object is
looked up first (Jira by a label carrying the key, SCIM by ``userName``, a 409
meaning it already exists).  The external id is stored the moment it returns.
So a retried step, a cleared task, or a worker killed between the API's
success and our write never creates a second ticket, customer or user.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from include.onboarding import lifecycle
from include.onboarding.config import OnboardingConfig, SetupStep, Stage, StepKind
from include.onboarding.connections import BILLING_API, PROVISIONING_API, TICKETING_API
from include.onboarding.http import ApiClient, ApiError
from include.onboarding.store import SCHEMA, Event, Store

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


# --------------------------------------------------------------------------- one call per kind


def _jira_issue(
    api: ApiClient, ob: lifecycle.Onboarding, step: SetupStep, key: str, project: str, parent: str | None
) -> tuple[str, str | None]:
    label = jira_label(key)
    found = api.request(
        "GET", "/rest/api/3/search/jql", params={"jql": f'labels = "{label}"', "fields": "summary,labels"}
    ).body
    issues = found.get("issues") if isinstance(found, dict) else None
    if issues:
        return str(issues[0]["key"]), issues[0].get("self")
    fields: dict[str, Any] = {
        "project": {"key": project},
        "summary": f"{step.label}: {ob.account_name} ({ob.tier}, go-live {ob.activation_target.isoformat()})",
        "issuetype": {"name": "Sub-task" if parent else "Task"},
        "labels": [label, "onboarding", f"tier-{ob.tier}"],
        "description": {
            "type": "doc",
            "version": 1,
            "content": [
                {
                    "type": "paragraph",
                    "content": [
                        {
                            "type": "text",
                            "text": f"Onboarding {ob.key} for {ob.account_name}. Owner: {ob.owner_email}. "
                            f"Target go-live {ob.activation_target.isoformat()}.",
                        }
                    ],
                }
            ],
        },
    }
    if parent:
        fields["parent"] = {"key": parent}
    body = api.request("POST", "/rest/api/3/issue", json_body={"fields": fields}).body
    return _require_id("ticketing", body, "key"), _dig(body, "self")


def _stripe_customer(api: ApiClient, ob: lifecycle.Onboarding, key: str) -> tuple[str, str | None]:
    query = f"metadata['onboarding_key']:'{ob.key}'"
    found = api.request("GET", "/v1/customers/search", params={"query": query}).body
    if isinstance(found, dict) and found.get("data"):
        return str(found["data"][0]["id"]), None
    form = _stripe_form(
        {
            "name": ob.account_name,
            "email": ob.primary_contact_email,
            "description": f"Onboarding {ob.key} ({ob.tier})",
            "metadata": {"onboarding_key": ob.key, "tier": ob.tier, "region": ob.region},
        }
    )
    body = api.request("POST", "/v1/customers", form_body=form, headers={"Idempotency-Key": key}).body
    return _require_id("billing", body), None


def _scim_user(api: ApiClient, ob: lifecycle.Onboarding, key: str) -> tuple[str, str | None]:
    user_name = ob.primary_contact_email
    given, _, family = (ob.primary_contact_name or user_name.split("@")[0]).partition(" ")
    payload = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "externalId": key,
        "name": {"givenName": given, "familyName": family or given},
        "emails": [{"value": user_name, "primary": True}],
        "active": True,
    }
    response = api.request("POST", "/scim/v2/Users", json_body=payload, ok_statuses=(409,))
    if response.status != 409:
        return _require_id("provisioning", response.body), _dig(response.body, "meta.location")
    # 409 uniqueness: the user exists (an earlier attempt, or the customer's own); adopt it.
    found = api.request("GET", "/scim/v2/Users", params={"filter": f'userName eq "{user_name}"'}).body
    resources = found.get("Resources") if isinstance(found, dict) else None
    if not resources:
        raise ApiError("provisioning", f"SCIM said {user_name!r} exists (409) but a lookup finds no such user")
    return str(resources[0]["id"]), _dig(resources[0], "meta.location")


def _tenant(api: ApiClient, ob: lifecycle.Onboarding, key: str) -> tuple[str, str | None]:
    found = api.request("GET", "/api/v1/tenants", params={"external_id": ob.key}).body
    existing = found.get("data") if isinstance(found, dict) else found
    if isinstance(existing, list) and existing:
        return str(existing[0]["id"]), None
    payload = {
        "external_id": ob.key,
        "name": ob.account_name,
        "domain": ob.account_domain,
        "region": ob.region,
        "plan": ob.tier,
    }
    body = api.request("POST", "/api/v1/tenants", json_body=payload, headers={"Idempotency-Key": key}).body
    return _require_id("provisioning", body), None


def _http(
    api: ApiClient, ob: lifecycle.Onboarding, step: SetupStep, key: str, done: Mapping[str, str]
) -> tuple[str, str | None]:
    assert step.http is not None
    spec = step.http
    headers = {spec.idempotency_header: key} if spec.idempotency_header else {}
    # Templates see the account's fields and the ids of finished steps as {step_<key>}.
    fields = {**ob.template_fields(), **{f"step_{k}": v for k, v in done.items()}}
    body = api.request(spec.method, spec.endpoint, json_body=_render(spec.payload, fields), headers=headers)
    return _require_id(api.system, body.body, spec.id_path), None


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
) -> tuple[str, str | None]:
    if step.kind is StepKind.JIRA_ISSUE:
        return _jira_issue(client_for(TICKETING_API), ob, step, key, config.settings.runs.ticket_project, None)
    if step.kind is StepKind.JIRA_SUBTASK:
        steps = {s.key: s for s in lifecycle.tier_of(config, ob).setup_steps}
        parent_step = next(d for d in step.depends_on if steps[d].kind is StepKind.JIRA_ISSUE)
        parent_row = _step_row(store, ob.id, parent_step)
        parent = str(parent_row["external_id"]) if parent_row else None
        return _jira_issue(client_for(TICKETING_API), ob, step, key, config.settings.runs.ticket_project, parent)
    if step.kind is StepKind.STRIPE_CUSTOMER:
        return _stripe_customer(client_for(BILLING_API), ob, key)
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
