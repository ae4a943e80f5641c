"""SAML 2.0 identity provider metadata, parsed by ``defusedxml``: no DTDs, no entities, so an entity bomb is
refused, never expanded.  What is stored is the essentials (entity id, sign-in address, certificate
fingerprint), not the XML."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from defusedxml import ElementTree as defused_et
from defusedxml.common import DefusedXmlException

from include.onboarding.config import ChecklistItem
from include.onboarding.validators.verdicts import AccountContext, Refused, Verdict

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
_SAML_EXPORT = "Please download the IdP metadata XML again from your identity provider and send it unchanged."


def wanted(item: ChecklistItem, account: AccountContext) -> str:
    return "the SAML 2.0 metadata XML of your identity provider, exactly as your identity provider exports it"


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
    raise Refused(
        "The signing certificate in this metadata is damaged: its X509Certificate is not valid base64 "
        f"(this often happens when the file is edited or copied in parts). {_SAML_EXPORT}"
    )


def saml_metadata(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    root = _metadata_root(text.lstrip("\ufeff").strip())
    entity_id = (root.get("entityID") or "").strip()
    if not entity_id:
        raise Refused(f"This metadata has no entityID, so we cannot tell which identity provider it is. {_SAML_EXPORT}")
    idp, sso_url = _sign_in(_identity_providers(root))
    der = _certificate(idp)
    if der is None:
        raise Refused(
            "This metadata has no signing certificate (ds:X509Certificate), so we could not check sign-ins. "
            f"{_SAML_EXPORT}"
        )
    return Verdict.accept(
        {"entity_id": entity_id, "sso_url": sso_url, "certificate_sha256": hashlib.sha256(der).hexdigest()}
    )


def _metadata_root(text: str) -> ET.Element:
    """The md:EntityDescriptor of well-formed, DTD-free XML; rejects a link, a federation feed or anything else."""
    if re.match(r"(?i)https?://", text):
        raise Refused(
            "We received a link, but we need the metadata itself. Please open the link, save the XML it shows, "
            "and send the XML text."
        )
    try:
        root = _parse_xml(text)
    except DefusedXmlException:
        raise Refused(
            "This metadata contains a DOCTYPE or entity declarations, which we refuse for security reasons. "
            f"Real SAML metadata does not need them. {_SAML_EXPORT}"
        ) from None
    except ET.ParseError as exc:
        line, column = exc.position
        raise Refused(
            f"This is not well-formed XML (the problem is at line {line}, column {column + 1}). {_SAML_EXPORT}"
        ) from None
    except ValueError:
        raise Refused(f"This is not well-formed XML. {_SAML_EXPORT}") from None
    if root.tag == f"{{{MD_NS}}}EntitiesDescriptor":
        raise Refused(
            "This file describes several entities (an EntitiesDescriptor, as in a federation feed). Please send "
            "the metadata of your own identity provider only: one EntityDescriptor."
        )
    if root.tag != f"{{{MD_NS}}}EntityDescriptor":
        raise Refused(f"This XML is not SAML 2.0 metadata (it has no md:EntityDescriptor at the top). {_SAML_EXPORT}")
    return root


def _identity_providers(root: ET.Element) -> list[ET.Element]:
    idps = root.findall(f"{{{MD_NS}}}IDPSSODescriptor")
    if idps:
        return idps
    if root.find(f"{{{MD_NS}}}SPSSODescriptor") is not None:
        raise Refused(
            "This is the metadata of a service provider, not of an identity provider. Please send the "
            "metadata of your identity provider (the one with an IDPSSODescriptor), for example from your "
            "Okta, Microsoft Entra ID or Google Workspace admin console."
        )
    raise Refused(
        f"This metadata has no IDPSSODescriptor, so it does not describe an identity provider. {_SAML_EXPORT}"
    )


def _sign_in(idps: list[ET.Element]) -> tuple[ET.Element, str]:
    """The identity provider and its https sign-in address, HTTP-Redirect binding first, then HTTP-POST."""
    services = [
        (idp, service.get("Binding") or "", (service.get("Location") or "").strip())
        for idp in idps
        for service in idp.findall(f"{{{MD_NS}}}SingleSignOnService")
    ]
    if not services:
        raise Refused(
            f"This metadata has no SingleSignOnService, so there is no sign-in address to send users to. {_SAML_EXPORT}"
        )
    secure = [s for s in services if _https(s[2])]
    if not secure:
        raise Refused(
            "The sign-in address (SingleSignOnService Location) in this metadata does not start with https://, and "
            "we only send users to secure sign-in pages. Please enable HTTPS on your identity provider and send "
            "the new metadata."
        )
    preference = {_REDIRECT: 0, _POST: 1}
    idp, _, sso_url = min(secure, key=lambda s: preference.get(s[1], 2))
    return idp, sso_url
