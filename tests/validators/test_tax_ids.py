"""US EINs: normalised to NN-NNNNNNN; a Social Security Number is refused."""

from __future__ import annotations

import pytest

from tests.validators.common import (
    US,
    accepted,
    check,
    item,
    rejected,
)

pytestmark = pytest.mark.unit


# --------------------------------------------------------------------------- US EIN


@pytest.mark.parametrize(
    ("value", "stored"),
    [("04-2103594", "04-2103594"), ("042103594", "04-2103594"), (" 04 - 2103594 ", "04-2103594")],
)
def test_valid_eins_are_normalised(value: str, stored: str) -> None:
    assert accepted(check(item("tax_id"), value, account=US)) == stored


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("12-345", "exactly 9 digits"),
        ("04-21035945", "exactly 9 digits"),
        ("EIN 04-2103594", "exactly 9 digits"),
        ("00-1234567", "starts with 00"),
        ("07-1234567", "starts with 07"),
        ("123-45-6789", "Social Security Number"),
    ],
)
def test_invalid_eins_are_rejected(value: str, why: str) -> None:
    rejected(check(item("tax_id"), value, account=US), why, "NN-NNNNNNN", "04-2103594")
