"""The last mile: wait for provisioning, tell the customer, hand the account over, mark it live.

An account is live only when every setup step is done (or does not apply),
the customer has been sent the go-live notice, and ownership has passed to
the post-onboarding owner, all recorded in the audit trail.  Its time to value
is then known from the trail alone: signed, first value (setup complete), live.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from include.onboarding import blockkit, lifecycle, runtime, state
from include.onboarding.config import OnboardingConfig, Stage
from include.onboarding.events import EventType
from include.onboarding.exceptions import NotReadyToGoLive as NotReadyToGoLive
from include.onboarding.exceptions import ProvisioningFailed as ProvisioningFailed
from include.onboarding.setup_steps import ClientFor, tenant_status
from include.onboarding.store import SCHEMA, Store

log = logging.getLogger(__name__)

ACTOR = "system:go-live"


def _events(store: Store, onboarding_id: int, event_type: str) -> list[dict[str, Any]]:
    return store.query(
        f"SELECT * FROM {SCHEMA}.events WHERE onboarding_id = %s AND event_type = %s ORDER BY id",
        (onboarding_id, event_type),
    )


def _steps(store: Store, onboarding_id: int) -> list[dict[str, Any]]:
    return store.query(
        f"SELECT step_key, kind, status, external_id FROM {SCHEMA}.setup_steps WHERE onboarding_id = %s ORDER BY id",
        (onboarding_id,),
    )


def poll_provisioning(
    store: Store, config: OnboardingConfig, onboarding_key: str, client_for: ClientFor, now: datetime
) -> bool:
    """True once the account's tenant reports active; raises if provisioning failed."""
    state.advance(store, config, onboarding_key, Stage.PROVISIONING, now, ACTOR, "tenant requested")
    status, error = tenant_status(store, onboarding_key, client_for)
    if status == "failed":
        raise ProvisioningFailed(
            f"onboarding {onboarding_key}: tenant provisioning failed: {error or 'no reason given'}"
        )
    if status != "active":
        return False
    lifecycle.record(
        store, onboarding_key, EventType.PROVISIONING_DONE, now, ACTOR, {"status": status},
        dedupe=f"provisioning.done:{onboarding_key}",
    )  # fmt: skip
    return True


def _complete_setup(store: Store, onboarding_key: str, onboarding_id: int, now: datetime) -> list[dict[str, Any]]:
    """Record the moment setup is complete (first value); refuse while a step is unfinished."""
    steps = _steps(store, onboarding_id)
    unfinished = [s["step_key"] for s in steps if s["status"] not in ("done", "skipped")]
    if unfinished:
        raise NotReadyToGoLive(f"onboarding {onboarding_key}: setup steps not done: {', '.join(unfinished)}")
    if not _events(store, onboarding_id, EventType.PROVISIONING_DONE):
        raise NotReadyToGoLive(f"onboarding {onboarding_key}: provisioning has not reported done")
    lifecycle.record(
        store, onboarding_key, EventType.SETUP_COMPLETED, now, ACTOR,
        {"steps": {s["step_key"]: s["external_id"] for s in steps if s["status"] == "done"}},
        dedupe=f"setup.completed:{onboarding_key}",
    )  # fmt: skip
    return [s for s in steps if s["status"] == "done"]


def notify_customer(store: Store, config: OnboardingConfig, onboarding_key: str, now: datetime) -> int:
    """Queue the go-live email listing what was set up; once.  Returns its outbox id."""
    from include.onboarding import mail

    ob = lifecycle.load(store, onboarding_key)
    sent = _events(store, ob.id, EventType.CUSTOMER_NOTIFIED)
    if sent:
        return int(sent[0]["details"]["outbox_id"])
    done = _complete_setup(store, onboarding_key, ob.id, now)
    state.advance(store, config, onboarding_key, Stage.CUSTOMER_COMMUNICATION, now, ACTOR, "setup complete")
    tier = lifecycle.tier_of(config, ob)
    labels = {s.key: s.label for s in tier.setup_steps}
    set_up = [f"{labels.get(s['step_key'], s['step_key'])}: {s['external_id']}" for s in done]
    mail.queue_go_live(store, config, onboarding_key, now, set_up=set_up)
    outbox_id = int(
        store.scalar(f"SELECT id FROM {SCHEMA}.outbox WHERE dedupe_key = %s", (f"go_live:{onboarding_key}",))
    )
    lifecycle.record(
        store, onboarding_key, EventType.CUSTOMER_NOTIFIED, now, ACTOR,
        {"outbox_id": outbox_id, "to": ob.primary_contact_email, "set_up": [s["step_key"] for s in done]},
        dedupe=f"customer.notified:{onboarding_key}",
    )  # fmt: skip
    return outbox_id


def announce(config: OnboardingConfig, email: str, text: str) -> bool:
    """Post to a person's Slack webhook.  False if the person has no Slack connection configured.

    Raises :class:`~include.onboarding.clients.slack.DeliveryFailed` when Slack does not take it.
    """
    person = config.settings.people_by_email.get(email)
    if person is None or not person.slack_connection:
        return False
    runtime.slack_client(person.slack_connection, config).post(text=text, blocks=[blockkit.section(text)])
    return True


def hand_off(store: Store, config: OnboardingConfig, onboarding_key: str, now: datetime) -> str:
    """Pass the account to its post-onboarding owner, record it, and tell them."""
    ob = lifecycle.load(store, onboarding_key)
    if not _events(store, ob.id, EventType.CUSTOMER_NOTIFIED):
        raise NotReadyToGoLive(f"onboarding {onboarding_key}: the customer has not been told it is live")
    tier = lifecycle.tier_of(config, ob)
    new_owner = state.hand_off(store, config, onboarding_key, now, ACTOR, "customer notified")
    if not _events(store, ob.id, EventType.HANDOFF_ANNOUNCED):
        name = blockkit.clip(ob.account_name, blockkit.NAME_CHARS)  # the store keeps the whole name
        text = (
            f"*{name}* ({ob.key}, {tier.display_name}) is live and now yours as {new_owner.role}. "
            f"Handed over by {ob.owner_email}."
        )
        delivered = announce(config, new_owner.email, text)
        lifecycle.record(
            store, onboarding_key, EventType.HANDOFF_ANNOUNCED, now, ACTOR,
            {"to": new_owner.email, "delivered": delivered, "channel": "slack" if delivered else "none configured"},
            dedupe=f"handoff.announced:{onboarding_key}",
        )  # fmt: skip
    return new_owner.email


def mark_live(store: Store, config: OnboardingConfig, onboarding_key: str, now: datetime) -> dict[str, Any]:
    """Close the onboarding unit, only when setup, customer communication and handoff are all logged."""
    ob = lifecycle.load(store, onboarding_key)
    if ob.status == "live":
        return {"onboarding_key": onboarding_key, "live_at": ob.live_at.isoformat() if ob.live_at else None}
    missing = [
        what
        for what, event in (
            ("setup complete", EventType.SETUP_COMPLETED),
            ("customer notified", EventType.CUSTOMER_NOTIFIED),
            ("ownership handed off", EventType.OWNERSHIP_HANDED_OFF),
        )
        if not _events(store, ob.id, event)
    ]
    unfinished = [s["step_key"] for s in _steps(store, ob.id) if s["status"] not in ("done", "skipped")]
    if missing or unfinished:
        raise NotReadyToGoLive(
            f"onboarding {onboarding_key} cannot go live:"
            f" missing {', '.join(missing + [f'step {u}' for u in unfinished])}"
        )
    first_value = _events(store, ob.id, EventType.SETUP_COMPLETED)[0]["occurred_at"]
    state.go_live(
        store, config, onboarding_key, now, ACTOR, "setup, customer notice and handoff logged",
        {
            "signed_at": ob.signed_at.isoformat(),
            "first_value_at": first_value.isoformat(),
            "live_at": now.isoformat(),
            "days_to_first_value": round((first_value - ob.signed_at).total_seconds() / 86400, 2),
            "days_to_live": round((now - ob.signed_at).total_seconds() / 86400, 2),
            "activation_target": ob.activation_target.isoformat(),
            "on_time": now.date() <= ob.activation_target,
        },
    )  # fmt: skip
    return {"onboarding_key": onboarding_key, "live_at": now.isoformat()}
