"""SAML metadata: the essentials stored, not the XML; hostile XML is refused, never expanded."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest

from tests.validators.common import (
    accepted,
    check,
    item,
    rejected,
)

pytestmark = pytest.mark.unit


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
