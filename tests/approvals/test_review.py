"""What the approver reads: each kind of evidence shown as itself, with links where there are any."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from include.onboarding.approvals.review import Evidence, item_line

pytestmark = pytest.mark.unit

VERIFIED = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


def _item(item_type: str, value: Any, **more: Any) -> Evidence:
    fields = {
        "key": "k", "label": "Item", "item_type": item_type, "critical": True, "status": "verified", "value": value,
        "reason": None, "verified_at": VERIFIED, "document_url": None,
    }  # fmt: skip
    return Evidence(**(fields | more))


def test_typed_answers_are_shown_with_links_where_they_are_links() -> None:
    assert item_line(_item("email", "ap@northwind.example", label="Billing contact email")) == (
        "- **Billing contact email** (critical): verified on 24 Nov 2026: "
        "[ap@northwind.example](mailto:ap@northwind.example)"
    )
    assert item_line(_item("url", "https://northwind.example/a (b)")).endswith(
        r"[https://northwind.example/a \(b\)](https://northwind.example/a%20%28b%29)"
    )
    assert item_line(_item("vat_id", "GB980780684")).endswith(": `GB980780684`")
    assert item_line(_item("url", "javascript:alert(1)")).endswith(r": javascript:alert\(1\)")  # not a link


def test_documents_and_saml_show_what_was_checked() -> None:
    doc = {"filename": "signed-dpa.pdf", "content_type": "application/pdf", "size_bytes": 217_088, "sha256": "ab" * 32}
    stored = item_line(_item("document", doc, document_url="file:///srv/documents/k/signed-dpa.pdf"))
    assert stored.endswith(
        "signed-dpa.pdf (application/pdf, 212 KB, SHA-256 `abababababababab`…), stored at"
        " `file:///srv/documents/k/signed-dpa.pdf`"
    )
    linked = item_line(_item("document", doc, document_url="https://files.example/k/signed-dpa.pdf"))
    assert "[signed-dpa.pdf](https://files.example/k/signed-dpa.pdf)" in linked
    saml = {"entity_id": "https://idp.example/x", "sso_url": "https://idp.example/sso", "certificate_sha256": "cd" * 32}
    assert item_line(_item("saml_metadata", saml)).endswith(
        "identity provider `https://idp.example/x`, sign-in at [https://idp.example/sso](https://idp.example/sso),"
        " certificate SHA-256 `cdcdcdcdcdcdcdcd`…"
    )


def test_what_is_not_verified_says_so() -> None:
    assert item_line(_item("email", None, status="missing", critical=False)) == (
        "- **Item**: **missing**, nothing verified yet"
    )
    rejected = item_line(_item("vat_id", None, status="rejected", reason="fails the *GB* checksum"))
    assert rejected == r"- **Item** (critical): **not accepted**: fails the \*GB\* checksum"
