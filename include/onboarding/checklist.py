"""Collecting the customer's inputs with one structured checklist.

One request goes to the customer portal (connection ``forms_api``) listing
every item the account needs.  Each submission is validated on arrival: a
valid one verifies the item; an invalid one is rejected with a reason the
customer can act on, the item is re-requested, and the sensor keeps waiting.
Every submission and verdict is kept (``onboarding.submissions``) and logged
in the audit trail, so completeness per account is always current.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from include.onboarding import lifecycle
from include.onboarding.config import ChecklistItem, OnboardingConfig, Stage
from include.onboarding.http import ApiClient, ApiError
from include.onboarding.store import SCHEMA, Event, Store
from include.onboarding.validators import AccountContext, DocumentMeta, Submission, validate

log = logging.getLogger(__name__)

ACTOR = "system:checklist"
REQUESTS = "/api/v1/requests"


def _items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return [x for x in body if isinstance(x, dict)]
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        return [x for x in body["data"] if isinstance(x, dict)]
    raise ApiError("forms", f"forms answered without a list of records: {str(body)[:200]!r}", retryable=True)


def _item_payload(item: ChecklistItem) -> dict[str, Any]:
    payload: dict[str, Any] = {"key": item.key, "label": item.label, "type": item.type.value, "critical": item.critical}
    if item.help:
        payload["help"] = item.help
    if item.choices:
        payload["choices"] = item.choices
    if item.document:
        payload["document"] = {"content_types": item.document.content_types, "max_mb": item.document.max_mb}
    return payload


def request_inputs(store: Store, api: ApiClient, config: OnboardingConfig, key: str, now: datetime) -> str:
    """Send the account's checklist to the customer once; return the portal's request id."""
    onboarding = lifecycle.load(store, key)
    if onboarding.forms_request_id:
        return onboarding.forms_request_id
    tier = lifecycle.tier_of(config, onboarding)
    planned = {r["item_key"] for r in store.query(
        f"SELECT item_key FROM {SCHEMA}.checklist_items WHERE onboarding_id = %s", (onboarding.id,)
    )}  # fmt: skip
    items = [i for i in tier.checklist if i.key in planned]
    # Look up before creating: the portal's idempotency keys expire, our records do not.
    found = _items(api.request("GET", REQUESTS, params={"external_ref": key}).body)
    if found:
        request = found[0]
    else:
        body = {
            "external_ref": key,
            "recipient": {"email": onboarding.primary_contact_email, "name": onboarding.primary_contact_name},
            "account_name": onboarding.account_name,
            "due_date": onboarding.activation_target.isoformat(),
            "items": [_item_payload(i) for i in items],
        }
        request = api.request("POST", REQUESTS, json_body=body, headers={"Idempotency-Key": f"{key}:checklist"}).body
    if not isinstance(request, dict) or not request.get("id"):
        raise ApiError("forms", f"forms created a request without an id: {str(request)[:200]!r}", retryable=True)
    request_id = str(request["id"])
    with store.transaction() as cur:
        cur.execute(
            f"""UPDATE {SCHEMA}.onboardings SET forms_request_id = %s, forms_request_url = %s, updated_at = %s
                WHERE id = %s""",
            (request_id, request.get("url"), now, onboarding.id),
        )
        cur.execute(
            f"""UPDATE {SCHEMA}.checklist_items SET requested_at = COALESCE(requested_at, %s), updated_at = %s
                WHERE onboarding_id = %s""",
            (now, now, onboarding.id),
        )
        Store.record_events(
            cur,
            [
                Event(
                    subject=key,
                    onboarding_id=onboarding.id,
                    event_type="checklist.requested",
                    actor=ACTOR,
                    occurred_at=now,
                    stage=onboarding.stage.value,
                    stage_owner=onboarding.stage_owner_email,
                    details={"request_id": request_id, "url": request.get("url"), "items": [i.key for i in items]},
                    dedupe_key=f"checklist.requested:{key}",
                )
            ],
        )
    lifecycle.advance(store, config, key, Stage.COLLECT_INPUTS, now, ACTOR, "checklist sent to the customer")
    return request_id


def _submissions(api: ApiClient, request_id: str, item_key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):  # a hundred pages of submissions for one item is already absurd
        params: dict[str, Any] = {"item_key": item_key, "limit": 50}
        if cursor:
            params["after"] = cursor
        body = api.request("GET", f"{REQUESTS}/{request_id}/submissions", params=params).body
        found.extend(_items(body))
        cursor = body.get("next_cursor") if isinstance(body, dict) else None
        if not cursor:
            break
    return found


def _as_submission(item_key: str, raw: dict[str, Any]) -> Submission:
    doc = raw.get("document")
    document = None
    if isinstance(doc, dict):
        try:
            document = DocumentMeta(
                filename=str(doc.get("filename") or ""),
                content_type=str(doc.get("content_type") or ""),
                size_bytes=int(doc.get("size_bytes") or 0),
                sha256=doc.get("sha256"),
            )
        except (TypeError, ValueError):
            document = DocumentMeta(filename=str(doc.get("filename") or ""), content_type="", size_bytes=0)
    value = raw.get("value")
    return Submission(item_key=item_key, value=value if isinstance(value, str) else None, document=document)


def _submitted_at(raw: dict[str, Any]) -> datetime | None:
    text = raw.get("submitted_at")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def poll_item(store: Store, api: ApiClient, config: OnboardingConfig, key: str, item_key: str, now: datetime) -> bool:
    """Look at new submissions for one item; True once the account no longer waits on it."""
    onboarding = lifecycle.load(store, key)
    tier = lifecycle.tier_of(config, onboarding)
    item = next((i for i in tier.checklist if i.key == item_key), None)
    if item is None:
        raise lifecycle.TierRemoved(f"onboarding {key}: item {item_key!r} is no longer in tier {tier.tier!r}")
    if not onboarding.forms_request_id:
        raise RuntimeError(f"onboarding {key}: the checklist has not been sent to the customer yet")
    row = store.query(
        f"SELECT status FROM {SCHEMA}.checklist_items WHERE onboarding_id = %s AND item_key = %s",
        (onboarding.id, item_key),
    )
    if row and row[0]["status"] in ("verified", "waived"):
        return True
    seen = {
        r["submission_id"]
        for r in store.query(
            f"SELECT submission_id FROM {SCHEMA}.submissions WHERE onboarding_id = %s AND item_key = %s",
            (onboarding.id, item_key),
        )
    }
    # The customer's own country is not on the order (a region spans many countries), so a VAT
    # number is checked against its own country prefix, not against the region.
    account = AccountContext(region=onboarding.region, country=None, company_domain=onboarding.account_domain)
    fresh = [s for s in _submissions(api, onboarding.forms_request_id, item_key) if str(s.get("id")) not in seen]
    for raw in fresh:
        _judge(store, api, onboarding, item, raw, account, now, latest=raw is fresh[-1])
    if _status(store, onboarding.id, item_key) in ("verified", "waived"):
        return True
    # A nice-to-have item never holds the account once every critical item is in.
    return not item.critical and not _critical_outstanding(store, onboarding.id)


def _status(store: Store, onboarding_id: int, item_key: str) -> str:
    return str(
        store.scalar(
            f"SELECT status FROM {SCHEMA}.checklist_items WHERE onboarding_id = %s AND item_key = %s",
            (onboarding_id, item_key),
        )
    )


def _critical_outstanding(store: Store, onboarding_id: int) -> bool:
    return bool(
        store.scalar(
            f"""SELECT count(*) FROM {SCHEMA}.checklist_items
                WHERE onboarding_id = %s AND critical AND status NOT IN ('verified', 'waived')""",
            (onboarding_id,),
        )
    )


@dataclass(frozen=True)
class Judgement:
    """What became of one submission."""

    outcome: str
    """``verified``, ``rejected``, or ``ignored`` (the item was already verified; kept for the record only)."""
    reason: str | None = None
    """For the customer, when rejected."""
    first: bool = True
    """False when this submission id was judged before (a repeated look); nothing changed then."""


def judge_submission(
    store: Store,
    onboarding: lifecycle.Onboarding,
    item: ChecklistItem,
    submission: Submission,
    *,
    submission_id: str,
    submitted_at: datetime,
    submitted_by: str,
    summary: dict[str, Any],
    account: AccountContext,
    now: datetime,
) -> Judgement:
    """Validate one submission, record it with its verdict, and update the item: the one way in for every channel.

    The submission row, the item's new status and the ``input.<verdict>`` audit event are written
    in one transaction that holds the item's row, so two submissions of one item at once each get
    their verdict and the item ends in one state: once verified, a later submission is ``ignored``.
    ``summary`` is what is kept of a rejected or ignored submission (never a large blob).
    """
    settled = _status(store, onboarding.id, item.key) == "verified"
    verdict = validate(item, submission, account) if not settled else None
    with store.transaction() as cur:
        cur.execute(
            f"""SELECT status FROM {SCHEMA}.checklist_items WHERE onboarding_id = %s AND item_key = %s FOR UPDATE""",
            (onboarding.id, item.key),
        )
        row = cur.fetchone()
        if row is not None and row["status"] == "verified":
            verdict = None  # verified by another submission meanwhile
        if verdict is None:
            # The item is already settled: keep the later submission for the record, change nothing.
            outcome, reason, recorded_value = "ignored", "the item was already verified", summary
        elif verdict.ok:
            outcome, reason, recorded_value = "verified", None, verdict.value
        else:
            outcome, reason, recorded_value = "rejected", verdict.reason, summary
        cur.execute(
            f"""INSERT INTO {SCHEMA}.submissions
                    (onboarding_id, item_key, submission_id, submitted_at, value, verdict, reason, recorded_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (onboarding_id, submission_id) DO NOTHING""",
            (onboarding.id, item.key, submission_id, submitted_at, Jsonb(recorded_value), outcome, reason, now),
        )
        if cur.rowcount == 0:
            return Judgement(outcome, reason, first=False)  # judged by an earlier poke
        if verdict is None:
            return Judgement(outcome, reason)
        if verdict.ok:
            cur.execute(
                f"""UPDATE {SCHEMA}.checklist_items
                    SET status = 'verified', value = %s, rejection_reason = NULL, submissions = submissions + 1,
                        received_at = COALESCE(received_at, %s), verified_at = %s, last_submission_id = %s,
                        last_submission_at = %s, updated_at = %s
                    WHERE onboarding_id = %s AND item_key = %s AND status <> 'verified'""",
                (Jsonb(verdict.value), submitted_at, now, submission_id, submitted_at, now, onboarding.id, item.key),
            )
        else:
            cur.execute(
                f"""UPDATE {SCHEMA}.checklist_items
                    SET status = 'rejected', rejection_reason = %s, submissions = submissions + 1,
                        received_at = COALESCE(received_at, %s), last_submission_id = %s, last_submission_at = %s,
                        updated_at = %s
                    WHERE onboarding_id = %s AND item_key = %s AND status <> 'verified'""",
                (verdict.reason, submitted_at, submission_id, submitted_at, now, onboarding.id, item.key),
            )
        Store.record_events(
            cur,
            [
                Event(
                    subject=onboarding.key,
                    onboarding_id=onboarding.id,
                    event_type=f"input.{outcome}",
                    actor=f"customer:{submitted_by}",
                    occurred_at=submitted_at,
                    stage=onboarding.stage.value,
                    stage_owner=onboarding.stage_owner_email,
                    details={"item": item.key, "submission_id": submission_id, "critical": item.critical}
                    | ({"reason": verdict.reason} if verdict.reason else {}),
                    dedupe_key=f"input:{onboarding.key}:{submission_id}",
                )
            ],
        )
    return Judgement(outcome, reason)


def _judge(
    store: Store,
    api: ApiClient,
    onboarding: lifecycle.Onboarding,
    item: ChecklistItem,
    raw: dict[str, Any],
    account: AccountContext,
    now: datetime,
    latest: bool,
) -> None:
    submission_id = str(raw.get("id"))
    judgement = judge_submission(
        store,
        onboarding,
        item,
        _as_submission(item.key, raw),
        submission_id=submission_id,
        submitted_at=_submitted_at(raw) or now,
        submitted_by=str(raw.get("submitted_by") or onboarding.primary_contact_email),
        summary=_summary(raw),
        account=account,
        now=now,
    )
    if not judgement.first or judgement.outcome == "ignored":
        return
    if judgement.outcome == "rejected":
        log.warning("onboarding %s: %s rejected: %s", onboarding.key, item.key, judgement.reason)
        if latest:
            _rerequest(store, api, onboarding, item, submission_id, judgement.reason or "invalid", now)
    else:
        log.info("onboarding %s: %s verified", onboarding.key, item.key)


def _summary(raw: dict[str, Any]) -> dict[str, Any]:
    """What to keep of a rejected submission: enough to explain it, never a huge blob."""
    value = raw.get("value")
    return {
        "value": value[:200] if isinstance(value, str) else None,
        "document": raw.get("document") if isinstance(raw.get("document"), dict) else None,
    }


def _rerequest(
    store: Store,
    api: ApiClient,
    onboarding: lifecycle.Onboarding,
    item: ChecklistItem,
    submission_id: str,
    reason: str,
    now: datetime,
) -> None:
    api.request(
        "POST",
        f"{REQUESTS}/{onboarding.forms_request_id}/items/{item.key}/rerequest",
        json_body={"reason": reason},
        headers={"Idempotency-Key": f"{onboarding.key}:rerequest:{submission_id}"},
    )
    lifecycle.record(
        store,
        onboarding.key,
        "input.rerequested",
        now,
        ACTOR,
        {"item": item.key, "reason": reason, "after_submission": submission_id},
        dedupe=f"input.rerequested:{onboarding.key}:{submission_id}",
    )
