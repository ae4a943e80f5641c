"""Signed-order intake against the sandbox CRM over real HTTP, into real PostgreSQL.

Each test runs the pickup's three steps (pull, process, commit) exactly as the
DAG's tasks do, and checks what the brief cares about: every signed order is
picked up once, bad orders are quarantined with their reasons without holding
up good ones, and a failed pickup loses nothing.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timezone
from typing import Any

import pytest

from include.onboarding import intake
from include.onboarding.clients.crm import CrmClient
from include.onboarding.clients.http import ApiClient, ApiError
from include.onboarding.clock import Clock, FixedClock
from include.onboarding.config import OnboardingConfig, load_config
from include.onboarding.connections import CRM_API
from include.onboarding.store import Store
from tests.factories import deal_properties

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


def _config(**intake_overrides: Any) -> OnboardingConfig:
    config = load_config()
    if not intake_overrides:
        return config
    settings = config.settings.model_copy(update={"intake": config.settings.intake.model_copy(update=intake_overrides)})
    return config.model_copy(update={"settings": settings})


def _crm(config: OnboardingConfig, max_attempts: int = 4) -> CrmClient:
    api = ApiClient(CRM_API, system="crm", max_attempts=max_attempts, backoff_base=0.01, timeout=5)
    return CrmClient(api, signed_stage=config.settings.intake.signed_stage, page_size=config.settings.intake.page_size)


def pickup(
    store: Store, config: OnboardingConfig, batch_id: str, crm: CrmClient | None = None, clock: Clock | None = None
) -> dict[str, Any]:
    """One whole pickup (pull, process, commit), as the intake DAG's three tasks run it."""
    clock = clock or FixedClock(NOW)
    intake.pull_orders(store, crm or _crm(config), config, batch_id, clock)
    processed = intake.process_batch(store, config, batch_id, clock)
    committed = intake.commit_batch(store, config, batch_id, clock)
    return {**processed.counts(), "watermark": committed["watermark"], "created_keys": processed.created_keys}


def _onboardings(store: Store) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM onboarding.onboardings ORDER BY crm_deal_id::bigint")


def _quarantine(store: Store) -> dict[str, list[str]]:
    rows = store.query("SELECT crm_deal_id, reasons FROM onboarding.quarantined_orders WHERE status = 'open'")
    return {r["crm_deal_id"]: [f"{x['field']}: {x['problem']}" for x in r["reasons"]] for r in rows}


def _searches(sandbox: Any) -> list[dict[str, Any]]:
    return [r for r in sandbox.state.requests("crm") if r["path"].endswith("/search")]


# --------------------------------------------------------------------------- good orders


def test_signed_orders_become_onboardings_with_named_owner_and_target(store: Store, sandbox: Any) -> None:
    state = sandbox.state
    ent = state.upsert_deal(deal_properties(region="NA"))
    # Signed Friday 18 Dec 2026 in London: 10 business days skip Christmas Day, the
    # Boxing Day substitute (Mon 28th) and New Year's Day -> Wednesday 6 Jan 2027.
    smb = state.upsert_deal(
        deal_properties(
            onboarding_tier="smb", segment="commercial", region="EMEA", closedate="2026-12-18T10:00:00.000Z"
        )
    )
    partner = state.upsert_deal(
        deal_properties(onboarding_tier="reseller", segment="channel", region="APAC", partner_name="Kestrel IT")
    )
    committed = state.upsert_deal(deal_properties(committed_go_live_date="2026-12-01"))
    state.upsert_deal(deal_properties(dealstage="contractsent"))  # not signed: not picked up

    result = pickup(store, load_config(), "run-1")

    assert result["created"] == 4 and result["quarantined"] == 0
    rows = {r["crm_deal_id"]: r for r in _onboardings(store)}
    assert set(rows) == {ent["id"], smb["id"], partner["id"], committed["id"]}
    assert rows[ent["id"]]["owner_email"] == "priya.shah@example.com"  # enterprise NA onboarding manager
    assert rows[smb["id"]]["owner_email"] == "sam.okafor@example.com"
    assert rows[partner["id"]]["tier"] == "partner"
    assert rows[partner["id"]]["owner_email"] == "ines.duarte@example.com"
    assert rows[smb["id"]]["activation_target"] == date(2027, 1, 6)
    assert rows[smb["id"]]["target_source"] == "tier_default"
    assert rows[committed["id"]]["activation_target"] == date(2026, 12, 1)
    assert rows[committed["id"]]["target_source"] == "committed"
    for row in rows.values():
        assert row["stage"] == "intake" and row["status"] == "open"
        assert row["onboarding_key"] == f"hubspot-{row['crm_deal_id']}"

    history = store.query(
        "SELECT onboarding_id, stage, owner_email FROM onboarding.stage_history WHERE exited_at IS NULL"
    )
    assert len(history) == 4 and all(h["stage"] == "intake" and h["owner_email"] for h in history)
    events = store.events_for(rows[ent["id"]]["onboarding_key"])
    assert [e["event_type"] for e in events] == ["onboarding.created", "stage.entered"]
    assert events[0]["details"]["activation_target"] == rows[ent["id"]]["activation_target"].isoformat()
    assert events[1]["stage_owner"] == "priya.shah@example.com"


def test_pickup_pages_through_the_crm_with_opaque_cursors(store: Store, sandbox: Any) -> None:
    for _ in range(250):
        sandbox.state.upsert_deal(deal_properties())
    result = pickup(store, _config(page_size=100), "run-paging")
    assert result["created"] == 250
    # 100 + 100 + 50: the second and third searches passed back HubSpot-style opaque cursors
    # ("MTAwOjk...Cg%3D%3D"), which the sandbox accepts only verbatim from the same search.
    assert [r["status"] for r in _searches(sandbox)] == [200, 200, 200]
    assert store.scalar("SELECT count(DISTINCT crm_deal_id) FROM onboarding.onboardings") == 250


def test_pickup_crosses_the_10000_result_search_wall(store: Store, sandbox: Any) -> None:
    # HubSpot refuses to page one search past 10,000 results; 10,150 changed orders
    # need a second search, started from the newest modification time seen.
    deals = [sandbox.state.upsert_deal(deal_properties()) for _ in range(10_150)]
    result = pickup(store, _config(page_size=200), "run-wall")
    searches = _searches(sandbox)
    assert [r["status"] for r in searches] == [200] * 51  # 50 pages of 200, then one fresh search
    assert result["fetched"] == 10_150 and result["created"] == 10_150
    assert store.scalar("SELECT count(*) FROM onboarding.onboardings") == 10_150
    newest = deals[-1]["properties"]["hs_lastmodifieddate"]
    assert result["watermark"] == datetime.fromisoformat(newest.replace("Z", "+00:00")).isoformat()


# --------------------------------------------------------------------------- bad orders


BAD_ORDERS = {
    "missing-tier": ({"onboarding_tier": None}, "onboarding_tier: missing"),
    "unknown-tier": ({"onboarding_tier": "platinum"}, "onboarding_tier: unknown tier 'platinum'"),
    "no-owner-region": ({"region": "LATAM"}, "region: no owner resolvable: region 'LATAM'"),
    "unknown-owner": (
        {"onboarding_owner_email": "nobody@example.com"},
        "owner: no owner resolvable: onboarding_owner_email 'nobody@example.com' is not in the people directory",
    ),
    "bad-date": ({"closedate": "31/11/2026"}, "closedate: '31/11/2026' is not an ISO 8601"),
    "bad-email": ({"primary_contact_email": "jane.doe@"}, "primary_contact_email: 'jane.doe@' is not a valid email"),
    "target-before-signing": (
        {"committed_go_live_date": "2026-10-01"},
        "committed_go_live_date: 2026-10-01 is before the order was signed (2026-11-02)",
    ),
    "partner-without-partner": (
        {"onboarding_tier": "partner", "segment": "channel", "partner_name": None},
        "partner_name: missing",
    ),
}


def test_bad_orders_are_quarantined_with_reasons_and_good_ones_still_land(store: Store, sandbox: Any) -> None:
    state = sandbox.state
    good = [state.upsert_deal(deal_properties()) for _ in range(3)]
    bad = {name: state.upsert_deal(deal_properties(**change)) for name, (change, _) in BAD_ORDERS.items()}

    result = pickup(store, load_config(), "run-mixed")

    assert result["created"] == 3
    assert result["quarantined"] == len(BAD_ORDERS)
    assert {r["crm_deal_id"] for r in _onboardings(store)} == {d["id"] for d in good}
    quarantined = _quarantine(store)
    for name, (_, expected) in BAD_ORDERS.items():
        reasons = quarantined[bad[name]["id"]]
        assert any(expected in reason for reason in reasons), (name, reasons)
    visible = intake.open_quarantine(store)
    assert len(visible) == len(BAD_ORDERS)
    events = store.query("SELECT subject FROM onboarding.events WHERE event_type = 'order.quarantined'")
    assert {e["subject"] for e in events} == {f"order:hubspot-{d['id']}" for d in bad.values()}


def test_every_problem_of_an_order_is_reported_at_once(store: Store, sandbox: Any) -> None:
    deal = sandbox.state.upsert_deal(
        deal_properties(onboarding_tier="platinum", primary_contact_email="jane at acme.com", closedate="tomorrow")
    )
    pickup(store, load_config(), "run-many-problems")
    fields = {reason.split(":")[0] for reason in _quarantine(store)[deal["id"]]}
    assert fields == {"onboarding_tier", "primary_contact_email", "closedate"}


def test_garbled_records_are_quarantined_not_fatal(store: Store, sandbox: Any) -> None:
    good = sandbox.state.upsert_deal(deal_properties())
    config = load_config()
    clock = FixedClock(NOW)
    intake.pull_orders(store, _crm(config), config, "run-garbled", clock)
    # A record the CRM sent without its properties (a broken export) sits in the batch too.
    with store.transaction() as cur:
        cur.execute(
            """INSERT INTO onboarding.intake_batch_orders (batch_id, position, crm_deal_id, record)
               VALUES ('run-garbled', 999, '424242', '{"id": "424242", "properties": "n/a"}')"""
        )
    summary = intake.process_batch(store, config, "run-garbled", clock)
    assert summary.created == 1 and summary.quarantined == 1
    assert _quarantine(store)["424242"] == ["record: not a CRM deal object (no 'properties' mapping)"]
    assert [r["crm_deal_id"] for r in _onboardings(store)] == [good["id"]]


def test_duplicate_order_number_with_conflicting_data_is_quarantined(store: Store, sandbox: Any) -> None:
    state = sandbox.state
    order = deal_properties(order_number="SO-2026-77777", amount="50000")
    first = state.upsert_deal(order)
    re_entered = state.upsert_deal(order)  # the same order keyed in twice
    conflicting = state.upsert_deal({**order, "amount": "90000"})

    result = pickup(store, load_config(), "run-dupes")

    assert [r["crm_deal_id"] for r in _onboardings(store)] == [first["id"]]
    assert result["duplicates"] == 1 and result["quarantined"] == 1
    reasons = _quarantine(store)[conflicting["id"]]
    assert reasons == [
        f"order_number: duplicate of hubspot-{first['id']} (same order number 'SO-2026-77777') with conflicting data"
    ]
    ignored = store.events_for(f"order:hubspot-{re_entered['id']}")
    assert [e["event_type"] for e in ignored] == ["order.duplicate_ignored"]


def test_a_fixed_order_leaves_quarantine_on_the_next_pickup(store: Store, sandbox: Any) -> None:
    deal = sandbox.state.upsert_deal(deal_properties(onboarding_tier="platinum"))
    config = _config(lookback_minutes=0)
    pickup(store, config, "run-a")
    assert deal["id"] in _quarantine(store)

    sandbox.state.upsert_deal({"onboarding_tier": "enterprise"}, deal_id=deal["id"])
    result = pickup(store, config, "run-b")

    assert result["created"] == 1 and result["quarantine_resolved"] == 1
    assert _quarantine(store) == {}
    row = store.query(
        "SELECT status, resolution FROM onboarding.quarantined_orders WHERE crm_deal_id = %s", (deal["id"],)
    )
    assert row[0]["status"] == "resolved" and f"hubspot-{deal['id']}" in row[0]["resolution"]


def test_changes_to_a_running_onboarding(store: Store, sandbox: Any) -> None:
    deal = sandbox.state.upsert_deal(deal_properties())
    config = _config(lookback_minutes=0)
    pickup(store, config, "run-1")

    sandbox.state.upsert_deal({"primary_contact_email": "new.contact@northwind.example"}, deal_id=deal["id"])
    assert pickup(store, config, "run-2")["updated"] == 1
    row = _onboardings(store)[0]
    assert row["primary_contact_email"] == "new.contact@northwind.example"

    # A tier change after onboarding started is a conflict for a person, not a silent rewrite.
    sandbox.state.upsert_deal({"onboarding_tier": "smb", "segment": "commercial"}, deal_id=deal["id"])
    result = pickup(store, config, "run-3")
    assert result["quarantined"] == 1
    assert _onboardings(store)[0]["tier"] == "enterprise"
    assert any("conflicts with onboarding" in r for r in _quarantine(store)[deal["id"]])


# --------------------------------------------------------------------------- hostile records

OUT_OF_RANGE = "is outside the accepted range 2000-01-01 to 2100-12-31"
HUGE_NAME = "Vast Holdings " + "x" * (20_000 - len("Vast Holdings "))
SCRIPT_NAME = "<script>alert(1)</script>"
INJECTION = "'; DROP TABLE onboarding.onboardings; --"

# name -> (change to a good record, expected outcome: "created" or part of a quarantine reason).
# A change is either a dict of property overrides or a function from the good record to the
# record served.
HOSTILE: dict[str, tuple[Any, str]] = {
    "nul in company name": ({"company_name": "Acme\u0000 Corp"}, "company_name: contains control characters"),
    "bell in contact name": ({"primary_contact_name": "Jane\u0007 Doe"}, "primary_contact_name: contains control"),
    "escape codes in deal name": ({"dealname": "\u001b[31mRed\u001b[0m"}, "dealname: contains control characters"),
    "nul in a property name": (
        lambda r: {**r, "properties": {**r["properties"], "no\u0000te": "x"}},
        "contains control",
    ),
    "nul in the deal id": (lambda r: {**r, "id": r["id"] + "\u0000"}, "id: contains control characters"),
    "unpaired surrogate": ({"primary_contact_name": "Jane \ud83d"}, "primary_contact_name: contains text that is not"),
    "close date in 9999": (
        {"closedate": "9999-12-31T23:59:59.999Z"},
        f"closedate: '9999-12-31T23:59:59.999Z' {OUT_OF_RANGE}",
    ),
    "close date in year 1": (
        {"closedate": "0001-01-01T00:00:00Z"},
        f"closedate: '0001-01-01T00:00:00Z' {OUT_OF_RANGE}",
    ),
    "close date not a date": ({"closedate": "next Tuesday"}, "closedate: 'next Tuesday' is not an ISO 8601"),
    "go-live in 9999": (
        {"committed_go_live_date": "9999-12-31"},
        f"committed_go_live_date: '9999-12-31' {OUT_OF_RANGE}",
    ),
    "go-live in year 1": (
        {"committed_go_live_date": "0001-01-01"},
        f"committed_go_live_date: '0001-01-01' {OUT_OF_RANGE}",
    ),
    "go-live not a date": ({"committed_go_live_date": "soon"}, "committed_go_live_date: 'soon' is not an ISO date"),
    "modified in 9999": (
        lambda r: {
            **r,
            "updatedAt": None,
            "properties": {**r["properties"], "hs_lastmodifieddate": "9999-12-31T00:00:00Z"},
        },
        f"hs_lastmodifieddate: '9999-12-31T00:00:00Z' {OUT_OF_RANGE}",
    ),
    "20,000-character company name": ({"company_name": HUGE_NAME}, "created"),
    "markup in the company name": ({"company_name": SCRIPT_NAME, "dealname": SCRIPT_NAME}, "created"),
    "sql in the company name": ({"company_name": INJECTION, "primary_contact_name": INJECTION}, "created"),
    "amount as a number": ({"amount": 84000}, "amount: expected text"),
    "amount past what the store holds": ({"amount": "1000000000000000"}, "the onboarding store refused the order"),
    "amount NaN": ({"amount": float("nan")}, "record: could not be stored as received"),
    "add-ons as a list": ({"addons": ["sso"]}, "addons: expected text"),
    "company name as an object": ({"company_name": {"name": "Acme"}}, "company_name: expected text"),
    "tier as a boolean": ({"onboarding_tier": True}, "onboarding_tier: expected text"),
    "close date as a list": ({"closedate": ["2026-11-02"]}, "closedate: expected text"),
    "deal id as a list": (lambda r: {**r, "id": [r["id"]]}, "id: expected text"),
    "deal id too long to index": (
        lambda r: {**r, "id": r["id"] + secrets.token_hex(8000)},
        "record: could not be quarantined as received either: index row",
    ),
    "no id anywhere": (
        lambda r: {k: v for k, v in r.items() if k != "id"} | {"properties": {**r["properties"], "hs_object_id": None}},
        "id: the deal has no id",
    ),
    "modified time without a zone": (
        lambda r: {**r, "properties": {**r["properties"], "hs_lastmodifieddate": r["updatedAt"].removesuffix("Z")}},
        "created",
    ),
    "properties null": (lambda r: {**r, "properties": None}, "record: not a CRM deal object"),
    "properties a list": (lambda r: {**r, "properties": [1, 2]}, "record: not a CRM deal object"),
    "empty object": (lambda r: {}, "record: not a CRM deal object"),
    "a string": (lambda r: "garbage", "record: not a CRM deal object"),
    "a number": (lambda r: 42, "record: not a CRM deal object"),
    "null": (lambda r: None, "record: not a CRM deal object"),
    "a list": (lambda r: [r["id"], "closedwon"], "record: not a CRM deal object"),
}


def _served(deal_id: str, change: Any) -> Any:
    """A good signed order as the CRM returns it, then made hostile by ``change``."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    props = {**deal_properties(), "hs_object_id": deal_id, "hs_lastmodifieddate": stamp, "createdate": stamp}
    record = {"id": deal_id, "properties": props, "createdAt": stamp, "updatedAt": stamp, "archived": False}
    if callable(change):
        return change(record)
    return {**record, "properties": {**props, **change}}


def test_hostile_records_are_created_verbatim_or_quarantined_and_never_stop_the_intake(
    store: Store, sandbox: Any
) -> None:
    state = sandbox.state
    good: list[str] = []
    hostile: dict[str, str] = {}
    stamps: list[str] = []
    for n, (name, (change, _)) in enumerate(HOSTILE.items()):
        deal = state.upsert_deal(deal_properties())
        good.append(deal["id"])
        stamps.append(deal["properties"]["hs_lastmodifieddate"])
        deal_id = str(99_000_000_000 + n)
        record = _served(deal_id, change)
        state.seed_raw_deal(record, deal_id=deal_id)
        hostile[name] = deal_id
        if name != "modified in 9999" and isinstance(record, dict) and isinstance(record.get("properties"), dict):
            stamps.append(record["properties"]["hs_lastmodifieddate"])
    config = load_config()

    first = pickup(store, config, "run-hostile-1")

    onboardings = {r["crm_deal_id"]: r for r in store.query("SELECT * FROM onboarding.onboardings")}
    quarantine = store.query("SELECT * FROM onboarding.quarantined_orders WHERE status = 'open'")
    assert set(good) <= set(onboardings)
    assert len(onboardings) + len(quarantine) == len(good) + len(HOSTILE)  # nothing lost
    assert first["created"] == len(onboardings) and first["quarantined"] == len(quarantine)
    reasons: dict[str, list[str]] = {}  # by seeded id (11 digits, whatever was appended), or "unknown"
    for q in quarantine:
        reasons.setdefault(q["crm_deal_id"][:11], []).extend(f"{x['field']}: {x['problem']}" for x in q["reasons"])
    for name, (_, expected) in HOSTILE.items():
        if expected == "created":
            assert hostile[name] in onboardings, name
        else:
            assert hostile[name] not in onboardings, name
            own = reasons.get(hostile[name]) or reasons["unknown"]
            assert any(expected in reason for reason in own), (name, expected, own)
    assert onboardings[hostile["20,000-character company name"]]["account_name"] == HUGE_NAME
    assert onboardings[hostile["markup in the company name"]]["account_name"] == SCRIPT_NAME
    assert onboardings[hostile["sql in the company name"]]["account_name"] == INJECTION
    assert onboardings[hostile["sql in the company name"]]["primary_contact_name"] == INJECTION

    # Each quarantined record is kept readable, NULs shown as a symbol, and announced in the audit trail.
    nul = next(q for q in quarantine if q["crm_deal_id"] == hostile["nul in company name"])
    assert nul["payload"]["properties"]["company_name"] == "Acme\u2400 Corp"
    nan = next(q for q in quarantine if any("could not be stored as received" in x["problem"] for x in q["reasons"]))
    assert "nan" in nan["payload"]["unstorable_record"]
    announced = store.scalar("SELECT count(*) FROM onboarding.events WHERE event_type = 'order.quarantined'")
    assert announced == len(quarantine)
    # The watermark moved to the newest believable modification time, not to year 9999.
    newest = max(datetime.fromisoformat(s.removesuffix("Z")).replace(tzinfo=timezone.utc) for s in stamps)
    assert first["watermark"] == newest.isoformat()

    events_before = store.scalar("SELECT count(*) FROM onboarding.events")
    second = pickup(store, config, "run-hostile-2")  # re-reads everything in the look-back window

    assert second["created"] == 0 and second["newly_quarantined"] == 0
    assert store.scalar("SELECT count(*) FROM onboarding.onboardings") == len(onboardings)
    assert store.scalar("SELECT count(*) FROM onboarding.quarantined_orders") == len(quarantine)
    assert store.scalar("SELECT count(*) FROM onboarding.quarantined_orders WHERE status = 'open'") == len(quarantine)
    assert store.scalar("SELECT count(*) FROM onboarding.events") == events_before + 1  # the pickup record only
    assert second["watermark"] == first["watermark"]


# --------------------------------------------------------------------------- idempotency


def test_rerunning_a_pickup_creates_no_duplicates(store: Store, sandbox: Any) -> None:
    for _ in range(5):
        sandbox.state.upsert_deal(deal_properties())
    sandbox.state.upsert_deal(deal_properties(onboarding_tier="platinum"))
    config = load_config()

    first = pickup(store, config, "run-x")
    events_after_first = store.scalar("SELECT count(*) FROM onboarding.events")
    again = pickup(store, config, "run-x")  # the same run cleared and re-run
    later = pickup(store, config, "run-y")  # the next scheduled pickup re-reads the look-back window

    assert first["created"] == 5 and first["quarantined"] == first["newly_quarantined"] == 1
    assert again["newly_quarantined"] == 0 and later["newly_quarantined"] == 0
    assert again["created"] == 0 and later["created"] == 0
    assert store.scalar("SELECT count(*) FROM onboarding.onboardings") == 5
    assert store.scalar("SELECT count(*) FROM onboarding.quarantined_orders") == 1
    assert store.scalar("SELECT count(*) FROM onboarding.stage_history") == 5
    # Re-runs add only their own pickup record, never a second copy of an order's events.
    assert store.scalar("SELECT count(*) FROM onboarding.events") == events_after_first + 1
    assert store.scalar("SELECT seen_in_batches FROM onboarding.quarantined_orders") == 2


def test_the_watermark_limits_a_pickup_to_what_changed(store: Store, sandbox: Any) -> None:
    config = _config(lookback_minutes=0)
    for _ in range(3):
        sandbox.state.upsert_deal(deal_properties())
    first = pickup(store, config, "run-1")
    newest = sandbox.state.upsert_deal(deal_properties())

    second = pickup(store, config, "run-2")

    assert first["fetched"] == 3
    # GTE on the watermark re-reads the last deal of run-1 (unchanged) plus the new one.
    assert second["fetched"] == 2 and second["created"] == 1 and second["unchanged"] == 1
    assert (
        second["watermark"]
        == datetime.fromisoformat(newest["properties"]["hs_lastmodifieddate"].replace("Z", "+00:00")).isoformat()
    )


# --------------------------------------------------------------------------- CRM faults


def _fault(sandbox: Any, **plan: Any) -> None:
    from sandbox.faults import FaultPlan

    sandbox.state.set_faults("crm", FaultPlan(**plan))


def test_rate_limits_are_retried_after_the_time_the_crm_asks(store: Store, sandbox: Any) -> None:
    for _ in range(3):
        sandbox.state.upsert_deal(deal_properties())
    _fault(sandbox, rate_limit=2, retry_after=1)

    result = pickup(store, load_config(), "run-429")

    assert result["created"] == 3
    log = _searches(sandbox)
    assert [r["status"] for r in log] == [429, 429, 200]
    for earlier, later in zip(log, log[1:], strict=False):
        assert later["monotonic"] - earlier["monotonic"] >= 0.95  # Retry-After: 1 honoured


def test_server_errors_and_garbled_pages_are_retried(store: Store, sandbox: Any) -> None:
    for _ in range(3):
        sandbox.state.upsert_deal(deal_properties())
    _fault(sandbox, server_error=1, malformed_json=1)

    result = pickup(store, load_config(), "run-flaky")

    assert result["created"] == 3
    assert [r["status"] for r in _searches(sandbox)] == [500, 200, 200]


def test_a_failed_pickup_leaves_the_watermark_and_loses_nothing(store: Store, sandbox: Any) -> None:
    config = _config(lookback_minutes=0)
    sandbox.state.upsert_deal(deal_properties())
    pickup(store, config, "run-ok")
    watermark = store.scalar("SELECT high_water FROM onboarding.intake_watermarks")
    for _ in range(2):
        sandbox.state.upsert_deal(deal_properties())

    _fault(sandbox, server_error=10)
    with pytest.raises(ApiError, match="server error 500"):
        intake.pull_orders(store, _crm(config, max_attempts=3), config, "run-down", FixedClock(NOW))
    with pytest.raises(RuntimeError, match="not processed: the watermark stays"):
        intake.commit_batch(store, config, "run-down", FixedClock(NOW))
    assert store.scalar("SELECT high_water FROM onboarding.intake_watermarks") == watermark

    sandbox.state.clear_faults()
    result = pickup(store, config, "run-recovered")
    assert result["created"] == 2
    assert store.scalar("SELECT count(*) FROM onboarding.onboardings") == 3


def test_other_client_errors_fail_fast_with_the_crm_message(store: Store, sandbox: Any) -> None:
    config = _config(page_size=100)
    crm = _crm(config)
    crm.page_size = 500  # HubSpot refuses limits above 200
    with pytest.raises(ApiError, match=r"refused with 400: .*200") as excinfo:
        intake.pull_orders(store, crm, config, "run-400", FixedClock(NOW))
    assert excinfo.value.status == 400
    assert len(_searches(sandbox)) == 1  # not retried
