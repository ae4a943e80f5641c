"""The customer portal over HTTP: magic links, verdicts on submit, documents, forwarding,
the timeline, customer email through the outbox, and the attacks it must refuse."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from include.onboarding import mail
from include.onboarding.config import OnboardingConfig
from include.onboarding.store import Store
from include.portal import links
from sandbox.mail import MailSandbox
from tests.portal.conftest import SECRET, Account

VALID_VAT = "GB980780684"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


def _now() -> datetime:
    return datetime.now(timezone.utc)


def invite(store: Store, config: OnboardingConfig, account: Account, mailbox: MailSandbox) -> str:
    """Queue the invitation, deliver it, and return the path of the link read from the email."""
    mail.queue_invitation(store, config, account.key, _now(), secret=SECRET)
    delivery = mail.deliver_pending(store, config, _now())
    assert delivery.sent >= 1, delivery.errors
    message = mailbox.wait_for(account.contact, "onboarding checklist")
    link = next(u for u in message.links if "/l/" in u)
    return urlsplit(link).path


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def submit(client: Any, path: str, item: str, **form: Any) -> httpx.Response:
    page = client.get(path)
    files = form.pop("files", None)
    return client.post(
        f"{path}/items/{item}", data={"csrf_token": csrf(page.text), **form}, files=files, follow_redirects=True
    )


def item_row(store: Store, account: Account, item: str) -> dict[str, Any]:
    rows = store.query(
        "SELECT * FROM onboarding.checklist_items WHERE onboarding_id = %s AND item_key = %s", (account.id, item)
    )
    return rows[0]


def test_the_invitation_link_opens_the_accounts_checklist(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    account = make_account()
    path = invite(store, config, account, mailbox)
    page = client.get(path)
    assert page.status_code == 200
    assert account.name in page.text
    assert "Lukas Berger" in page.text and "lukas.berger@example.com" in page.text  # the EMEA onboarding owner
    assert "Go-live target" in page.text
    for label in ("VAT number", "Signed data processing agreement", "Data residency region"):
        assert label in page.text
    assert "US federal tax id" not in page.text  # not planned for an EMEA account
    assert "airflow" not in page.text.lower()
    events = [e["event_type"] for e in store.events_for(account.key)]
    assert "mail.queued" in events and "mail.sent" in events
    assert client.get("/healthz").json() == {"status": "ok"}


def test_a_submission_is_judged_in_the_request_and_recorded_like_any_other(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    account = make_account()
    path = invite(store, config, account, mailbox)
    rejected = submit(client, path, "billing_tax_id", value="GB123")
    assert rejected.status_code == 200 and rejected.history[0].status_code == 303
    row = item_row(store, account, "billing_tax_id")
    assert row["status"] == "rejected" and row["rejection_reason"]
    assert row["rejection_reason"].split(".")[0] in rejected.text
    verified = submit(client, path, "billing_tax_id", value=VALID_VAT)
    assert "verified" in verified.text
    row = item_row(store, account, "billing_tax_id")
    assert row["status"] == "verified" and row["submissions"] == 2
    verdicts = store.query(
        "SELECT verdict FROM onboarding.submissions WHERE onboarding_id = %s ORDER BY id", (account.id,)
    )
    assert [v["verdict"] for v in verdicts] == ["rejected", "verified"]
    events = [e for e in store.events_for(account.key) if e["event_type"].startswith("input.")]
    assert [e["event_type"] for e in events] == ["input.rejected", "input.verified"]
    assert events[0]["actor"] == f"customer:{account.contact}"


def test_a_document_is_stored_with_its_sniffed_type_size_and_checksum(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox, documents_root: Path
) -> None:
    account = make_account()
    path = invite(store, config, account, mailbox)
    response = submit(client, path, "signed_dpa", files={"document": ("dpa.pdf", PDF, "application/octet-stream")})
    assert response.status_code == 200
    assert item_row(store, account, "signed_dpa")["status"] == "verified"
    doc = store.query("SELECT * FROM onboarding.documents WHERE onboarding_id = %s", (account.id,))[0]
    assert doc["content_type"] == "application/pdf" and doc["size_bytes"] == len(PDF)
    import hashlib

    assert doc["sha256"] == hashlib.sha256(PDF).hexdigest()
    stored = [p for p in documents_root.rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].read_bytes() == PDF and account.key in str(stored[0])
    download = client.get(f"{path}/documents/{doc['id']}")
    assert download.status_code == 200 and download.content == PDF


def test_a_program_renamed_pdf_and_an_oversize_file_are_refused_with_a_reason(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox, documents_root: Path
) -> None:
    account = make_account()
    path = invite(store, config, account, mailbox)
    renamed = submit(client, path, "signed_dpa", files={"document": ("contract.pdf", EXE, "application/pdf")})
    reason = item_row(store, account, "signed_dpa")["rejection_reason"]
    assert "contract.pdf" in reason and "PDF" in reason
    assert "Not accepted" in renamed.text or "not accepted" in renamed.text
    big = b"%PDF-1.7\n" + b"0" * (21 * 1024 * 1024)
    submit(client, path, "signed_dpa", files={"document": ("big.pdf", big, "application/pdf")})
    row = item_row(store, account, "signed_dpa")
    assert row["status"] == "rejected" and "over the 20 MB limit" in row["rejection_reason"]
    assert store.scalar("SELECT count(*) FROM onboarding.documents") == 0
    assert not [p for p in documents_root.rglob("*") if p.is_file()]  # refused files are not kept


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    account = make_account()
    path = invite(store, config, account, mailbox)
    client.get(path)  # the browser has its cookie
    missing = client.post(f"{path}/items/company_domain", data={"value": "example.org"})
    wrong = client.post(f"{path}/items/company_domain", data={"value": "example.org", "csrf_token": "0" * 64})
    client.cookies.clear()
    no_cookie = client.post(f"{path}/items/company_domain", data={"value": "example.org", "csrf_token": "0" * 64})
    assert [r.status_code for r in (missing, wrong, no_cookie)] == [403, 403, 403]
    assert store.scalar("SELECT count(*) FROM onboarding.submissions") == 0
    forward = client.post(f"{path}/forward", data={"name": "X", "email": "x@example.org", "items": ["company_domain"]})
    assert forward.status_code == 403
    assert store.scalar("SELECT count(*) FROM onboarding.portal_forwards") == 0


def test_markup_in_names_renders_as_text(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    script = "<script>alert(1)</script>"
    account = make_account(primary_contact_name=script, company_name=f"Acme {script}")
    path = invite(store, config, account, mailbox)
    page = client.get(path)
    forwarded = client.post(
        f"{path}/forward",
        data={"csrf_token": csrf(page.text), "name": script, "email": "it@acme.example", "items": ["company_domain"]},
        follow_redirects=True,
    )
    for text in (page.text, forwarded.text, client.get(f"{path}/timeline").text):
        assert script not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get(f"{path}/timeline").text


def test_an_item_not_on_the_accounts_checklist_is_refused(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    account = make_account()
    path = invite(store, config, account, mailbox)
    us_tax = submit(client, path, "billing_tax_id_us", value="12-3456789")  # a tier item, not planned for EMEA
    unknown = submit(client, path, "no_such_item", value="x")
    assert us_tax.status_code == 404 and unknown.status_code == 404
    assert store.scalar("SELECT count(*) FROM onboarding.submissions") == 0


def test_two_submissions_of_one_item_at_once_each_get_a_verdict_and_the_item_one_state(
    live_portal: str, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    account = make_account()
    mail.queue_invitation(store, config, account.key, _now(), secret=SECRET)
    mail.deliver_pending(store, config, _now())
    link = next(u for u in mailbox.wait_for(account.contact).links if "/l/" in u)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def send(value: str) -> None:
        with httpx.Client() as http:
            page = http.get(link)
            barrier.wait()
            response = http.post(f"{link}/items/billing_tax_id", data={"csrf_token": csrf(page.text), "value": value})
            statuses.append(response.status_code)

    threads = [threading.Thread(target=send, args=(v,)) for v in (VALID_VAT, "GB999")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [303, 303]
    verdicts = store.query(
        "SELECT verdict FROM onboarding.submissions WHERE onboarding_id = %s AND item_key = 'billing_tax_id'",
        (account.id,),
    )
    assert len(verdicts) == 2 and all(v["verdict"] in ("verified", "rejected", "ignored") for v in verdicts)
    assert "verified" in {v["verdict"] for v in verdicts}
    row = item_row(store, account, "billing_tax_id")
    assert row["status"] == "verified" and row["value"] == VALID_VAT and row["rejection_reason"] is None


def test_repeated_bad_tokens_are_rate_limited(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    account = make_account()
    path = invite(store, config, account, mailbox)
    limit = config.settings.portal.bad_tokens_per_window
    answers = [client.get(f"/l/forged{n}.token").status_code for n in range(limit)]
    assert answers == [403] * limit
    assert client.get("/l/forged-again.token").status_code == 429
    assert client.get(path).status_code == 429  # even a good link, until the window passes


def test_expired_forged_revoked_and_rotated_links_open_nothing(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox, portal_app: Any
) -> None:
    account = make_account()
    path = invite(store, config, account, mailbox)
    token = path.rsplit("/", 1)[1]
    past = _now() - timedelta(days=30)
    expired = links.sign(SECRET, account.key, account.contact, links.CHECKLIST, past, past + timedelta(days=14))
    page = client.get(f"/l/{expired}")
    assert page.status_code == 410 and "expired" in page.text and "lukas.berger@example.com" in page.text
    assert account.name not in page.text and "VAT" not in page.text
    body, signature = token.split(".")
    forged = client.get(f"/l/{body}.{signature[::-1]}")
    assert forged.status_code == 403 and "lukas.berger" not in forged.text and "onboarding@example.com" in forged.text
    other_secret = b"another-secret-" * 4
    later = _now() + timedelta(days=5)
    rotated = links.sign(other_secret, account.key, account.contact, links.CHECKLIST, _now(), later)
    assert client.get(f"/l/{rotated}").status_code == 403
    assert client.get(path).status_code == 200
    links.revoke_contact(store, account.key, account.contact, _now(), "lukas.berger@example.com", "left the company")
    revoked = client.get(path)
    assert revoked.status_code == 403 and "no longer works" in revoked.text and account.name not in revoked.text


def test_a_valid_link_shows_nothing_of_another_account(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    mine, theirs = make_account(), make_account()
    my_path = invite(store, config, mine, mailbox)
    their_path = invite(store, config, theirs, mailbox)
    submit(client, their_path, "signed_dpa", files={"document": ("dpa.pdf", PDF, "application/pdf")})
    their_doc = store.scalar("SELECT id FROM onboarding.documents WHERE onboarding_id = %s", (theirs.id,))
    assert client.get(f"{their_path}/documents/{their_doc}").status_code == 200
    assert client.get(f"{my_path}/documents/{their_doc}").status_code == 404
    for page in (client.get(my_path).text, client.get(f"{my_path}/timeline").text):
        assert mine.name in page and theirs.name not in page and theirs.contact not in page
    submit(client, my_path, "company_domain", value="mine.example")
    assert item_row(store, theirs, "company_domain")["status"] == "missing"


def test_forwarded_items_reach_a_colleague_with_a_link_to_those_items_only(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    account = make_account()
    path = invite(store, config, account, mailbox)
    page = client.get(path)
    response = client.post(
        f"{path}/forward",
        data={"csrf_token": csrf(page.text), "name": "Ola Nordmann", "email": "ola@northwind.example",
              "items": ["billing_tax_id"]},
        follow_redirects=True,
    )  # fmt: skip
    assert response.status_code == 200 and "Forwarded" in response.text
    message = mailbox.wait_for("ola@northwind.example", "asked you")
    colleague = urlsplit(next(u for u in message.links if "/l/" in u)).path
    their_page = client.get(colleague)
    assert "VAT number" in their_page.text and "Signed data processing agreement" not in their_page.text
    assert submit(client, colleague, "signed_dpa", value="x").status_code == 404
    submit(client, colleague, "billing_tax_id", value=VALID_VAT)
    assert item_row(store, account, "billing_tax_id")["status"] == "verified"
    forward = store.query("SELECT * FROM onboarding.portal_forwards WHERE onboarding_id = %s", (account.id,))[0]
    assert forward["to_email"] == "ola@northwind.example" and forward["items"] == ["billing_tax_id"]
    kinds = [e["event_type"] for e in store.events_for(account.key)]
    assert "portal.forwarded" in kinds
    verified = [e for e in store.events_for(account.key) if e["event_type"] == "input.verified"]
    assert verified[0]["actor"] == "customer:ola@northwind.example"


def test_the_timeline_shows_the_customers_part_of_the_audit_trail_only(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    from include.onboarding import lifecycle

    account = make_account()
    path = invite(store, config, account, mailbox)
    submit(client, path, "billing_tax_id", value="GB123")
    lifecycle.record(
        store, account.key, "escalation.raised", _now(), "system:escalations",
        {"reason": "INTERNAL-ONLY escalation note"}, dedupe="t:escalation",
    )  # fmt: skip
    lifecycle.record(
        store, account.key, "approval.rejected", _now(), "rachel.kim@example.com",
        {"comment": "INTERNAL-ONLY approval comment"}, dedupe="t:approval",
    )  # fmt: skip
    page = client.get(f"{path}/timeline").text
    assert "VAT number: not accepted" in page
    assert "Invitation to this page sent to" in page
    assert "Milestone: Collecting your information" in page
    assert "INTERNAL-ONLY" not in page and "rachel.kim" not in page and "escalation" not in page.lower()


def test_mail_waits_while_the_server_is_down_and_goes_when_it_is_back(
    store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox, monkeypatch: Any
) -> None:
    from sandbox.mail import free_port

    account = make_account()
    down = MailSandbox(smtp_port=free_port())  # never started: nothing listens on its port
    monkeypatch.setenv("AIRFLOW_CONN_CUSTOMER_MAIL", down.connection_uri())
    mail.queue_invitation(store, config, account.key, _now(), secret=SECRET)
    mail.queue_go_live(store, config, account.key, _now())
    first = mail.deliver_pending(store, config, _now())
    assert first.sent == 0 and first.deferred == 2 and first.errors
    pending = store.query("SELECT status, attempts, last_error FROM onboarding.outbox ORDER BY id")
    assert [p["status"] for p in pending] == ["pending", "pending"] and all(p["last_error"] for p in pending)
    assert [e["event_type"] for e in store.events_for(account.key)].count("mail.deferred") == 2
    monkeypatch.setenv("AIRFLOW_CONN_CUSTOMER_MAIL", mailbox.connection_uri())
    second = mail.deliver_pending(store, config, _now())
    assert second.sent == 2 and second.deferred == 0
    assert mailbox.wait_for(account.contact, "is live").subject.endswith("is live")
    assert mail.queue_go_live(store, config, account.key, _now()) is None  # once
    assert store.scalar("SELECT count(*) FROM onboarding.outbox WHERE status = 'sent'") == 2


def test_reminder_and_rejection_notices_carry_a_fresh_link_and_the_reason(
    client: Any, store: Store, config: OnboardingConfig, make_account: Any, mailbox: MailSandbox
) -> None:
    account = make_account()
    mail.queue_reminder(store, config, account.key, _now(), reminder=1, secret=SECRET)
    mail.queue_rejection(
        store, config, account.key, "billing_tax_id", "GB123 is too short.", "sub-1", _now(), secret=SECRET
    )
    assert mail.deliver_pending(store, config, _now()).sent == 2
    reminder = mailbox.wait_for(account.contact, "still open")
    assert "VAT number" in reminder.text
    notice = mailbox.wait_for(account.contact, "please check")
    assert "GB123 is too short." in notice.text
    assert client.get(urlsplit(next(u for u in notice.links if "/l/" in u)).path).status_code == 200
