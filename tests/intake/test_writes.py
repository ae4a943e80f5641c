"""The intake's set-based writes give what writing one order at a time gave.

Orders are written a chunk at a time (COPY into a scratch table, then one
statement per table); these cases are the ones where orders of one chunk meet:
identical records without an id, many running onboardings changed at once,
and a chunk with more orders than one statement per kind would suggest.
"""

from __future__ import annotations

from typing import Any

from include.onboarding.config import load_config
from include.onboarding.store import Store
from tests.factories import deal_properties
from tests.test_intake import pickup


def test_identical_records_without_an_id_are_quarantined_once(store: Store, sandbox: Any) -> None:
    good = sandbox.state.upsert_deal(deal_properties())
    for deal_id in ("99100000001", "99100000002", "99100000003"):
        sandbox.state.seed_raw_deal("garbage", deal_id=deal_id)
    sandbox.state.seed_raw_deal(["not", "a", "deal"], deal_id="99100000004")

    first = pickup(store, load_config(), "run-no-ids-1")

    assert first["created"] == 1 and first["quarantined"] == 4 and first["newly_quarantined"] == 2
    rows = store.query(
        "SELECT crm_deal_id, payload, seen_in_batches, status FROM onboarding.quarantined_orders ORDER BY id"
    )
    assert [(r["crm_deal_id"], r["payload"], r["seen_in_batches"], r["status"]) for r in rows] == [
        ("unknown", "garbage", 1, "open"),
        ("unknown", ["not", "a", "deal"], 1, "open"),
    ]
    announced = store.query("SELECT subject FROM onboarding.events WHERE event_type = 'order.quarantined'")
    assert len(announced) == 2
    assert [r["crm_deal_id"] for r in store.query("SELECT crm_deal_id FROM onboarding.onboardings")] == [good["id"]]

    again = pickup(store, load_config(), "run-no-ids-2")

    assert again["quarantined"] == 4 and again["newly_quarantined"] == 0
    seen = store.query("SELECT seen_in_batches FROM onboarding.quarantined_orders ORDER BY id")
    assert [r["seen_in_batches"] for r in seen] == [2, 2]


def test_many_running_onboardings_change_in_one_pickup(store: Store, sandbox: Any) -> None:
    deals = [sandbox.state.upsert_deal(deal_properties()) for _ in range(12)]
    config = load_config()
    pickup(store, config, "run-1")
    before = {r["crm_deal_id"]: r for r in store.query("SELECT * FROM onboarding.onboardings")}

    changed = deals[:10]
    for n, deal in enumerate(changed):
        sandbox.state.upsert_deal(
            {"primary_contact_email": f"contact{n}@northwind.example", "addons": "sso;Training_Pack"},
            deal_id=deal["id"],
        )
    conflicting = deals[10]
    sandbox.state.upsert_deal({"onboarding_tier": "smb", "segment": "commercial"}, deal_id=conflicting["id"])

    result = pickup(store, config, "run-2")

    assert result["updated"] == 10 and result["quarantined"] == 1 and result["unchanged"] == 1
    after = {r["crm_deal_id"]: r for r in store.query("SELECT * FROM onboarding.onboardings")}
    for n, deal in enumerate(changed):
        row = after[deal["id"]]
        assert row["primary_contact_email"] == f"contact{n}@northwind.example"
        assert row["addons"] == ["sso", "training_pack"]
        assert row["order_fingerprint"] != before[deal["id"]]["order_fingerprint"]
        assert row["order_payload"]["properties"]["addons"] == "sso;Training_Pack"
        assert row["stage"] == before[deal["id"]]["stage"] and row["id"] == before[deal["id"]]["id"]
        events = store.events_for(row["onboarding_key"])
        assert [e["event_type"] for e in events] == ["onboarding.created", "stage.entered", "order.updated"]
        assert events[-1]["details"]["order"]["primary_contact_email"] == f"contact{n}@northwind.example"
    for deal in deals[10:]:
        assert after[deal["id"]] == before[deal["id"]]

    assert pickup(store, config, "run-3")["updated"] == 0  # the same changes, read again
    assert store.scalar("SELECT count(*) FROM onboarding.events WHERE event_type = 'order.updated'") == 10
