"""Judging one submission for one checklist item.

:func:`validate` takes the item (from the tier file), what the customer sent
through the forms portal and what we know about the account, and returns a
:class:`Verdict`: either the normalised value to store, or a reason written
for the customer that says what is wrong and what to send instead.

Bad customer input never raises: it is always a rejected verdict.  Only a
programming error does (an input type without a validator, a submission
judged against the wrong item).  Checks lean on maintained libraries rather
than home-made rules: ``email-validator`` for addresses, ``idna`` for host
names, ``python-stdnum`` for VAT numbers and EINs, ``defusedxml`` for SAML
metadata (no DTDs, no entities: an entity bomb is refused, never expanded).
Oversized values are refused before any parsing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import mimetypes
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import idna
from defusedxml import ElementTree as defused_et
from defusedxml.common import DefusedXmlException
from email_validator import EmailNotValidError, validate_email
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum, InvalidComponent
from stdnum.exceptions import ValidationError as NumberError
from stdnum.gb import vat as gb_vat
from stdnum.us import ein

from include.onboarding.config import ChecklistItem, InputType

MAX_TEXT_CHARS = 10_000
"""Longest typed answer accepted for any item except SAML metadata."""
MAX_SAML_BYTES = 1024 * 1024
"""Largest SAML metadata document accepted (1 MB, UTF-8)."""
MEGABYTE = 1024 * 1024
"""Bytes in the MB of ``DocumentRules.max_mb`` (the binary megabyte, the larger reading)."""


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class DocumentMeta:
    """What the portal tells us about an uploaded file (the file itself stays in the portal)."""

    filename: str
    content_type: str
    size_bytes: int
    sha256: str | None = None


@dataclass(frozen=True)
class Submission:
    """One answer from the customer: a typed ``value`` or an uploaded ``document``."""

    item_key: str
    value: str | None = None
    document: DocumentMeta | None = None


@dataclass(frozen=True)
class AccountContext:
    """What we know about the account the submission belongs to."""

    region: str
    country: str | None = None
    """ISO 3166 country of the customer when known (``GB``, ``DE``); used to refuse another country's VAT number."""
    company_domain: str | None = None
    """The company's domain from the CRM; only used to make examples in reasons look familiar."""


@dataclass(frozen=True)
class Verdict:
    """The outcome: ``value`` is what to store (JSON-able) when ``ok``; ``reason`` is for the customer otherwise."""

    ok: bool
    value: Any = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.ok and self.reason is not None:
            raise ValueError("an accepted verdict has no reason")
        if not self.ok and not self.reason:
            raise ValueError("a rejected verdict needs a reason the customer can act on")

    @classmethod
    def accept(cls, value: Any) -> Verdict:
        return cls(ok=True, value=value)

    @classmethod
    def reject(cls, reason: str) -> Verdict:
        return cls(ok=False, value=None, reason=reason)


def validate(item: ChecklistItem, submission: Submission, account: AccountContext) -> Verdict:
    """Judge ``submission`` for ``item``.

    Bad customer input of any kind is a rejected :class:`Verdict`, never an
    exception.  ``ValueError`` is raised only for programming errors: an input
    type without a validator, or a submission for another item.
    """
    if submission.item_key != item.key:
        raise ValueError(f"submission for {submission.item_key!r} judged against item {item.key!r}")
    validator = _VALUE_VALIDATORS.get(item.type)
    if validator is None and item.type is not InputType.DOCUMENT:
        raise ValueError(f"no validator for input type {item.type!r}")
    try:
        if validator is None:
            return _document(item, submission)
        return validator(item, _typed_value(item, submission, account), account)
    except _Rejected as rejected:
        return Verdict.reject(rejected.reason)


# --------------------------------------------------------------------------- shared helpers


class _Rejected(Exception):
    """Internal: stop judging and reject with this customer-facing reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# C0 controls other than tab, newline and carriage return, DEL, and lone surrogates:
# never meaningful in an answer, and some (NUL) cannot even be stored.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s")
_DEFAULT_DOMAIN = "example.com"


def _quote(text: str, limit: int = 60) -> str:
    """The customer's own words, short enough to repeat back to them."""
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return f'"{short}"'


def _join_or(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _example_domain(account: AccountContext) -> str:
    """The account's own domain when we have a sound one, for examples the customer recognises."""
    if account.company_domain:
        try:
            return _domain_from_text(account.company_domain)
        except _Rejected:
            pass
    return _DEFAULT_DOMAIN


def _wanted(item: ChecklistItem, account: AccountContext) -> str:
    """What to send for this item, as the object of "Please send ..."."""
    domain = _example_domain(account)
    if item.type is InputType.EMAIL:
        return f"one email address, for example name@{domain}"
    if item.type is InputType.DOMAIN:
        return f"the domain name only, for example {domain}"
    if item.type is InputType.URL:
        return f"a web address starting with https://, for example https://www.{domain}/"
    if item.type is InputType.VAT_ID:
        country = _account_country(account)
        example = _VAT_EXAMPLES.get(country or "", _VAT_EXAMPLES["GB"])
        return f"your company's VAT number with its two-letter country prefix, for example {example}"
    if item.type is InputType.TAX_ID:
        return f"your company's 9-digit US Employer Identification Number (EIN), written NN-NNNNNNN, {_EIN_EXAMPLE}"
    if item.type is InputType.SAML_METADATA:
        return "the SAML 2.0 metadata XML of your identity provider, exactly as your identity provider exports it"
    if item.type is InputType.CHOICE:
        return f"one of: {_join_or(list(item.choices or []))}"
    if item.type is InputType.DOCUMENT:
        return _accepted_documents(item)
    return f"your answer for {_quote(item.label)}"


def _typed_value(item: ChecklistItem, submission: Submission, account: AccountContext) -> str:
    """The typed answer, stripped, once it has the right shape and a sane size; rejects otherwise."""
    value = submission.value
    wanted = _wanted(item, account)
    if submission.document is not None:
        if item.type is InputType.SAML_METADATA:
            raise _Rejected(
                "We received a file upload, but this item needs the metadata as text. "
                f"Please open the metadata file and paste its contents: {wanted}."
            )
        raise _Rejected(f"We received a file, but this item needs a typed answer. Please send {wanted}.")
    if value is None:
        raise _Rejected(f"We received an empty answer. Please send {wanted}.")
    # Size first: nothing below (not even strip) touches an oversized value.
    if item.type is InputType.SAML_METADATA:
        size = len(value) if len(value) > MAX_SAML_BYTES else len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_SAML_BYTES:
            raise _Rejected(
                f"This metadata is {_megabytes(size)} MB, over the 1 MB limit for SAML metadata. Please send "
                "the metadata of your own identity provider only (one EntityDescriptor), not a federation-wide file."
            )
    elif len(value) > MAX_TEXT_CHARS:
        raise _Rejected(
            f"This answer is {len(value):,} characters long, over the limit of {MAX_TEXT_CHARS:,}. "
            f"Please send {wanted}."
        )
    text = value.strip()
    if not text:
        raise _Rejected(f"We received an empty answer. Please send {wanted}.")
    if _CONTROL.search(text):
        raise _Rejected(
            "This answer contains invisible control characters (often picked up when copying from another "
            f"program). Please type it again or paste it as plain text: {wanted}."
        )
    return text


# --------------------------------------------------------------------------- email


def _email(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    wanted = _wanted(item, account)
    if text.count("@") > 1 and re.search(r"[,;\s]", text):
        raise _Rejected(f"This looks like more than one email address. Please send only {wanted}.")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        detail = str(exc).strip()
        if detail and not detail.endswith("."):
            detail += "."
        raise _Rejected(f"{_quote(text)} is not a valid email address. {detail} Please send {wanted}.") from None
    return Verdict.accept(result.normalized)


# --------------------------------------------------------------------------- domain names


def _explain_bad_host(host: str) -> str:
    """Plain words for why ``idna`` refused a host name (the library decides; this only explains)."""
    labels = host.split(".")
    if any(not label for label in labels):
        return "it has an empty part between two dots"
    if any(len(label) > 63 for label in labels):
        return "one part between the dots is longer than 63 characters"
    if any(label.startswith("-") or label.endswith("-") for label in labels):
        return "a part between the dots starts or ends with a hyphen"
    if len(host) > 253:
        return "it is longer than 253 characters"
    return "it contains characters a domain name cannot have (only letters, digits and hyphens, separated by dots)"


def _ascii_host(host: str) -> str:
    """A registrable host name, IDNA-encoded and lower-case; rejects with the problem in plain words."""
    host = host.strip()
    host = host[:-1] if host.endswith(".") else host
    if not host:
        raise _Rejected("it is empty")
    try:
        encoded = idna.encode(host, uts46=True, std3_rules=True).decode("ascii")
    except UnicodeError:
        raise _Rejected(_explain_bad_host(host)) from None
    labels = encoded.split(".")
    if len(labels) < 2:
        raise _Rejected("it needs at least one dot, like example.com")
    if len(encoded) > 253:
        raise _Rejected("it is longer than 253 characters")
    tld = labels[-1]
    if tld.isdigit():
        raise _Rejected("it is an IP address, not a domain name")
    if not re.fullmatch(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}", tld):
        raise _Rejected(f"it does not end in a real top-level domain such as .com (it ends in .{tld})")
    return encoded


def _domain_from_text(text: str) -> str:
    """The registrable domain in ``text``: scheme, path, port, ``www.`` and a trailing dot removed."""
    if "@" in text:
        raise _Rejected("it looks like an email address; send only the part after the @")
    if _WHITESPACE.search(text):
        raise _Rejected("it contains spaces")
    try:
        host = urlsplit(text if "://" in text else "//" + text).hostname
    except ValueError:
        host = None
    if not host:
        raise _Rejected("it has no domain name in it")
    if host.startswith("www.") and host.rstrip(".").count(".") >= 2:
        host = host[len("www.") :]
    return _ascii_host(host)


def _domain(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    try:
        return Verdict.accept(_domain_from_text(text))
    except _Rejected as problem:
        raise _Rejected(
            f"{_quote(text)} is not a usable domain name: {problem.reason}. Please send {_wanted(item, account)}."
        ) from None


# --------------------------------------------------------------------------- web addresses


def _url(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    wanted = _wanted(item, account)
    if _WHITESPACE.search(text):
        raise _Rejected(f"This web address contains spaces. Please send {wanted}.")
    if "://" not in text or text.startswith("://"):
        if re.fullmatch(r"[^\W_][\w.-]*\.[^\W\d_]{2,}(/\S*)?", text):
            example = _quote("https://" + text)
        else:
            example = f"https://www.{_example_domain(account)}/"
        raise _Rejected(
            f"{_quote(text)} is missing the https:// at the start. Please send the full address, for example {example}."
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise _Rejected(f"{_quote(text)} is not a valid web address. Please send {wanted}.") from None
    scheme = parts.scheme.lower()
    if parts.username is not None or parts.password is not None:
        # Never repeat the address back: it holds a password.
        raise _Rejected(
            "This web address contains a user name or password. Please remove them and send the address "
            "alone, starting with https://; we will ask for any sign-in details separately."
        )
    if scheme == "http" and parts.hostname:
        secure = "https" + text[len(parts.scheme) :]
        raise _Rejected(
            f"{_quote(text)} uses http://, which is not secure. Please send the https:// address of the same "
            f"page, for example {_quote(secure)}."
        )
    if scheme not in ("http", "https"):
        raise _Rejected(f"{_quote(text)} is not a web page address (it starts with {scheme}:). Please send {wanted}.")
    if not parts.hostname:
        raise _Rejected(f"{_quote(text)} has no site name after the {scheme}://. Please send {wanted}.")
    try:
        host = _ascii_host(parts.hostname)
    except _Rejected as problem:
        raise _Rejected(
            f"The site name in {_quote(text)} is not usable: {problem.reason}. Please send {wanted}."
        ) from None
    netloc = host if port in (None, 443) else f"{host}:{port}"
    return Verdict.accept(urlunsplit(("https", netloc, parts.path, parts.query, parts.fragment)))


# --------------------------------------------------------------------------- VAT numbers

# VAT prefixes that differ from the ISO country code: Greece uses EL, Northern Ireland XI.
_VAT_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}
# A number that passes the checks for each country we accept VAT numbers from.
_VAT_EXAMPLES = {
    "AT": "ATU13585627",
    "BE": "BE0403019261",
    "BG": "BG175074752",
    "CY": "CY10259033P",
    "CZ": "CZ25123891",
    "DE": "DE136695976",
    "DK": "DK13585628",
    "EE": "EE100931558",
    "ES": "ESB58378431",
    "FI": "FI20774740",
    "FR": "FR40303265045",
    "GB": "GB980780684",
    "GR": "EL094259216",
    "HR": "HR33392005961",
    "HU": "HU12892312",
    "IE": "IE6433435F",
    "IT": "IT00743110157",
    "LT": "LT119511515",
    "LU": "LU15027442",
    "LV": "LV40003521600",
    "MT": "MT11679112",
    "NL": "NL004495445B01",
    "PL": "PL8567346215",
    "PT": "PT501964843",
    "RO": "RO18547290",
    "SE": "SE123456789701",
    "SI": "SI50223054",
    "SK": "SK2022749619",
}
_COUNTRY_NAMES = {
    "AT": "Austria",
    "BE": "Belgium",
    "BG": "Bulgaria",
    "CY": "Cyprus",
    "CZ": "Czechia",
    "DE": "Germany",
    "DK": "Denmark",
    "EE": "Estonia",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "GB": "the United Kingdom",
    "GR": "Greece",
    "HR": "Croatia",
    "HU": "Hungary",
    "IE": "Ireland",
    "IT": "Italy",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "LV": "Latvia",
    "MT": "Malta",
    "NL": "the Netherlands",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "SE": "Sweden",
    "SI": "Slovenia",
    "SK": "Slovakia",
}
_VAT_PREFIXES = frozenset({"GB", "GR", "EL"} | {cc.upper() for cc in eu_vat.MEMBER_STATES})


def _vat_country(prefix: str) -> str:
    return _VAT_PREFIX_COUNTRY.get(prefix, prefix)


def _account_country(account: AccountContext) -> str | None:
    if not account.country or not account.country.strip():
        return None
    code = account.country.strip().upper()
    return _COUNTRY_ALIASES.get(code, code)


def _country_name(code: str) -> str:
    return f"{_COUNTRY_NAMES[code]} ({code})" if code in _COUNTRY_NAMES else code


def _vat_checked(number: str) -> str:
    """The compact, prefixed VAT number if stdnum accepts it; raises stdnum's ValidationError otherwise."""
    if number.startswith("GB"):
        return "GB" + gb_vat.validate(number)
    checked = eu_vat.validate(number)
    return "EL" + checked[2:] if checked.startswith("GR") else checked


def _vat(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    wanted = _wanted(item, account)
    number = re.sub(r"[\s.,/-]", "", text).upper()
    prefix = number[:2]
    home = _account_country(account)
    if not (prefix.isascii() and prefix.isalpha()):
        hint = ""
        if home in _VAT_EXAMPLES:
            guess = _VAT_EXAMPLES[home][:2] + number
            try:
                hint = f" If your company is registered in {_country_name(home)}, that is {_vat_checked(guess)}."
            except NumberError:
                hint = ""
        raise _Rejected(
            f"This VAT number has no country prefix.{hint} Please send {wanted}, exactly as printed on your "
            "VAT registration certificate."
        )
    if prefix not in _VAT_PREFIXES:
        raise _Rejected(
            f"We can accept VAT numbers from the United Kingdom and EU member states only, and {_quote(prefix)} is "
            f"not one of their prefixes (for example GB, DE, FR, EL for Greece). Please send {wanted}."
        )
    country = _vat_country(prefix)
    if home in _VAT_EXAMPLES and country != home:
        raise _Rejected(
            f"This VAT number is from {_country_name(country)}, but your account is registered in "
            f"{_country_name(home)}. Please send your company's VAT number for {_country_name(home)}, for example "
            f"{_VAT_EXAMPLES[home]}. If your company is registered in another country, tell us so we can "
            "correct your account."
        )
    try:
        return Verdict.accept(_vat_checked(number))
    except InvalidChecksum:
        if country == "GB":
            raise _Rejected(
                "This VAT number fails the GB checksum. Please send the 9- or 12-digit number printed on your "
                "VAT registration certificate, for example GB980780684."
            ) from None
        raise _Rejected(
            f"This VAT number fails the {prefix} checksum, so at least one character is wrong. Please send the "
            f"number exactly as printed on your VAT registration certificate, for example {_VAT_EXAMPLES[country]}."
        ) from None
    except NumberError:
        raise _Rejected(
            f"This is not a valid VAT number for {_country_name(country)}: it has the wrong length or characters. "
            f"Please send the number exactly as printed on your VAT registration certificate, with the {prefix} "
            f"prefix, for example {_VAT_EXAMPLES[country]}."
        ) from None


# --------------------------------------------------------------------------- US tax ids

_EIN_EXAMPLE = "for example 04-2103594"
_EIN_SOURCE = "your IRS EIN assignment notice (CP 575) or your Form W-9"


def _tax_id(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    number = _WHITESPACE.sub("", text)
    if re.fullmatch(r"\d{3}-\d{2}-\d{4}", number):
        raise _Rejected(
            "This looks like a Social Security Number, not a company tax id. Please send your company's "
            f"Employer Identification Number (EIN) from {_EIN_SOURCE}, written NN-NNNNNNN, {_EIN_EXAMPLE}."
        )
    try:
        return Verdict.accept(ein.format(ein.validate(number)))
    except InvalidComponent:
        raise _Rejected(
            f"{_quote(text)} starts with {number[:2]}, which the IRS does not use for EINs, so the number is "
            f"mistyped. Please copy it from {_EIN_SOURCE}, written NN-NNNNNNN, {_EIN_EXAMPLE}."
        ) from None
    except NumberError:
        raise _Rejected(
            f"{_quote(text)} is not a US EIN: an EIN has exactly 9 digits. Please send the number from "
            f"{_EIN_SOURCE}, written NN-NNNNNNN, {_EIN_EXAMPLE}."
        ) from None


# --------------------------------------------------------------------------- SAML metadata

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
_SAML_EXPORT = "Please download the IdP metadata XML again from your identity provider and send it unchanged."


def _parse_xml(text: str) -> ET.Element:
    """Parse untrusted XML: any DTD, entity or external reference is refused before it can expand."""
    root: ET.Element = defused_et.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    return root


def _https(location: str) -> bool:
    try:
        parts = urlsplit(location)
    except ValueError:
        return False
    return parts.scheme.lower() == "https" and bool(parts.hostname)


def _certificate(idp: ET.Element) -> bytes | None:
    """DER bytes of the IdP's first usable certificate, signing keys first; None when it has none."""
    ranked: list[tuple[int, str]] = []
    for key in idp.findall(f"{{{MD_NS}}}KeyDescriptor"):
        rank = 1 if key.get("use") == "encryption" else 0
        ranked += [(rank, cert.text or "") for cert in key.iter(f"{{{DS_NS}}}X509Certificate")]
    if not ranked:
        ranked = [(0, cert.text or "") for cert in idp.iter(f"{{{DS_NS}}}X509Certificate")]
    if not ranked:
        return None
    for _, text in sorted(ranked, key=lambda pair: pair[0]):
        try:
            der = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            continue
        if der:
            return der
    raise _Rejected(
        "The signing certificate in this metadata is damaged: its X509Certificate is not valid base64 "
        f"(this often happens when the file is edited or copied in parts). {_SAML_EXPORT}"
    )


def _saml_metadata(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    text = text.lstrip("\ufeff").strip()
    if re.match(r"(?i)https?://", text):
        raise _Rejected(
            "We received a link, but we need the metadata itself. Please open the link, save the XML it shows, "
            "and send the XML text."
        )
    try:
        root = _parse_xml(text)
    except DefusedXmlException:
        raise _Rejected(
            "This metadata contains a DOCTYPE or entity declarations, which we refuse for security reasons. "
            f"Real SAML metadata does not need them. {_SAML_EXPORT}"
        ) from None
    except ET.ParseError as exc:
        line, column = exc.position
        raise _Rejected(
            f"This is not well-formed XML (the problem is at line {line}, column {column + 1}). {_SAML_EXPORT}"
        ) from None
    except ValueError:
        raise _Rejected(f"This is not well-formed XML. {_SAML_EXPORT}") from None
    if root.tag == f"{{{MD_NS}}}EntitiesDescriptor":
        raise _Rejected(
            "This file describes several entities (an EntitiesDescriptor, as in a federation feed). Please send "
            "the metadata of your own identity provider only: one EntityDescriptor."
        )
    if root.tag != f"{{{MD_NS}}}EntityDescriptor":
        raise _Rejected(f"This XML is not SAML 2.0 metadata (it has no md:EntityDescriptor at the top). {_SAML_EXPORT}")
    entity_id = (root.get("entityID") or "").strip()
    if not entity_id:
        raise _Rejected(
            f"This metadata has no entityID, so we cannot tell which identity provider it is. {_SAML_EXPORT}"
        )
    idps = root.findall(f"{{{MD_NS}}}IDPSSODescriptor")
    if not idps:
        if root.find(f"{{{MD_NS}}}SPSSODescriptor") is not None:
            raise _Rejected(
                "This is the metadata of a service provider, not of an identity provider. Please send the "
                "metadata of your identity provider (the one with an IDPSSODescriptor), for example from your "
                "Okta, Microsoft Entra ID or Google Workspace admin console."
            )
        raise _Rejected(
            f"This metadata has no IDPSSODescriptor, so it does not describe an identity provider. {_SAML_EXPORT}"
        )
    services = [
        (idp, service.get("Binding") or "", (service.get("Location") or "").strip())
        for idp in idps
        for service in idp.findall(f"{{{MD_NS}}}SingleSignOnService")
    ]
    if not services:
        raise _Rejected(
            f"This metadata has no SingleSignOnService, so there is no sign-in address to send users to. {_SAML_EXPORT}"
        )
    secure = [s for s in services if _https(s[2])]
    if not secure:
        raise _Rejected(
            "The sign-in address (SingleSignOnService Location) in this metadata does not start with https://, and "
            "we only send users to secure sign-in pages. Please enable HTTPS on your identity provider and send "
            "the new metadata."
        )
    preference = {_REDIRECT: 0, _POST: 1}
    idp, _, sso_url = min(secure, key=lambda s: preference.get(s[1], 2))
    der = _certificate(idp)
    if der is None:
        raise _Rejected(
            "This metadata has no signing certificate (ds:X509Certificate), so we could not check sign-ins. "
            f"{_SAML_EXPORT}"
        )
    return Verdict.accept(
        {"entity_id": entity_id, "sso_url": sso_url, "certificate_sha256": hashlib.sha256(der).hexdigest()}
    )


# --------------------------------------------------------------------------- documents

# Extensions per content type; types not listed fall back to Python's built-in table.
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "application/vnd.ms-excel": (".xls",),
    "application/msword": (".doc",),
    "text/csv": (".csv",),
    "text/plain": (".txt",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "application/xml": (".xml",),
    "text/xml": (".xml",),
    "application/zip": (".zip",),
}
_TYPE_NAMES = {
    "application/pdf": "a PDF",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "an Excel workbook (.xlsx)",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "a Word document (.docx)",
    "application/vnd.ms-excel": "an Excel 97-2003 workbook (.xls)",
    "application/msword": "a Word 97-2003 document (.doc)",
    "text/csv": "a CSV file",
    "text/plain": "a plain text file (.txt)",
    "image/png": "a PNG image",
    "image/jpeg": "a JPEG image",
    "application/xml": "an XML file",
    "text/xml": "an XML file",
    "application/zip": "a ZIP archive",
}


@cache
def _builtin_types() -> mimetypes.MimeTypes:
    return mimetypes.MimeTypes()  # Python's own table only, not the host's mime.types


def _extensions(content_type: str) -> tuple[str, ...]:
    known = _EXTENSIONS.get(content_type)
    if known is not None:
        return known
    return tuple(_builtin_types().guess_all_extensions(content_type, strict=True))


def _type_name(content_type: str) -> str:
    """The kind of file, with its article, as customers know it ("a PDF", "an Excel workbook (.xlsx)")."""
    if content_type in _TYPE_NAMES:
        return _TYPE_NAMES[content_type]
    return f"a file of type {content_type}"


def _megabytes(size: float) -> str:
    """Size in MB for people: one decimal at most, rounded up so an oversized file never reads as the limit."""
    text = f"{math.ceil(size / MEGABYTE * 10) / 10:.1f}"
    return text.removesuffix(".0")


def _accepted_documents(item: ChecklistItem) -> str:
    """What the item accepts, e.g. "a PDF or an Excel workbook (.xlsx) up to 20 MB"."""
    rules = item.document
    if rules is None:
        raise ValueError(f"document item {item.key!r} has no document rules")
    names: list[str] = []
    for content_type in rules.content_types:
        name = _type_name(content_type.strip().lower())
        if name not in names:
            names.append(name)
    return f"{_join_or(names)} up to {rules.max_mb:g} MB"


def _document(item: ChecklistItem, submission: Submission) -> Verdict:
    rules = item.document
    if rules is None:
        raise ValueError(f"document item {item.key!r} has no document rules")
    accepted = _accepted_documents(item)
    doc = submission.document
    if doc is None:
        if submission.value is not None and submission.value.strip():
            raise _Rejected(f"We received a typed answer, but this item needs a file. Please upload {accepted}.")
        raise _Rejected(f"We did not receive a file. Please upload {accepted}.")
    filename = re.split(r"[\\/]", doc.filename.strip())[-1].strip()
    if not filename:
        raise _Rejected(f"We received a file without a name. Please upload it again: {accepted}.")
    if _CONTROL.search(filename) or len(filename) > 255:
        raise _Rejected(
            f"The file name is not usable. Please rename the file (for example contract.pdf) and upload {accepted}."
        )
    shown = _quote(filename)
    content_type = doc.content_type.split(";")[0].strip().lower()
    allowed = {c.strip().lower(): c for c in rules.content_types}
    if not content_type:
        raise _Rejected(f"We could not tell what kind of file {shown} is. Please upload it again: {accepted}.")
    if content_type not in allowed:
        raise _Rejected(f"We cannot accept {shown} here: it is {_type_name(content_type)}. Please upload {accepted}.")
    extensions = _extensions(content_type)
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extensions and suffix not in extensions:
        raise _Rejected(
            f"{shown} does not have the file name extension of {_type_name(content_type)} "
            f"({_join_or(list(extensions))}). Please upload {accepted}."
        )
    if doc.size_bytes <= 0:
        raise _Rejected(f"{shown} is empty (0 bytes). Please upload the complete file: {accepted}.")
    if doc.size_bytes > rules.max_mb * MEGABYTE:
        raise _Rejected(
            f"{shown} is {_megabytes(doc.size_bytes)} MB, over the {rules.max_mb:g} MB limit. Please upload a "
            f"smaller file (for example, export or scan it at a lower resolution, or split it): {accepted}."
        )
    sha256 = doc.sha256.strip().lower() if doc.sha256 is not None else None
    if sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise _Rejected(f"{shown} did not arrive intact. Please upload it again: {accepted}.")
    return Verdict.accept(
        {"filename": filename, "content_type": allowed[content_type], "size_bytes": doc.size_bytes, "sha256": sha256}
    )


# --------------------------------------------------------------------------- text and choices


def _text(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    return Verdict.accept(text)


def _choice(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    choices = item.choices
    if not choices:
        raise ValueError(f"choice item {item.key!r} has no choices")
    wanted = text.casefold()
    for choice in choices:
        if choice.strip().casefold() == wanted:
            return Verdict.accept(choice)
    raise _Rejected(f"{_quote(text)} is not one of the options. Please choose one of: {_join_or(list(choices))}.")


_VALUE_VALIDATORS: dict[InputType, Callable[[ChecklistItem, str, AccountContext], Verdict]] = {
    InputType.EMAIL: _email,
    InputType.DOMAIN: _domain,
    InputType.URL: _url,
    InputType.VAT_ID: _vat,
    InputType.TAX_ID: _tax_id,
    InputType.SAML_METADATA: _saml_metadata,
    InputType.TEXT: _text,
    InputType.CHOICE: _choice,
}
