"""Web addresses: https only, never repeating a password back."""

from __future__ import annotations

import pytest

from tests.validators.common import (
    accepted,
    check,
    item,
    rejected,
)

pytestmark = pytest.mark.unit


# --------------------------------------------------------------------------- url


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("https://www.acme.com", "https://www.acme.com"),
        ("https://acme.com/portal/", "https://acme.com/portal/"),
        ("HTTPS://ACME.com:443/Path?q=1#top", "https://acme.com/Path?q=1#top"),
        ("https://portal.acme.com:8443/x", "https://portal.acme.com:8443/x"),
        ("https://bücher.de/", "https://xn--bcher-kva.de/"),
    ],
)
def test_valid_urls_are_normalised(value: str, stored: str) -> None:
    assert accepted(check(item("url"), value)) == stored


def test_http_urls_are_refused_with_the_https_address_to_send() -> None:
    rejected(check(item("url"), "http://acme.com/portal"), "not secure", '"https://acme.com/portal"')
    rejected(check(item("url"), "http://"), "no site name", "starting with https://")


def test_urls_with_credentials_are_refused_without_repeating_them() -> None:
    reason = rejected(check(item("url"), "https://admin:hunter2@acme.com/"), "user name or password")
    assert "hunter2" not in reason


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("www.acme.com", 'missing the https:// at the start. Please send the full address, for example "https://www'),
        ("javascript:alert(1)", "for example https://www.acme.co.uk/"),
        ("ftp://files.acme.com", "not a web page address"),
        ("https://", "no site name"),
        ("https://localhost/", "needs at least one dot"),
        ("https://10.0.0.1/", "IP address"),
        ("https://acme.com:99999/", "not a valid web address"),
        ("https://acme .com", "spaces"),
    ],
)
def test_invalid_urls_are_rejected(value: str, why: str) -> None:
    rejected(check(item("url"), value), why)
