"""Email addresses: normalised when valid, refused with what to send otherwise."""

from __future__ import annotations

import pytest

from tests.validators.common import (
    UNKNOWN,
    accepted,
    check,
    item,
    rejected,
)

pytestmark = pytest.mark.unit


# --------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("Jane.Doe@ACME.CO.UK", "Jane.Doe@acme.co.uk"),
        ("  accounts.payable@acme.co.uk ", "accounts.payable@acme.co.uk"),
        ("jane+billing@Sub.Acme.com", "jane+billing@sub.acme.com"),
        ("jörg@Bücher.DE", "jörg@bücher.de"),
    ],
)
def test_valid_emails_are_normalised(value: str, stored: str) -> None:
    assert accepted(check(item("email"), value)) == stored


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("jane.doe@", "something after the @-sign"),
        ("jane.doe", "@-sign"),
        ("jane@acme", "period"),
        ("jane..doe@acme.com", "two periods"),
        ("Jane Doe <jane@acme.com>", "display name"),
        ("jane@acme.test", "special-use"),
        ("jane@acme.com, bob@acme.com", "more than one email address"),
    ],
)
def test_invalid_emails_are_rejected(value: str, why: str) -> None:
    rejected(check(item("email"), value), why, "Please send", "one email address, for example name@acme.co.uk")


def test_email_examples_fall_back_to_a_neutral_domain() -> None:
    rejected(check(item("email"), "nope", account=UNKNOWN), "for example name@example.com")
