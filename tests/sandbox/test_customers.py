"""The simulated customers act as people do: mail in, link opened, the portal's own forms.

Real PostgreSQL, the portal under uvicorn, the sandbox's SMTP server; the
invitation is queued and delivered by the engine's own mail code.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from include.onboarding import checklist, lifecycle, mail
from include.onboarding.config import load_config
from include.onboarding.store import Store
from tests.factories import deal_properties
from tests.test_intake import pickup

NOW = datetime.now(timezone.utc)


def _invited(store: Store, sandbox: Any, behaviour: str, **props: Any) -> tuple[str, str]:
    config = load_config()
    properties = deal_properties(**props)
    contact = properties["primary_contact_email"]
    sandbox.state.customers.set_behaviour(behaviour, contact)
    deal = sandbox.state.upsert_deal(properties)
    pickup(store, config, f"b-{deal['id']}")
    key = f"hubspot-{deal['id']}"
    lifecycle.plan(store, config, key, NOW, "test")
    checklist.request_inputs(store, config, key, NOW)
    assert mail.deliver_pending(store, config, NOW).sent == 1
    return key, contact


def _statuses(store: Store) -> dict[str, str]:
    return {r["item_key"]: r["status"] for r in store.query("SELECT item_key, status FROM onboarding.checklist_items")}


def _until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the simulated customers did not get there"
        time.sleep(0.2)


def test_a_forwarding_customer_passes_billing_to_finance_who_answers_from_their_own_link(
    store: Store, sandbox: Any, portal: str
) -> None:
    config = load_config()
    sandbox.state.customers.set_behaviour("prompt")  # the colleague in finance answers at once
    key, contact = _invited(store, sandbox, "forwarding", onboarding_tier="smb", segment="commercial", amount="9000")

    def forwarded_and_delivered() -> bool:
        mail.deliver_pending(store, config, datetime.now(timezone.utc))  # the forward's invitation
        return all(status == "verified" for status in _statuses(store).values())

    _until(forwarded_and_delivered)
    did = sandbox.state.customers.ledger()
    (forward,) = [a for a in did if a["action"] == "forwarded"]
    assert forward["email"] == contact and "billing_contact_email" in forward["items"]
    finance = forward["to"]
    by_whom = {r["item_key"]: r["actor"] for r in store.query(
        """SELECT details->>'item' AS item_key, actor FROM onboarding.events WHERE event_type = 'input.verified'"""
    )}  # fmt: skip
    assert by_whom["billing_contact_email"] == f"customer:{finance}"
    assert all(by_whom[item] == f"customer:{contact}" for item in by_whom if item not in forward["items"])


def test_a_silent_customer_never_opens_the_mail_and_a_partial_one_leaves_the_critical_items(
    store: Store, sandbox: Any, portal: str
) -> None:
    silent_key, silent = _invited(store, sandbox, "silent", onboarding_tier="smb", segment="commercial")
    partial_key, partial = _invited(store, sandbox, "partial", onboarding_tier="smb", segment="commercial")

    _until(lambda: any(a["email"] == partial and a["action"] == "submitted" for a in sandbox.state.customers.ledger()))
    sandbox.state.customers.step()  # one more look: nothing new comes of the silent customer's mail either
    did = sandbox.state.customers.ledger()
    assert not [a for a in did if a["email"] == silent]
    submitted = {a["item"] for a in did if a["email"] == partial and a["action"] == "submitted"}
    critical = {
        r["item_key"]
        for r in store.query(
            """SELECT c.item_key FROM onboarding.checklist_items c JOIN onboarding.onboardings o
               ON o.id = c.onboarding_id WHERE o.onboarding_key = %s AND c.critical""",
            (partial_key,),
        )
    }
    assert submitted and not submitted & critical
    assert lifecycle.completeness(store, silent_key)["verified"] == 0
