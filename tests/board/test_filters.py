"""The board list's filters: what the query string may say, and the refusal that names what it cannot use."""

from __future__ import annotations

import pytest

from include.board import wording
from include.board.filters import BadFilter, Filters, parse
from include.onboarding.config import OnboardingConfig, load_config

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def config() -> OnboardingConfig:
    return load_config()


def test_a_query_string_becomes_filters(config: OnboardingConfig) -> None:
    chosen = parse(
        {"tier": "smb", "owner": "Sam.Okafor@example.com", "stage": "approvals", "blocked": "on", "page": "3"}, config
    )
    assert chosen == Filters(tier="smb", owner="sam.okafor@example.com", stage="approvals", blocked=True, page=3)
    assert parse({"tier": "", "at_risk": "1", "blocked": "0"}, config) == Filters(at_risk=True)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"tier": "gold"}, "tier 'gold' is not one of enterprise, partner, smb"),
        ({"stage": "live"}, "stage 'live' is not one of intake, collect_inputs"),
        ({"owner": "nobody@example.com"}, "owner 'nobody@example.com' is not in the people directory"),
        ({"blocked": "maybe"}, "blocked 'maybe' is neither on (1) nor off (0)"),
        ({"page": "0"}, "page '0' is not a page number"),
        ({"page": "two"}, "page 'two' is not a page number"),
        ({"teir": "smb"}, "unknown filter 'teir'"),
    ],
)
def test_a_value_the_board_cannot_use_is_refused_by_name(
    config: OnboardingConfig, params: dict[str, str], message: str
) -> None:
    with pytest.raises(BadFilter) as refused:
        parse(params, config)
    assert message in str(refused.value)


def test_links_keep_the_other_filters_and_start_again_at_page_one() -> None:
    chosen = Filters(tier="smb", blocked=True, page=4)
    assert chosen.query(page=5) == "?tier=smb&blocked=1&page=5"
    assert chosen.query(at_risk=True) == "?tier=smb&blocked=1&at_risk=1"
    assert Filters().query() == "?"


def test_quarantine_reasons_say_how_to_fix_them() -> None:
    assert "Correct primary_contact_email on deal 42 in the CRM" in wording.quarantine_fix(
        "primary_contact_email", "missing", "42"
    )
    assert "cancel the running onboarding" in wording.quarantine_fix(
        "tier", "conflicts with onboarding hubspot-1 already under way (tier smb -> enterprise)", "42"
    )
    assert "own order number" in wording.quarantine_fix("order_number", "duplicate of hubspot-9 (same ...)", "42")


def test_audit_events_read_as_sentences_and_odd_details_as_they_are() -> None:
    assert wording.sentence("input.rejected", {"item": "vat", "reason": "not a VAT number"}) == (
        "vat not accepted: not a VAT number"
    )
    assert wording.sentence("gate.blocked", {"problems": ["a", "b"]}) == "readiness gate refused: a; b"
    assert wording.sentence("something.new", {"x": 1}) == '{"x": 1}'
    assert wording.sentence("gate.blocked", {"problems": 5}) == '{"problems": 5}'  # not the expected shape
    assert wording.days(12 * 3600, 8 * 3600) == "1.5" and wording.days(8 * 3600, 8 * 3600) == "1"
