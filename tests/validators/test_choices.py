"""Choices and free text."""

from __future__ import annotations

import pytest

from tests.validators.common import (
    RESIDENCY,
    accepted,
    check,
    item,
    rejected,
)

pytestmark = pytest.mark.unit


# --------------------------------------------------------------------------- choice and text


@pytest.mark.parametrize(("value", "stored"), [("eu", "eu"), ("EU", "eu"), ("  Au ", "au")])
def test_choices_are_normalised_to_the_listed_spelling(value: str, stored: str) -> None:
    assert accepted(check(RESIDENCY, value)) == stored
    assert accepted(check(item("choice", choices=["EU", "US"]), "eu")) == "EU"


def test_an_unknown_choice_lists_the_options() -> None:
    rejected(check(RESIDENCY, "uk"), '"uk" is not one of the options', "Please choose one of: us, eu or au.")


def test_text_is_stripped_and_limited() -> None:
    assert accepted(check(item("text"), "  Acme Ltd\nLondon  ")) == "Acme Ltd\nLondon"
    assert accepted(check(item("text"), "a" * 10_000)) == "a" * 10_000
    rejected(check(item("text"), "a" * 10_001), "10,001 characters")
