"""Domain names: normalised to the bare registrable domain, refused in plain words otherwise."""

from __future__ import annotations

import pytest

from tests.validators.common import (
    accepted,
    check,
    item,
    rejected,
)

pytestmark = pytest.mark.unit


# --------------------------------------------------------------------------- domain


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("acme.co.uk", "acme.co.uk"),
        ("Acme.COM", "acme.com"),
        ("acme.com.", "acme.com"),
        ("www.acme.com", "acme.com"),
        ("WWW.Acme.com.", "acme.com"),
        ("https://www.acme.com/about?x=1", "acme.com"),
        ("http://Acme.com:8080", "acme.com"),
        ("eu.acme.com", "eu.acme.com"),
        ("Bücher.de", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ],
)
def test_valid_domains_are_normalised(value: str, stored: str) -> None:
    assert accepted(check(item("domain"), value)) == stored


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("not a domain", "spaces"),
        ("acme", "needs at least one dot"),
        ("jane@acme.com", "email address"),
        ("-acme.com", "hyphen"),
        ("acme_corp.com", "only letters, digits and hyphens"),
        ("acme..com", "empty part"),
        ("a" * 64 + ".com", "longer than 63"),
        ("192.168.0.1", "IP address"),
        ("acme.c0m", "top-level domain"),
        ("https://", "no domain name"),
    ],
)
def test_invalid_domains_are_rejected(value: str, why: str) -> None:
    rejected(check(item("domain"), value), why, "Please send the domain name only, for example acme.co.uk")
