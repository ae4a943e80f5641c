"""What a simulated customer types into the intake portal, right or wrong.

Valid answers are the kind a validator must accept: e-mail addresses on the
customer's own domain, https URLs, VAT numbers that pass their country's
checksum (GB, DE, FR, NL), US EINs with a prefix the IRS assigns, SAML 2.0 IdP
metadata with a real X.509 certificate, and documents (as upload metadata) of
an allowed type and size.  Invalid answers are the mistakes customers make:
``jane.doe@``, ``not a domain``, ``http://``, ``GB123``, ``<xml>broken``, an
``.exe`` or a 300 MB PDF.  Answers are deterministic for a given seed.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sandbox.generator import FIRST_NAMES, LAST_NAMES

ITEM_TYPES = ("text", "email", "domain", "url", "vat_id", "tax_id", "saml_metadata", "document", "choice", "date")
VALIDATED_TYPES = frozenset({"email", "domain", "url", "vat_id", "tax_id", "saml_metadata", "document"})
"""Types whose values a customer can get wrong in a way a validator can tell."""

EXTENSIONS = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "text/csv": "csv",
    "application/zip": "zip",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
MB = 1024 * 1024

VALID_EIN_PREFIXES = tuple(
    f"{n:02d}" for n in (*range(1, 7), *range(10, 17), *range(20, 28), *range(30, 49), *range(50, 69))
) + tuple(f"{n:02d}" for n in (*range(71, 78), *range(80, 89), *range(90, 96), 98, 99))
"""Campus and internet prefixes the IRS assigns to employer identification numbers."""

_VAT_COUNTRY_BY_TLD = {".uk": "GB", ".de": "DE", ".fr": "FR", ".nl": "NL"}

SIGNING_CERTIFICATE = (
    "MIICuDCCAaCgAwIBAgIEWk2wxTANBgkqhkiG9w0BAQsFADAeMRwwGgYDVQQDDBNTYW5kYm94IElkUCBTaWduaW5nMB4XDTI2"
    "MDEwMTAwMDAwMFoXDTM1MTIzMDAwMDAwMFowHjEcMBoGA1UEAwwTU2FuZGJveCBJZFAgU2lnbmluZzCCASIwDQYJKoZIhvcN"
    "AQEBBQADggEPADCCAQoCggEBAI9Xwv7opA0f7YYdgYEYNfPWjJlBaXm03QXNRh355zxd00RYkMICzoXOtNqDRmQx4dTGs0+V"
    "WC0HLOAwUapblYdD9iKJ8NSwQml0FZLbXF+Pz80xeaeVRtfYsUdNltTKGFlPkL0+HUTX/UvpX+BBzImtxvczAUEwmxPXozPb"
    "Rqk/STO1077fRaS6ZFwRIqrP3ZEKkK/2EsgLxAN6jCgA5h+6ENH5i4HH0Oxw/i3yos8K0yUITrY8gLeY2dfcpd+/ir5Dwy3O"
    "ycElC5lZ3KHT63KWBoLIMM7kRL8sfpru+rqFyNL/0gNWA0FP6TB0QSalJ1HMJYFaTayS5q5t6jbhvd8CAwEAATANBgkqhkiG"
    "9w0BAQsFAAOCAQEAEiIxkZJAfxPLCIocF2rB1w02/1gqnosGhORR77B5nbNUthT4qc21VhLceUV60uva8EYYXYUdALw4AGEr"
    "5HdJ0YNc1t0gwxOho4peO+khxkwZm3SuiH4+wwAUK91xPvKCGNdzORfnr6EKreJDYjwkb5dT9d59JB/JMmSFrBaLzWiAoEfL"
    "ErVyvI0VLDEiPAEUvqpHPHrtG4DcmYPJwTgwX1jhhlrooKisN+voNC0DZ8Q8CQGp1LlZXvPG4xcgsK0iNnDQX8K5IeFsB/us"
    "IYTZCKYv3S3t+I5KTcQoUYpG/Xj0oaEgv7yuubuDblXhI0AOmQHa4I4pcbivx0FYbievUQ=="
)
"""A self-signed RSA 2048 certificate (DER, base64), as an IdP publishes its signing key."""


@dataclass(frozen=True)
class Answer:
    """What one submission carries: a text value, or a document's upload metadata."""

    value: str | None = None
    document: dict[str, Any] | None = None


@dataclass(frozen=True)
class Account:
    """What the customer knows about themselves."""

    name: str
    domain: str
    contact_email: str
    due_date: str | None = None


def answer(item: dict[str, Any], account: Account, valid: bool, seed: str) -> Answer:
    """A realistic answer to ``item`` (invalid if ``valid`` is false and the type can be wrong)."""
    rng = random.Random(hashlib.sha256(seed.encode()).hexdigest())
    if not valid and item["type"] in VALIDATED_TYPES:
        return _invalid(item, rng)
    kind = item["type"]
    if kind == "document":
        return Answer(document=_document(item, rng, seed))
    makers: dict[str, Callable[[], str]] = {
        "email": lambda: _email(item["key"], account.domain, rng),
        "domain": lambda: account.domain,
        "url": lambda: f"https://www.{account.domain}",
        "vat_id": lambda: vat_number(vat_country(account.domain), rng),
        "tax_id": lambda: ein(rng),
        "saml_metadata": lambda: saml_metadata(account.domain),
        "choice": lambda: rng.choice(item.get("choices") or ["yes"]),
        "date": lambda: _date(account, rng),
    }
    make = makers.get(kind, lambda: _text(item["key"], account, rng))
    return Answer(value=make())


def _invalid(item: dict[str, Any], rng: random.Random) -> Answer:
    """A mistake a customer really makes for this type."""
    kind = item["type"]
    if kind == "document":
        if rng.random() < 0.5:
            return Answer(document={**_upload("setup.exe", 2 * MB, rng), "content_type": "application/x-msdownload"})
        return Answer(document={**_upload(f"{item['key']}.pdf", 300 * MB, rng), "content_type": "application/pdf"})
    first = rng.choice(FIRST_NAMES).lower()
    last = rng.choice(LAST_NAMES).lower()
    mistakes = {
        "email": f"{first}.{last}@",
        "domain": "not a domain",
        "url": "http://",
        "vat_id": "GB123",
        "tax_id": "12-345",
        "saml_metadata": "<xml>broken",
    }
    return Answer(value=mistakes[kind])


def _email(key: str, domain: str, rng: random.Random) -> str:
    """A person's address on the account's domain, or a shared mailbox for billing items."""
    if any(word in key for word in ("billing", "invoice", "finance", "accounts")):
        return f"accounts.payable@{domain}"
    return f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}@{domain}".lower()


def _text(key: str, account: Account, rng: random.Random) -> str:
    """Free text: a person's name for name-like items, a phone number, else the legal name."""
    if "phone" in key:
        return f"+1 202 555 01{rng.randint(0, 99):02d}"  # the 555-01xx range is reserved for fiction
    if any(word in key for word in ("name", "contact", "owner", "admin")):
        return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return f"{account.name} Ltd"


def _date(account: Account, rng: random.Random) -> str:
    """A date a few weeks after the request's due date (or after 2026-12-01)."""
    base = date.fromisoformat(account.due_date) if account.due_date else date(2026, 12, 1)
    return (base + timedelta(days=rng.randint(7, 45))).isoformat()


def _document(item: dict[str, Any], rng: random.Random, seed: str) -> dict[str, Any]:
    """Upload metadata of an allowed type, well under the size limit."""
    rules = item.get("document") or {}
    types = rules.get("content_types") or ["application/pdf"]
    content_type = "application/pdf" if "application/pdf" in types else types[0]
    limit = int(float(rules.get("max_mb") or 20) * MB)
    size = rng.randint(min(48_000, limit // 2), max(min(limit // 2, 4 * MB), 1))
    filename = f"{item['key'].replace('_', '-')}.{EXTENSIONS.get(content_type, 'bin')}"
    return {**_upload(filename, size, rng), "content_type": content_type}


def _upload(filename: str, size: int, rng: random.Random) -> dict[str, Any]:
    return {
        "filename": filename,
        "size_bytes": size,
        "sha256": hashlib.sha256(f"{filename}:{size}:{rng.random()}".encode()).hexdigest(),
    }


# -- tax identifiers ------------------------------------------------------------------------------------------


def vat_country(domain: str) -> str:
    """The VAT country a customer on ``domain`` most likely has (GB when unknown)."""
    return next((country for tld, country in _VAT_COUNTRY_BY_TLD.items() if domain.endswith(tld)), "GB")


def vat_number(country: str, rng: random.Random) -> str:
    """A VAT number that passes ``country``'s checksum."""
    if country == "DE":
        body = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(7))
        return f"DE{body}{_de_check(body)}"
    if country == "FR":
        siren = _luhn_complete(str(rng.randint(10_000_000, 99_999_999)))
        return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"
    if country == "NL":
        while True:
            body = "".join(str(rng.randint(0, 9)) for _ in range(8))
            check = _weighted(body) % 11
            if check < 10:
                return f"NL{body}{check}B01"
    body = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(6))
    total = _weighted(body)
    return f"GB{body}{(-total) % 97:02d}"


def is_valid_vat(text: str) -> bool:
    """Whether ``text`` is a GB, DE, FR or NL VAT number with a correct checksum."""
    compact = re.sub(r"[\s.-]", "", text.upper())
    if m := re.fullmatch(r"GB(\d{9})", compact):
        digits = m[1]
        total = _weighted(digits[:7]) + int(digits[7:])
        return total % 97 == 0 or (total + 55) % 97 == 0
    if m := re.fullmatch(r"DE([1-9]\d{8})", compact):
        return _de_check(m[1][:8]) == int(m[1][8])
    if m := re.fullmatch(r"FR(\d{2})(\d{9})", compact):
        return int(m[1]) == (12 + 3 * (int(m[2]) % 97)) % 97
    if m := re.fullmatch(r"NL(\d{9})B\d{2}", compact):
        digits = m[1]
        return _weighted(digits[:8]) % 11 == int(digits[8])
    return False


def _weighted(digits: str) -> int:
    """Sum of digits weighted n+1, n, ..., 2 (the GB and NL VAT checksums)."""
    return sum(int(d) * w for d, w in zip(digits, range(len(digits) + 1, 1, -1), strict=True))


def _de_check(body: str) -> int:
    """Check digit of a German VAT number (ISO 7064, MOD 11,10)."""
    product = 10
    for digit in body:
        total = (int(digit) + product) % 10 or 10
        product = (2 * total) % 11
    check = 11 - product
    return 0 if check == 10 else check


def _luhn_complete(body: str) -> str:
    """Append the Luhn check digit (French SIREN numbers are Luhn-valid)."""
    for last in "0123456789":
        digits = [int(d) for d in body + last]
        total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
        if total % 10 == 0:
            return body + last
    raise AssertionError("unreachable: one of ten digits always completes a Luhn number")


def ein(rng: random.Random) -> str:
    """A US employer identification number with a prefix the IRS assigns (``12-3456789``)."""
    return f"{rng.choice(VALID_EIN_PREFIXES)}-{rng.randint(0, 9_999_999):07d}"


def is_valid_ein(text: str) -> bool:
    """Whether ``text`` is ``NN-NNNNNNN`` with an assigned prefix."""
    return re.fullmatch(r"\d{2}-\d{7}", text) is not None and text[:2] in VALID_EIN_PREFIXES


# -- SAML ------------------------------------------------------------------------------------------------------


def saml_metadata(domain: str) -> str:
    """SAML 2.0 metadata of the customer's identity provider."""
    base = f"https://sso.{domain}/saml2"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{base}/metadata">\n'
        '  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">\n'
        '    <md:KeyDescriptor use="signing">\n'
        '      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">\n'
        f"        <ds:X509Data><ds:X509Certificate>{SIGNING_CERTIFICATE}</ds:X509Certificate></ds:X509Data>\n"
        "      </ds:KeyInfo>\n"
        "    </md:KeyDescriptor>\n"
        "    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>\n"
        '    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        f'Location="{base}/sso"/>\n'
        '    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        f'Location="{base}/sso"/>\n'
        "  </md:IDPSSODescriptor>\n"
        "</md:EntityDescriptor>\n"
    )
