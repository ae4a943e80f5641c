"""Judging one CRM deal against the table of per-field rules, without a database or a CRM.

The same problem texts the quarantine shows (and the pickup tests find there),
straight from :func:`normalise`: every problem of an order at once, a mistyped
value reported once, and a good order made into the store's terms.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from include.onboarding.config import OnboardingConfig, load_config
from include.onboarding.intake import RULES, Order, Rejected, judge, normalise
from tests.factories import deal_properties

pytestmark = pytest.mark.unit

STAMP = "2026-11-20T10:00:00.000Z"


@pytest.fixture(scope="module")
def config() -> OnboardingConfig:
    return load_config()


def record(**changes: Any) -> dict[str, Any]:
    """A good signed order as the CRM returns it, with ``changes`` to its properties."""
    props = {**deal_properties(), "hs_object_id": "4242", "hs_lastmodifieddate": STAMP, **changes}
    return {"id": "4242", "properties": props, "createdAt": STAMP, "updatedAt": STAMP, "archived": False}


def problems(verdict: Order | Rejected) -> list[str]:
    assert isinstance(verdict, Rejected), verdict
    return [str(p) for p in verdict.problems]


def test_a_good_order_is_made_into_the_stores_terms(config: OnboardingConfig) -> None:
    order = normalise(
        record(region="EMEA", onboarding_tier="smb", segment="commercial", addons=" SSO;sso; Audit "), config
    )
    assert isinstance(order, Order)
    assert order.key == "hubspot-4242" and order.tier == "smb" and order.region == "EMEA"
    assert order.owner_email == "sam.okafor@example.com"
    assert order.addons == ("audit", "sso")
    assert order.amount == Decimal("84000.00")
    assert order.signed_at == datetime(2026, 11, 2, 15, 30, tzinfo=timezone.utc)
    assert order.target_source == "tier_default" and order.activation_target > date(2026, 11, 2)
    assert order.crm_modified_at == datetime(2026, 11, 20, 10, tzinfo=timezone.utc)


def test_a_committed_go_live_date_is_the_target(config: OnboardingConfig) -> None:
    order = normalise(record(committed_go_live_date="2026-12-01"), config)
    assert isinstance(order, Order)
    assert order.activation_target == date(2026, 12, 1) and order.target_source == "committed"


def test_the_deal_name_stands_in_for_a_missing_company_name(config: OnboardingConfig) -> None:
    order = normalise(record(company_name=None, dealname="Kestrel Analytics - Platform"), config)
    assert isinstance(order, Order) and order.account_name == "Kestrel Analytics - Platform"


BAD = {
    "missing tier": (
        {"onboarding_tier": None},
        "onboarding_tier: missing: the order does not say which onboarding tier it is",
    ),
    "unknown tier": ({"onboarding_tier": "platinum"}, "onboarding_tier: unknown tier 'platinum' (known: "),
    "not signed": ({"dealstage": "contractsent"}, "dealstage: 'contractsent' is not the signed stage 'closedwon'"),
    "no stage": ({"dealstage": None}, "dealstage: None is not the signed stage 'closedwon'"),
    "no company": ({"company_name": None, "dealname": None}, "company_name: missing: no company name on the deal"),
    "bad domain": ({"company_domain": "www.acme"}, "company_domain: 'acme' is not a domain name"),
    "no region": ({"region": None}, "region: missing: cannot choose an owner or a holiday calendar"),
    "unserved region": (
        {"region": "LATAM"},
        "region: no owner resolvable: region 'LATAM' is not served (known: NA, EMEA, APAC)",
    ),
    "wrong segment": ({"segment": "channel"}, "segment: 'channel' is not a enterprise segment ("),
    "no contact": (
        {"primary_contact_email": None},
        "primary_contact_email: missing: nobody to send the onboarding checklist to",
    ),
    "bad email": (
        {"primary_contact_email": "jane.doe@"},
        "primary_contact_email: 'jane.doe@' is not a valid email address: ",
    ),
    "no close date": ({"closedate": None}, "closedate: missing: the signing date starts the activation clock"),
    "bad close date": ({"closedate": "31/11/2026"}, "closedate: '31/11/2026' is not an ISO 8601 date or timestamp"),
    "close date in 9999": (
        {"closedate": "9999-12-31"},
        "closedate: '9999-12-31' is outside the accepted range 2000-01-01 to 2100-12-31",
    ),
    "negative amount": ({"amount": "-5"}, "amount: '-5' is not a non-negative amount"),
    "amount not a number": ({"amount": "lots"}, "amount: 'lots' is not a non-negative amount"),
    "partner without partner": (
        {"onboarding_tier": "partner", "segment": "channel", "partner_name": None},
        "partner_name: missing: partner-led orders name the partner",
    ),
    "unknown owner": (
        {"onboarding_owner_email": "nobody@example.com"},
        "owner: no owner resolvable: onboarding_owner_email 'nobody@example.com' is not in the people directory",
    ),
    "go-live not a date": ({"committed_go_live_date": "soon"}, "committed_go_live_date: 'soon' is not an ISO date"),
    "go-live in year 1": (
        {"committed_go_live_date": "0001-01-01"},
        "committed_go_live_date: '0001-01-01' is outside the accepted range 2000-01-01 to 2100-12-31",
    ),
    "go-live before signing": (
        {"committed_go_live_date": "2026-10-01"},
        "committed_go_live_date: 2026-10-01 is before the order was signed (2026-11-02)",
    ),
    "amount as a number": (
        {"amount": 84000},
        "amount: expected text (the CRM sends every property as text), got a number: 84000",
    ),
}


@pytest.mark.parametrize(("change", "expected"), BAD.values(), ids=BAD.keys())
def test_each_rule_names_its_field_and_the_cause(
    config: OnboardingConfig, change: dict[str, Any], expected: str
) -> None:
    found = problems(normalise(record(**change), config))
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_every_problem_is_reported_at_once_in_table_order(config: OnboardingConfig) -> None:
    verdict = normalise(
        record(onboarding_tier="platinum", primary_contact_email="jane at acme.com", closedate="tomorrow"), config
    )
    assert [p.split(":")[0] for p in problems(verdict)] == ["onboarding_tier", "primary_contact_email", "closedate"]


def test_a_mistyped_value_is_reported_once_as_mistyped(config: OnboardingConfig) -> None:
    verdict = normalise(record(closedate=["2026-11-02"]), config)
    assert problems(verdict) == [
        "closedate: expected text (the CRM sends every property as text), got a list: ['2026-11-02']"
    ]


@pytest.mark.parametrize("garbage", [None, "garbage", 42, [], {}, {"id": "7", "properties": "n/a"}])
def test_what_is_no_deal_object_is_refused_outright(config: OnboardingConfig, garbage: Any) -> None:
    assert problems(normalise(garbage, config)) == ["record: not a CRM deal object (no 'properties' mapping)"]


def test_identity_problems_come_first(config: OnboardingConfig) -> None:
    deal = record(hs_object_id=None, hs_lastmodifieddate="9999-12-31T00:00:00Z", region=None)
    deal.pop("id")
    deal["updatedAt"] = None
    assert problems(normalise(deal, config)) == [
        "id: the deal has no id",
        "hs_lastmodifieddate: '9999-12-31T00:00:00Z' is outside the accepted range 2000-01-01 to 2100-12-31",
        "region: missing: cannot choose an owner or a holiday calendar",
    ]


def test_what_staging_found_is_added(config: OnboardingConfig) -> None:
    staged = [{"field": "company_name", "problem": "contains control characters"}]
    assert problems(judge(record(), staged, config)) == ["company_name: contains control characters"]
    assert problems(judge(record(region=None), staged, config)) == [
        "company_name: contains control characters",
        "region: missing: cannot choose an owner or a holiday calendar",
    ]


def test_every_rule_names_a_property_and_a_field(config: OnboardingConfig) -> None:
    filled = {rule.fills for rule in RULES}
    assert len(filled) == len(RULES)  # no field filled twice
    for rule in RULES:
        assert rule.crm_property and rule.fills
        assert not rule.required or rule.missing or rule.judges_blank, rule
