"""VAT numbers of the UK and the EU, checked for the account's country; every example shown is valid."""

from __future__ import annotations

import pytest

from include.onboarding.validators import AccountContext
from include.onboarding.validators.vat import VAT_EXAMPLES
from tests.validators.common import (
    DE,
    GB,
    UNKNOWN,
    accepted,
    check,
    item,
    rejected,
)

pytestmark = pytest.mark.unit


# --------------------------------------------------------------------------- VAT


@pytest.mark.parametrize(
    ("value", "account", "stored"),
    [
        ("gb 980 7806 84", GB, "GB980780684"),
        ("GB980780684", GB, "GB980780684"),
        ("GB 980 7806 84 001", GB, "GB980780684001"),
        ("XI980780684", GB, "XI980780684"),  # Northern Ireland
        ("DE 136.695.976", DE, "DE136695976"),
        ("de136695976", DE, "DE136695976"),
        ("GR094259216", AccountContext("EMEA", "GR"), "EL094259216"),
        ("EL 094259216", AccountContext("EMEA", "gr"), "EL094259216"),
        ("GB980780684", AccountContext("EMEA", "uk"), "GB980780684"),
        ("FR40303265045", UNKNOWN, "FR40303265045"),
        ("NL004495445B01", UNKNOWN, "NL004495445B01"),
    ],
)
def test_valid_vat_numbers_are_normalised(value: str, account: AccountContext, stored: str) -> None:
    assert accepted(check(item("vat_id"), value, account=account)) == stored


def test_a_bad_gb_checksum_says_what_to_send() -> None:
    assert rejected(check(item("vat_id"), "GB980780685")) == (
        "This VAT number fails the GB checksum. Please send the 9- or 12-digit number printed on your "
        "VAT registration certificate, for example GB980780684."
    )


def test_a_bad_eu_checksum_says_what_to_send() -> None:
    rejected(check(item("vat_id"), "DE136695977", account=DE), "fails the DE checksum", "for example DE136695976")


def test_a_vat_number_of_another_country_is_refused() -> None:
    rejected(
        check(item("vat_id"), "DE136695976", account=GB),
        "from Germany (DE)",
        "registered in the United Kingdom (GB)",
        "for example GB980780684",
    )
    rejected(check(item("vat_id"), "GB980780684", account=DE), "registered in Germany (DE)", "DE136695976")


def test_any_uk_or_eu_vat_number_is_accepted_when_the_country_is_unknown() -> None:
    assert accepted(check(item("vat_id"), "DE136695976", account=UNKNOWN)) == "DE136695976"
    assert accepted(check(item("vat_id"), "GB980780684", account=UNKNOWN)) == "GB980780684"


def test_the_country_rule_only_applies_to_countries_with_uk_or_eu_vat() -> None:
    # A Swiss customer cannot send a Swiss number here, so no country can be demanded of them.
    swiss = AccountContext(region="EMEA", country="CH")
    assert accepted(check(item("vat_id"), "DE136695976", account=swiss)) == "DE136695976"


@pytest.mark.parametrize(
    ("value", "account", "phrases"),
    [
        ("980780684", GB, ("no country prefix", "that is GB980780684", "for example GB980780684")),
        ("136695976", UNKNOWN, ("no country prefix", "for example GB980780684")),
        ("GB123", GB, ("wrong length", "with the GB prefix", "GB980780684")),
        ("DE12", DE, ("wrong length", "for example DE136695976")),
        ("US123456789", UNKNOWN, ("United Kingdom and EU member states only", '"US"')),
        ("CHE-123.456.788 MWST", UNKNOWN, ("United Kingdom and EU member states only", '"CH"')),
        ("---", GB, ("no country prefix",)),
    ],
)
def test_invalid_vat_numbers_are_rejected(value: str, account: AccountContext, phrases: tuple[str, ...]) -> None:
    rejected(check(item("vat_id"), value, account=account), *phrases)


@pytest.mark.parametrize("country", sorted(VAT_EXAMPLES))
def test_vat_examples_shown_to_customers_are_valid(country: str) -> None:
    example = VAT_EXAMPLES[country]
    assert accepted(check(item("vat_id"), example, account=AccountContext("EMEA", country))) == example
