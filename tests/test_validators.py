"""Validating customer submissions: every input type accepts good answers in
their normalised form and rejects bad ones with a reason that says what to send
instead.  Bad input never raises; hostile XML is refused, never expanded."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
from typing import Any

import pytest

from include.onboarding import validators
from include.onboarding.config import ChecklistItem, DocumentRules, InputType, load_config
from include.onboarding.validators import AccountContext, DocumentMeta, Submission, Verdict, validate

GB = AccountContext(region="EMEA", country="GB", company_domain="acme.co.uk")
DE = AccountContext(region="EMEA", country="DE", company_domain="globex.de")
UNKNOWN = AccountContext(region="EMEA")
US = AccountContext(region="NA", country="US", company_domain="initech.com")

PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MB = 1024 * 1024


def item(kind: str, **options: Any) -> ChecklistItem:
    return ChecklistItem(key="answer", label="Your answer", type=InputType(kind), **options)


DPA = item("document", document=DocumentRules(content_types=[PDF], max_mb=20))
SHEET = item("document", document=DocumentRules(content_types=[PDF, XLSX], max_mb=20))
RESIDENCY = item("choice", choices=["us", "eu", "au"])


def check(
    checklist_item: ChecklistItem,
    value: str | None = None,
    document: DocumentMeta | None = None,
    account: AccountContext = GB,
) -> Verdict:
    verdict = validate(checklist_item, Submission(item_key=checklist_item.key, value=value, document=document), account)
    if verdict.ok:
        json.dumps(verdict.value)  # always storable as JSON
    return verdict


def accepted(verdict: Verdict) -> Any:
    assert verdict.ok, verdict.reason
    assert verdict.reason is None
    return verdict.value


def rejected(verdict: Verdict, *phrases: str) -> str:
    """The reason, after checking it is a rejection that tells the customer what to send."""
    assert not verdict.ok, f"accepted {verdict.value!r}"
    assert verdict.value is None
    reason = verdict.reason
    assert reason
    assert "Please" in reason, reason
    for phrase in phrases:
        assert phrase in reason, f"{phrase!r} not in {reason!r}"
    return reason


# --------------------------------------------------------------------------- the contract


def test_verdicts_are_consistent() -> None:
    assert Verdict.accept("x") == Verdict(ok=True, value="x", reason=None)
    assert Verdict.reject("Send y.") == Verdict(ok=False, value=None, reason="Send y.")
    with pytest.raises(ValueError):
        Verdict(ok=True, value="x", reason="but why")
    with pytest.raises(ValueError):
        Verdict(ok=False, value=None, reason=None)


def test_programming_errors_raise() -> None:
    with pytest.raises(ValueError, match="judged against item"):
        validate(item("text"), Submission(item_key="other", value="x"), GB)
    unknown: dict[str, Any] = {"key": "answer", "label": "Answer", "type": "date", "critical": False}
    bogus = ChecklistItem.model_construct(**unknown)  # a type this module does not know
    with pytest.raises(ValueError, match="no validator"):
        validate(bogus, Submission(item_key="answer", value="2026-01-01"), GB)


def test_every_input_type_has_a_validator() -> None:
    good = {
        InputType.EMAIL: "jane@acme.co.uk",
        InputType.DOMAIN: "acme.co.uk",
        InputType.URL: "https://acme.co.uk/",
        InputType.VAT_ID: "GB980780684",
        InputType.TAX_ID: "04-2103594",
        InputType.SAML_METADATA: None,
        InputType.TEXT: "hello",
        InputType.CHOICE: "eu",
    }
    for kind in InputType:
        if kind is InputType.DOCUMENT:
            assert check(DPA, document=DocumentMeta("dpa.pdf", PDF, 1000)).ok
        elif kind is InputType.SAML_METADATA:
            assert check(item(kind.value), metadata()).ok
        elif kind is InputType.CHOICE:
            assert check(RESIDENCY, good[kind]).ok
        else:
            assert check(item(kind.value), good[kind]).ok, kind


def test_every_shipped_checklist_item_can_be_judged() -> None:
    for tier in load_config().tiers.values():
        for checklist_item in tier.checklist:
            verdict = check(checklist_item, None)
            assert not verdict.ok and verdict.reason
    dpa = next(i for i in load_config().tiers["enterprise"].checklist if i.key == "signed_dpa")
    rejected(check(dpa, document=DocumentMeta("dpa.pdf", PDF, 300 * MB)), "a PDF up to 20 MB")


# --------------------------------------------------------------------------- shape and size

VALUE_ITEMS = [item(k.value) for k in InputType if k not in (InputType.DOCUMENT, InputType.CHOICE)] + [RESIDENCY]


@pytest.mark.parametrize("checklist_item", VALUE_ITEMS, ids=lambda i: i.type.value)
def test_a_document_for_a_typed_item_is_rejected(checklist_item: ChecklistItem) -> None:
    verdict = check(checklist_item, document=DocumentMeta("notes.pdf", PDF, 1000))
    reason = rejected(verdict, "We received a file")
    assert "Please send" in reason or "paste its contents" in reason


@pytest.mark.parametrize("checklist_item", VALUE_ITEMS, ids=lambda i: i.type.value)
@pytest.mark.parametrize("value", [None, "", "   \n\t "])
def test_empty_answers_are_rejected(checklist_item: ChecklistItem, value: str | None) -> None:
    rejected(check(checklist_item, value), "empty answer", "Please send")


def test_a_typed_answer_for_a_document_item_is_rejected() -> None:
    rejected(check(DPA, "I will send it later"), "needs a file", "Please upload a PDF up to 20 MB")
    rejected(check(DPA), "did not receive a file", "Please upload a PDF up to 20 MB")


@pytest.mark.parametrize("checklist_item", [i for i in VALUE_ITEMS if i.type is not InputType.SAML_METADATA])
def test_oversized_answers_are_rejected_before_parsing(checklist_item: ChecklistItem) -> None:
    rejected(check(checklist_item, "a" * 10_001), "10,001 characters", "limit of 10,000", "Please send")


def test_oversized_saml_metadata_is_rejected_without_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(text: str) -> None:
        raise AssertionError("parsed an oversized document")

    monkeypatch.setattr(validators, "_parse_xml", never)
    huge = metadata().replace("<md:IDPSSODescriptor", "<!--" + "x" * MB + "--><md:IDPSSODescriptor")
    rejected(check(item("saml_metadata"), huge), "over the 1 MB limit", "Please send")
    multibyte = "é" * (MB // 2 + 1)  # few characters, more than 1 MB of UTF-8
    rejected(check(item("saml_metadata"), multibyte), "over the 1 MB limit")


@pytest.mark.parametrize("bad", ["acme\x00.com", "acme\x1b.com", "acme\ud800.com"])
@pytest.mark.parametrize("kind", ["text", "domain", "email", "saml_metadata"])
def test_control_characters_are_rejected(kind: str, bad: str) -> None:
    rejected(check(item(kind), bad), "control characters", "paste it as plain text")


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


@pytest.mark.parametrize("country", sorted(validators._VAT_EXAMPLES))
def test_vat_examples_shown_to_customers_are_valid(country: str) -> None:
    example = validators._VAT_EXAMPLES[country]
    assert accepted(check(item("vat_id"), example, account=AccountContext("EMEA", country))) == example


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


# --------------------------------------------------------------------------- SAML metadata

CERT_DER = b"\x30\x82\x01\x0a" + bytes(range(256))
CERT = base64.b64encode(CERT_DER).decode()
OTHER_DER = b"\x30\x82\x00\x10" + b"encryption key!!"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def metadata(
    *,
    entity: str = 'entityID="https://idp.acme.com/metadata"',
    root: str = "md:EntityDescriptor",
    descriptor: str = "md:IDPSSODescriptor",
    services: str | None = None,
    keys: str | None = None,
    prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n',
) -> str:
    if services is None:
        services = (
            f'<md:SingleSignOnService Binding="{POST}" Location="https://idp.acme.com/sso/post"/>'
            f'<md:SingleSignOnService Binding="{REDIRECT}" Location="https://idp.acme.com/sso/redirect"/>'
        )
    if keys is None:
        keys = key("signing", CERT)
    return (
        f"{prolog}<{root} xmlns:md='urn:oasis:names:tc:SAML:2.0:metadata'"
        f" xmlns:ds='http://www.w3.org/2000/09/xmldsig#' {entity}>"
        f"<{descriptor} protocolSupportEnumeration='urn:oasis:names:tc:SAML:2.0:protocol'>"
        f"{keys}{services}</{descriptor}></{root}>"
    )


def key(use: str | None, cert: str) -> str:
    attr = f' use="{use}"' if use else ""
    return f"<md:KeyDescriptor{attr}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"  # noqa: E501


SAML = item("saml_metadata")


def test_valid_saml_metadata_stores_the_essentials_not_the_xml() -> None:
    assert accepted(check(SAML, metadata())) == {
        "entity_id": "https://idp.acme.com/metadata",
        "sso_url": "https://idp.acme.com/sso/redirect",
        "certificate_sha256": hashlib.sha256(CERT_DER).hexdigest(),
    }


def test_saml_certificates_may_be_wrapped_and_the_signing_key_wins() -> None:
    wrapped = "\n".join(CERT[i : i + 64] for i in range(0, len(CERT), 64))
    keys = key("encryption", base64.b64encode(OTHER_DER).decode()) + key("signing", wrapped)
    value = accepted(check(SAML, "\ufeff  " + metadata(keys=keys)))
    assert value["certificate_sha256"] == hashlib.sha256(CERT_DER).hexdigest()
    post_only = f'<md:SingleSignOnService Binding="{POST}" Location="https://idp.acme.com/sso/post"/>'
    assert accepted(check(SAML, metadata(services=post_only)))["sso_url"] == "https://idp.acme.com/sso/post"
    no_use = accepted(check(SAML, metadata(keys=key(None, CERT), prolog="")))
    assert no_use["certificate_sha256"] == hashlib.sha256(CERT_DER).hexdigest()


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol9;"/>
"""


def test_billion_laughs_is_rejected_not_expanded() -> None:
    started = time.monotonic()
    rejected(check(SAML, BILLION_LAUGHS), "DOCTYPE or entity declarations", "security", "Please download")
    assert time.monotonic() - started < 1


def test_external_entities_are_refused() -> None:
    xxe = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>'
    rejected(check(SAML, xxe), "DOCTYPE or entity declarations")


@pytest.mark.parametrize(
    ("value", "phrases"),
    [
        ("<xml>broken", ("not well-formed XML", "line 1, column 12")),
        ("https://idp.acme.com/metadata", ("link", "send the XML text")),
        ("<EntityDescriptor entityID='x'/>", ("not SAML 2.0 metadata",)),
        (metadata(root="md:EntitiesDescriptor"), ("EntitiesDescriptor", "one EntityDescriptor")),
        (metadata(entity=""), ("no entityID",)),
        (metadata(entity='entityID="  "'), ("no entityID",)),
        (metadata(descriptor="md:SPSSODescriptor"), ("service provider", "IDPSSODescriptor")),
        (metadata(descriptor="md:AttributeAuthorityDescriptor"), ("no IDPSSODescriptor",)),
        (metadata(services=""), ("no SingleSignOnService",)),
        (
            metadata(services=f'<md:SingleSignOnService Binding="{REDIRECT}" Location="http://idp.acme.com/sso"/>'),
            ("does not start with https://",),
        ),
        (metadata(services=f'<md:SingleSignOnService Binding="{REDIRECT}"/>'), ("does not start with https://",)),
        (metadata(keys=""), ("no signing certificate",)),
        (metadata(keys=key("signing", "not*base64!")), ("not valid base64",)),
        (metadata(keys=key("signing", "")), ("not valid base64",)),
    ],
)
def test_invalid_saml_metadata_is_rejected(value: str, phrases: tuple[str, ...]) -> None:
    rejected(check(SAML, value), *phrases)


# --------------------------------------------------------------------------- documents


def test_valid_documents_are_stored_as_metadata() -> None:
    digest = hashlib.sha256(b"dpa").hexdigest()
    assert accepted(check(DPA, document=DocumentMeta("Signed DPA.pdf", PDF, 2 * MB, digest.upper()))) == {
        "filename": "Signed DPA.pdf",
        "content_type": PDF,
        "size_bytes": 2 * MB,
        "sha256": digest,
    }
    sheet = DocumentMeta("C:\\Users\\jane\\Security Questionnaire.XLSX", XLSX.upper() + "; charset=binary", 1000)
    assert accepted(check(SHEET, document=sheet)) == {
        "filename": "Security Questionnaire.XLSX",
        "content_type": XLSX,
        "size_bytes": 1000,
        "sha256": None,
    }
    assert check(DPA, document=DocumentMeta("dpa.pdf", PDF, 20 * MB)).ok


def test_a_300_mb_pdf_is_rejected_with_the_limit() -> None:
    rejected(
        check(DPA, document=DocumentMeta("dpa.pdf", PDF, 300 * MB)),
        "300 MB",
        "over the 20 MB limit",
        "a PDF up to 20 MB",
    )
    rejected(check(DPA, document=DocumentMeta("dpa.pdf", PDF, 20 * MB + 1)), "20.1 MB", "over the 20 MB limit")


def test_an_exe_is_rejected() -> None:
    exe = DocumentMeta("setup.exe", "application/x-msdownload", 2 * MB)
    rejected(check(DPA, document=exe), '"setup.exe"', "application/x-msdownload", "Please upload a PDF up to 20 MB")
    disguised = DocumentMeta("dpa.pdf.exe", PDF, 2 * MB)
    rejected(check(DPA, document=disguised), "extension of a PDF (.pdf)", "Please upload a PDF up to 20 MB")


@pytest.mark.parametrize(
    ("document", "phrases"),
    [
        (DocumentMeta("answers.pdf", XLSX, 1000), ("extension of an Excel workbook (.xlsx)",)),
        (DocumentMeta("answers", PDF, 1000), ("extension of a PDF",)),
        (
            DocumentMeta("answers.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", 9),
            ("Word document",),
        ),
        (DocumentMeta("answers.pdf", PDF, 0), ("empty (0 bytes)",)),
        (DocumentMeta("answers.pdf", "", 0), ("could not tell what kind of file",)),
        (DocumentMeta("", PDF, 1000), ("without a name",)),
        (DocumentMeta("answers.pdf", PDF, 1000, "not-a-digest"), ("did not arrive intact",)),
        (DocumentMeta("ans\x00wers.pdf", PDF, 1000), ("file name is not usable",)),
    ],
)
def test_invalid_documents_are_rejected(document: DocumentMeta, phrases: tuple[str, ...]) -> None:
    rejected(check(SHEET, document=document), *phrases, "a PDF or an Excel workbook (.xlsx) up to 20 MB")


def test_a_document_for_a_text_item_is_rejected() -> None:
    rejected(check(item("text"), document=DocumentMeta("notes.pdf", PDF, 1000)), "needs a typed answer")


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


# --------------------------------------------------------------------------- hostile and odd input


def _garbage(rng: random.Random) -> str:
    alphabet = "aZ09 .-_@:/\\[]<>&;%#?=+*'\"\n\t\u00e9\u0130\u200b\ufeff\U0001f600xn--GBDE"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80)))


ODD = [
    "[",
    "https://[",
    "http://[::1",
    "@@",
    "xn--",
    "xn--zz.com",
    ".",
    "..",
    "a." * 200 + "com",
    "x" * 300 + ".com",
    "https://" + "a" * 5000 + ".com",
    "<",
    "<?xml version='1.0' encoding='bogus'?><a/>",
    "<?xml version='1.0' encoding='UTF-16'?><a/>",
    "\u0130stanbul.com",
    "\U0001f600.com",
    "GB" + "9" * 5000,
    "%00",
    "0",
]


@pytest.mark.parametrize("kind", [k for k in InputType if k is not InputType.DOCUMENT], ids=lambda k: k.value)
def test_odd_input_never_raises(kind: InputType) -> None:
    checklist_item = RESIDENCY if kind is InputType.CHOICE else item(kind.value)
    rng = random.Random(kind.value)
    for value in ODD + [_garbage(rng) for _ in range(300)]:
        for account in (GB, UNKNOWN, AccountContext("EMEA", "xx", "not a domain")):
            verdict = check(checklist_item, value, account=account)
            assert isinstance(verdict, Verdict)
            if not verdict.ok:
                assert verdict.reason and len(verdict.reason) < 700, verdict.reason


def test_odd_documents_never_raise() -> None:
    rng = random.Random("documents")
    for _ in range(300):
        document = DocumentMeta(
            filename=_garbage(rng),
            content_type=rng.choice([PDF, XLSX, "", "application/pdf;;", _garbage(rng)]),
            size_bytes=rng.choice([-1, 0, 1, 20 * MB, 10**12]),
            sha256=rng.choice([None, "", _garbage(rng), "a" * 64]),
        )
        verdict = check(SHEET, document=document)
        assert verdict.ok or (verdict.reason and len(verdict.reason) < 700)
