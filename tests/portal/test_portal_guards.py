"""What every portal response carries and what a link opens, read the way the pages read it:
security headers on every answer, an oversize post refused before it is read, a revoked
contact let in again by a later link, and each item's documents listed under that item."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from include.onboarding.config import OnboardingConfig
from include.onboarding.store import Store
from include.portal import links
from sandbox.customers import file_bytes
from sandbox.mail import MailSandbox
from tests.portal.conftest import SECRET
from tests.portal.test_portal_http import PDF, _now, csrf, invite, submit

HEADERS = {
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'",
    "cache-control": "no-store",
}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _security_headers(response: Any) -> dict[str, str]:
    return {name: response.headers.get(name) for name in HEADERS}


def test_every_answer_carries_the_security_headers_and_an_oversize_post_is_refused_unread(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    account = make_account()
    path = invite(store, config, account, mailbox)
    page = client.get(path)
    answers = [
        page,
        client.get("/"),
        client.get("/l/forged.token"),
        client.post(
            f"{path}/items/company_domain",
            data={"csrf_token": csrf(page.text), "value": "northwind.example"},
            follow_redirects=False,
        ),
        client.get("/healthz"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 403, 303, 200]
    for answer in answers:
        assert _security_headers(answer) == HEADERS, answer.url
    limit = int(config.settings.portal.max_upload_mb * 1024 * 1024) + 64 * 1024
    big = b"0" * (limit + 1)
    refused = client.post(f"{path}/items/signed_dpa", files={"document": ("big.pdf", big, "application/pdf")})
    assert refused.status_code == 413 and "File too large" in refused.text
    assert _security_headers(refused) == HEADERS
    assert store.scalar("SELECT count(*) FROM onboarding.submissions WHERE item_key = 'signed_dpa'") == 0


def test_a_revoked_contact_gets_in_again_only_with_a_link_issued_after_the_revocation(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    account = make_account()
    old = invite(store, config, account, mailbox)
    page = client.get(old)
    forwarded = client.post(
        f"{old}/forward",
        data={"csrf_token": csrf(page.text), "name": "Ola Nordmann", "email": "ola@northwind.example",
              "items": ["billing_tax_id"]},
        follow_redirects=False,
    )  # fmt: skip
    assert forwarded.status_code == 303
    colleague = urlsplit(next(u for u in mailbox.wait_for("ola@northwind.example").links if "/l/" in u)).path
    revoked_at = _now()
    links.revoke_contact(store, account.key, account.contact.upper(), revoked_at, "lukas.berger@example.com", "left")
    assert client.get(old).status_code == 403
    assert client.get(colleague).status_code == 200  # the revocation names one contact, not the account
    with store.transaction() as cur:
        new = links.issue_link(
            cur, config, SECRET, onboarding_id=account.id, onboarding_key=account.key, region="EMEA",
            contact_email=account.contact, contact_name=None, scope=links.CHECKLIST, purpose="resend",
            issued_by="lukas.berger@example.com", now=revoked_at + timedelta(seconds=1),
        )  # fmt: skip
    again = client.get(urlsplit(new.url).path)
    assert again.status_code == 200 and account.name in again.text
    assert client.get(old).status_code == 403


def test_the_checklist_lists_each_items_documents_under_that_item(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    account = make_account()
    path = invite(store, config, account, mailbox)
    submit(client, path, "signed_dpa", files={"document": ("dpa.pdf", PDF, "application/pdf")})
    xlsx = file_bytes(XLSX_TYPE, 2000, "questionnaire")
    submit(client, path, "security_questionnaire", files={"document": ("answers.xlsx", xlsx, XLSX_TYPE)})
    rows = store.query(
        "SELECT item_key, status FROM onboarding.checklist_items WHERE onboarding_id = %s AND item_type = 'document'",
        (account.id,),
    )
    statuses = {r["item_key"]: r["status"] for r in rows}
    assert statuses == {"signed_dpa": "verified", "security_questionnaire": "verified"}
    page = client.get(path).text
    documents = store.query(
        "SELECT id, item_key, filename FROM onboarding.documents WHERE onboarding_id = %s ORDER BY id", (account.id,)
    )
    assert [d["filename"] for d in documents] == ["dpa.pdf", "answers.xlsx"]
    for doc in documents:
        item = page.index(f'id="item-{doc["item_key"]}"')
        next_item = page.find('<li class="item', item + 1)
        listed = page.index(f'/documents/{doc["id"]}">{doc["filename"]}</a>')
        assert item < listed < (next_item if next_item != -1 else len(page)), doc
    empty = page.index('id="item-billing_tax_id"')
    assert "/documents/" not in page[empty : page.find('<li class="item', empty + 1)]


@pytest.mark.unit
def test_the_access_log_never_holds_a_magic_link() -> None:
    import logging

    from include.portal.__main__ import log_config
    from include.portal.security import RedactLinks

    token = "eyJrIjoiaHVic3BvdC0xIn0.c2lnbmF0dXJl"
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/l/{token}/items/vat?done=vat", "1.1", 303), None,
    )  # fmt: skip
    assert RedactLinks().filter(record)
    line = record.getMessage()
    assert token not in line and "/l/<redacted>/items/vat?done=vat" in line
    # The portal's own process logs through the filter.
    config = log_config()
    assert config["handlers"]["access"]["filters"] == ["redact_links"]
    assert config["filters"]["redact_links"]["()"] == "include.portal.security.RedactLinks"
