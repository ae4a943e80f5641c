"""The checklist trigger wakes on the portal's NOTIFY, not on its slow poll.

Real PostgreSQL, the real trigger on an asyncio loop as the triggerer runs it,
and a submission judged through the one way in every channel uses
(:func:`checklist.judge_submission`, which the portal calls).  The slow poll is
set to an hour: a trigger that fires within the test's wait was woken by the
notification.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timezone
from typing import Any

from include.onboarding import checklist, lifecycle
from include.onboarding.config import load_config
from include.onboarding.store import Store, connect_dsn
from include.onboarding.triggers import ChecklistItemTrigger
from include.onboarding.validators import AccountContext, Submission
from tests.factories import deal_properties
from tests.test_intake import pickup

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
AN_HOUR = 3600.0
WAIT = 30.0


def _planned(store: Store, sandbox: Any) -> str:
    config = load_config()
    deal = sandbox.state.upsert_deal(deal_properties(onboarding_tier="smb", segment="commercial", amount="9000"))
    pickup(store, config, f"b-{deal['id']}")
    key = f"hubspot-{deal['id']}"
    lifecycle.plan(store, config, key, NOW, "test")
    return key


def _submit_later(database_url: str, key: str, item_key: str, value: str, after: float) -> threading.Thread:
    """Judge one submission from another connection ``after`` seconds from now, as the portal would."""

    def work() -> None:
        threading.Event().wait(after)
        config = load_config()
        with connect_dsn(database_url) as conn:
            store = Store(conn)
            ob = lifecycle.load(store, key)
            item = next(i for i in lifecycle.tier_of(config, ob).checklist if i.key == item_key)
            checklist.judge_submission(
                store, ob, item, Submission(item_key=item_key, value=value), submission_id=f"s-{value}",
                submitted_at=NOW, submitted_by=ob.primary_contact_email, summary={"value": value},
                account=AccountContext(region=ob.region, country=None, company_domain=ob.account_domain), now=NOW,
            )  # fmt: skip

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


async def _first_event(trigger: ChecklistItemTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


def test_a_verified_submission_wakes_the_waiting_trigger_at_once(store: Store, sandbox: Any, database_url: str) -> None:
    key = _planned(store, sandbox)
    trigger = ChecklistItemTrigger(onboarding_key=key, item_key="billing_contact_email", poll_seconds=AN_HOUR)
    # A rejected answer wakes nothing that matters (the item still holds the account); the correction does.
    _submit_later(database_url, key, "billing_contact_email", "ap@", after=0.5)
    writer = _submit_later(database_url, key, "billing_contact_email", "ap@northwind.example", after=1.5)

    event = asyncio.run(asyncio.wait_for(_first_event(trigger), timeout=WAIT))

    writer.join(5)
    assert event == {"onboarding_key": key, "item_key": "billing_contact_email", "why": "the item is verified"}
    verdicts = [r["verdict"] for r in store.query("SELECT verdict FROM onboarding.submissions ORDER BY id")]
    assert verdicts == ["rejected", "verified"]


def test_a_nice_to_have_item_is_released_when_the_last_critical_item_arrives(
    store: Store, sandbox: Any, database_url: str
) -> None:
    key = _planned(store, sandbox)
    items = store.query("SELECT item_key, critical FROM onboarding.checklist_items ORDER BY id")
    optional = next((r["item_key"] for r in items if not r["critical"]), None)
    critical = [r["item_key"] for r in items if r["critical"]]
    assert optional is not None and critical, items
    # Every critical item but one is in; the last one arrives while the nice-to-have item's trigger waits.
    store.conn.execute(
        "UPDATE onboarding.checklist_items SET status = 'verified' WHERE critical AND item_key <> %s", (critical[0],)
    )
    trigger = ChecklistItemTrigger(onboarding_key=key, item_key=optional, poll_seconds=AN_HOUR)
    value = "ap@northwind.example" if critical[0].endswith("email") else "northwind.example"
    writer = _submit_later(database_url, key, critical[0], value, after=1.0)

    event = asyncio.run(asyncio.wait_for(_first_event(trigger), timeout=WAIT))

    writer.join(5)
    assert event["why"] == "every critical item is in", (event, critical[0])
