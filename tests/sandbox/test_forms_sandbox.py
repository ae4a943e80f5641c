"""The customer portal sandbox over real HTTP: checklists, simulated customers, paging."""

from __future__ import annotations

import base64
import random
import re
import xml.etree.ElementTree as ElementTree
from typing import Any

import pytest
import requests

from sandbox.form_values import ein, is_valid_ein, is_valid_vat, vat_number
from tests.sandbox.conftest import Vendor

AUTH = {"Authorization": "Bearer portal-token"}
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
ITEMS: list[dict[str, Any]] = [
    {"key": "billing_email", "label": "Billing e-mail", "type": "email", "critical": True},
    {"key": "company_domain", "label": "E-mail domain", "type": "domain", "critical": True},
    {"key": "website", "label": "Website", "type": "url"},
    {"key": "vat_number", "label": "VAT number", "type": "vat_id", "critical": True},
    {"key": "ein", "label": "US EIN", "type": "tax_id"},
    {"key": "idp_metadata", "label": "SAML metadata", "type": "saml_metadata", "help": "From your IdP"},
    {
        "key": "signed_dpa",
        "label": "Signed DPA",
        "type": "document",
        "critical": True,
        "document": {"content_types": ["application/pdf"], "max_mb": 20},
    },
    {"key": "data_region", "label": "Data region", "type": "choice", "choices": ["eu", "us"]},
    {"key": "it_contact_name", "label": "IT contact", "type": "text"},
    {"key": "go_live", "label": "Preferred go-live", "type": "date"},
]
VALIDATED = {"billing_email", "company_domain", "website", "vat_number", "ein", "idp_metadata", "signed_dpa"}


def checklist(ref: str = "hubspot-18000000001", **extra: Any) -> dict[str, Any]:
    return {
        "external_ref": ref,
        "recipient": {"email": "jane.doe@acme-robotics.co.uk", "name": "Jane Doe"},
        "account_name": "Acme Robotics",
        "due_date": "2026-12-01",
        "items": ITEMS,
        **extra,
    }


def send(vendor: Vendor, body: dict[str, Any], key: str | None = None) -> requests.Response:
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    return vendor.call("POST", "/api/v1/requests", json=body, headers=headers)


def open_request(vendor: Vendor, ref: str = "hubspot-18000000001") -> str:
    response = send(vendor, checklist(ref))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def submissions(vendor: Vendor, request_id: str, **params: Any) -> dict[str, Any]:
    response = vendor.call("GET", f"/api/v1/requests/{request_id}/submissions", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def latest(vendor: Vendor, request_id: str) -> dict[str, dict[str, Any]]:
    """The last submission per item."""
    return {s["item_key"]: s for s in submissions(vendor, request_id, limit=100)["data"]}


def rerequest(vendor: Vendor, request_id: str, key: str, reason: str = "Please check") -> requests.Response:
    path = f"/api/v1/requests/{request_id}/items/{key}/rerequest"
    return vendor.call("POST", path, json={"reason": reason}, headers=AUTH)


def assert_valid(item_key: str, sub: dict[str, Any]) -> None:  # noqa: C901
    """What a strict validator would accept, per item type."""
    value, document = sub["value"], sub["document"]
    if item_key == "billing_email":
        assert value == "accounts.payable@acme-robotics.co.uk"
    elif item_key == "company_domain":
        assert value == "acme-robotics.co.uk"
    elif item_key == "website":
        assert value.startswith("https://") and value.endswith("acme-robotics.co.uk")
    elif item_key == "vat_number":
        assert value.startswith("GB") and is_valid_vat(value)
    elif item_key == "ein":
        assert is_valid_ein(value)
    elif item_key == "idp_metadata":
        root = ElementTree.fromstring(value)
        assert root.tag == f"{MD}EntityDescriptor"
        idp = root.find(f"{MD}IDPSSODescriptor")
        assert idp is not None
        locations = [s.get("Location") or "" for s in idp.findall(f"{MD}SingleSignOnService")]
        assert locations and all(loc.startswith("https://") for loc in locations)
        certificate = idp.find(f".//{DS}X509Certificate")
        assert certificate is not None and base64.b64decode(certificate.text or "", validate=True)[:1] == b"\x30"
    elif item_key == "signed_dpa":
        assert value is None and document["content_type"] == "application/pdf"
        assert document["filename"].endswith(".pdf") and 0 < document["size_bytes"] <= 20 * 1024 * 1024
        assert re.fullmatch(r"[0-9a-f]{64}", document["sha256"])
    elif item_key == "data_region":
        assert value in ("eu", "us")
    elif item_key == "it_contact_name":
        assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", value)
    elif item_key == "go_live":
        assert value > "2026-12-01"


# -- requests -------------------------------------------------------------------------------------------


def test_create_and_read_a_checklist(vendor: Vendor) -> None:
    vendor.state.forms.set_behaviour("silent")
    response = send(vendor, checklist())
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("req_") and body["status"] == "open"
    assert body["url"].startswith("https://portal.example.com/r/")
    assert body["created_at"] == "2026-10-01T09:00:00.000Z"
    items = {item["key"]: item for item in body["items"]}
    assert items["website"]["critical"] is False and items["website"]["status"] == "pending"
    assert items["data_region"]["choices"] == ["eu", "us"]
    assert items["signed_dpa"]["document"] == {"content_types": ["application/pdf"], "max_mb": 20}
    assert vendor.call("GET", f"/api/v1/requests/{body['id']}", headers=AUTH).json() == body
    listed = vendor.call("GET", "/api/v1/requests", params={"external_ref": "hubspot-18000000001"}, headers=AUTH)
    assert [r["id"] for r in listed.json()["data"]] == [body["id"]]
    missing = vendor.call("GET", "/api/v1/requests/req_nope", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_request_validation(vendor: Vendor) -> None:
    def refused(body: dict[str, Any]) -> str:
        response = send(vendor, body)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "validation_error"
        return str(response.json()["message"])

    assert refused(checklist(items=[])).startswith("items:")
    assert refused(checklist(items=[{**ITEMS[0], "type": "phone"}])).startswith("items[0].type:")
    assert refused(checklist(items=[ITEMS[0], ITEMS[0]])) == "items: item keys must be unique."
    assert refused(checklist(items=[{"key": "region", "label": "Region", "type": "choice"}])).startswith(
        "items[0].choices"
    )
    assert refused(checklist(recipient={"email": "jane.doe@"})).startswith("recipient.email")
    assert refused(checklist(due_date="01/12/2026")).startswith("due_date")
    assert refused(checklist(priority="high")) == "priority: unknown field."
    assert vendor.state.ledger()["forms"]["requests"] == []


def test_idempotent_create_and_key_reuse(vendor: Vendor) -> None:
    first = send(vendor, checklist(), key="checklist-hubspot-18000000001")
    again = send(vendor, checklist(), key="checklist-hubspot-18000000001")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    reused = send(vendor, checklist(account_name="Acme"), key="checklist-hubspot-18000000001")
    assert reused.status_code == 409 and reused.json()["error"] == "idempotency_key_reused"
    assert send(vendor, checklist()).json()["id"] != first.json()["id"]  # no key: a duplicate request
    ledger = vendor.state.ledger()["forms"]["requests"]
    assert [r["idempotency_key"] for r in ledger] == ["checklist-hubspot-18000000001", None]


# -- simulated customers -------------------------------------------------------------------------------------


def test_prompt_customer_answers_every_item_validly(vendor: Vendor) -> None:
    request_id = open_request(vendor)
    answers = latest(vendor, request_id)
    assert set(answers) == {item["key"] for item in ITEMS}
    for key, sub in answers.items():
        assert_valid(key, sub)
        assert sub["submitted_by"] == "jane.doe@acme-robotics.co.uk"
        assert sub["submitted_at"] == "2026-10-01T09:00:00.000Z"
    read = vendor.call("GET", f"/api/v1/requests/{request_id}", headers=AUTH).json()
    assert read["status"] == "completed"
    assert all(item["status"] == "submitted" for item in read["items"])
    ledger = vendor.state.ledger()["forms"]
    assert ledger["requests"][0]["behaviour"] == "prompt"
    assert ledger["requests"][0]["items"] == [item["key"] for item in ITEMS]
    assert len(ledger["submissions"]) == len(ITEMS)


def test_invalid_then_correct(vendor: Vendor) -> None:
    vendor.admin("POST", "/forms/behaviour", {"external_ref": "hubspot-7", "behaviour": "invalid_then_correct"})
    request_id = open_request(vendor, "hubspot-7")
    first = latest(vendor, request_id)
    assert first["billing_email"]["value"].endswith("@") and "@" in first["billing_email"]["value"]
    assert first["company_domain"]["value"] == "not a domain"
    assert first["website"]["value"] == "http://"
    assert first["vat_number"]["value"] == "GB123"
    assert not is_valid_ein(first["ein"]["value"])
    assert first["idp_metadata"]["value"] == "<xml>broken"
    dpa = first["signed_dpa"]["document"]
    assert (dpa["content_type"], dpa["filename"]) == ("application/x-msdownload", "setup.exe") or (
        dpa["content_type"] == "application/pdf" and dpa["size_bytes"] == 300 * 1024 * 1024
    )
    for key in ("data_region", "it_contact_name", "go_live"):
        assert_valid(key, first[key])
    answered = rerequest(vendor, request_id, "vat_number", "GB123 fails the checksum; please check it")
    assert answered.status_code == 200
    record = answered.json()
    assert record["id"].startswith("rrq_") and record["item_key"] == "vat_number"
    assert record["reason"] == "GB123 fails the checksum; please check it"
    second = latest(vendor, request_id)
    assert_valid("vat_number", second["vat_number"])
    assert second["company_domain"]["value"] == "not a domain"  # not re-requested: unchanged
    statuses = {
        i["key"]: i["status"]
        for i in vendor.call("GET", f"/api/v1/requests/{request_id}", headers=AUTH).json()["items"]
    }
    assert statuses["vat_number"] == "submitted"
    ledger = vendor.state.ledger()["forms"]
    assert [(r["external_ref"], r["item_key"]) for r in ledger["rerequests"]] == [("hubspot-7", "vat_number")]
    assert [s["item_key"] for s in ledger["submissions"]].count("vat_number") == 2


def test_slow_customer_answers_after_slow_seconds(vendor: Vendor) -> None:
    vendor.admin("POST", "/forms/behaviour", {"default": "slow"})
    request_id = open_request(vendor)
    vendor.clock.advance(4.9)
    assert submissions(vendor, request_id) == {"data": [], "next_cursor": None}
    vendor.clock.advance(0.1)
    answers = submissions(vendor, request_id, limit=100)["data"]
    assert len(answers) == len(ITEMS)
    assert {s["submitted_at"] for s in answers} == {"2026-10-01T09:00:05.000Z"}
    rerequest(vendor, request_id, "website")
    vendor.clock.advance(3)
    assert len(submissions(vendor, request_id, item_key="website")["data"]) == 1
    vendor.clock.advance(2)
    again = submissions(vendor, request_id, item_key="website")["data"]
    assert [s["submitted_at"] for s in again] == ["2026-10-01T09:00:05.000Z", "2026-10-01T09:00:10.000Z"]


def test_silent_and_partial_customers(vendor: Vendor) -> None:
    vendor.state.forms.set_behaviour("silent", external_ref="quiet")
    vendor.state.forms.set_behaviour("partial", external_ref="half")
    quiet, half = open_request(vendor, "quiet"), open_request(vendor, "half")
    vendor.clock.advance(86_400)
    assert rerequest(vendor, quiet, "vat_number").status_code == 200
    assert submissions(vendor, quiet)["data"] == []
    critical = {item["key"] for item in ITEMS if item.get("critical")}
    assert set(latest(vendor, half)) == {item["key"] for item in ITEMS} - critical
    rerequest(vendor, half, "signed_dpa")
    rerequest(vendor, half, "website")
    answered = latest(vendor, half)
    assert "signed_dpa" not in answered
    assert [s["item_key"] for s in submissions(vendor, half, item_key="website")["data"]] == ["website", "website"]
    read = vendor.call("GET", f"/api/v1/requests/{half}", headers=AUTH).json()
    statuses = {i["key"]: i["status"] for i in read["items"]}
    assert read["status"] == "open"
    assert (statuses["signed_dpa"], statuses["website"], statuses["vat_number"]) == (
        "rerequested",
        "submitted",
        "pending",
    )
    behaviours = {r["external_ref"]: r["behaviour"] for r in vendor.state.ledger()["forms"]["requests"]}
    assert behaviours == {"quiet": "silent", "half": "partial"}


def test_behaviour_is_fixed_when_the_request_is_created(vendor: Vendor) -> None:
    first = open_request(vendor, "r-1")
    assert vendor.admin("POST", "/forms/behaviour", {"default": "silent"}) == {
        "default": "silent",
        "by_external_ref": {},
    }
    second = open_request(vendor, "r-1")
    assert len(latest(vendor, first)) == len(ITEMS) and latest(vendor, second) == {}
    bad = vendor.call("POST", "/_sandbox/forms/behaviour", json={"default": "eager"})
    assert bad.status_code == 400
    vendor.state.reset()
    assert vendor.state.forms.behaviours() == {"default": "prompt", "by_external_ref": {}}


# -- submissions -----------------------------------------------------------------------------------------------


def test_submissions_page_by_cursor_in_submission_order(vendor: Vendor) -> None:
    vendor.state.forms.set_behaviour("silent")
    request_id = open_request(vendor)
    for n in range(5):
        vendor.clock.advance(60)
        vendor.admin(
            "POST", f"/forms/requests/{request_id}/submit", {"item_key": "website", "value": f"https://v{n}.io"}
        )
    vendor.state.forms.submit(request_id, "billing_email", value="ap@acme-robotics.co.uk")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = submissions(vendor, request_id, limit=2, **({"after": cursor} if cursor else {}))
        seen += [s["value"] for s in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"https://v{n}.io" for n in range(5)] + ["ap@acme-robotics.co.uk"]
    websites = submissions(vendor, request_id, item_key="website", limit=100)["data"]
    assert len(websites) == 5
    newer = submissions(vendor, request_id, after=websites[-1]["id"])  # poll: what came since the last one seen
    assert [s["item_key"] for s in newer["data"]] == ["billing_email"] and newer["next_cursor"] is None
    for params in ({"after": "sub_unknown"}, {"limit": 0}, {"limit": 101}, {"item_key": "nope"}):
        bad = vendor.call("GET", f"/api/v1/requests/{request_id}/submissions", params=params, headers=AUTH)
        assert bad.status_code == 400 and bad.json()["error"] == "validation_error", params


def test_a_test_submits_exactly_what_it_wants(vendor: Vendor) -> None:
    vendor.state.forms.set_behaviour("silent")
    request_id = open_request(vendor)
    doc = {"filename": "dpa-signed.pdf", "content_type": "application/pdf", "size_bytes": 245_000}
    made = vendor.admin("POST", f"/forms/requests/{request_id}/submit", {"item_key": "signed_dpa", "document": doc})
    assert made["document"]["filename"] == "dpa-signed.pdf" and len(made["document"]["sha256"]) == 64
    assert made["value"] is None and made["submitted_by"] == "jane.doe@acme-robotics.co.uk"
    assert latest(vendor, request_id)["signed_dpa"]["id"] == made["id"]
    missing = vendor.call(
        "POST", f"/_sandbox/forms/requests/{request_id}/submit", json={"item_key": "nope", "value": "x"}
    )
    assert missing.status_code == 404
    with pytest.raises(ValueError):
        vendor.state.forms.submit(request_id, "website")
    for item in ITEMS:
        if item["key"] != "signed_dpa":
            vendor.state.forms.submit(request_id, item["key"], value="anything")
    assert vendor.call("GET", f"/api/v1/requests/{request_id}", headers=AUTH).json()["status"] == "completed"


def test_rerequest_needs_a_reason_and_an_item(vendor: Vendor) -> None:
    request_id = open_request(vendor)
    assert rerequest(vendor, request_id, "vat_number", " ").status_code == 400
    assert rerequest(vendor, request_id, "nope").status_code == 404
    assert rerequest(vendor, "req_nope", "vat_number").status_code == 404
    assert vendor.state.ledger()["forms"]["rerequests"] == []


# -- messages, auth, faults ---------------------------------------------------------------------------------------


def test_messages_are_idempotent(vendor: Vendor) -> None:
    body = {
        "external_ref": "hubspot-18000000001",
        "to": "jane.doe@acme-robotics.co.uk",
        "subject": "You are live",
        "body": "Your workspace is ready.",
    }
    headers = {**AUTH, "Idempotency-Key": "golive-hubspot-18000000001"}
    first = vendor.call("POST", "/api/v1/messages", json=body, headers=headers)
    assert first.status_code == 201 and first.json()["id"].startswith("msg_")
    again = vendor.call("POST", "/api/v1/messages", json=body, headers=headers)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = vendor.call("POST", "/api/v1/messages", json={**body, "subject": "Live!"}, headers=headers)
    assert other.status_code == 409
    bad = vendor.call("POST", "/api/v1/messages", json={**body, "to": "jane"}, headers=AUTH)
    assert bad.status_code == 400
    messages = vendor.state.ledger()["forms"]["messages"]
    assert messages == [
        {
            "id": first.json()["id"],
            "external_ref": "hubspot-18000000001",
            "to": "jane.doe@acme-robotics.co.uk",
            "subject": "You are live",
            "idempotency_key": "golive-hubspot-18000000001",
        }
    ]
    listed = vendor.call("GET", "/api/v1/messages", params={"external_ref": "hubspot-18000000001"}, headers=AUTH)
    assert [m["id"] for m in listed.json()["data"]] == [first.json()["id"]]


def test_auth_and_faults(vendor: Vendor) -> None:
    unauthenticated = vendor.call("GET", "/api/v1/requests")
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"] == "unauthorized"
    vendor.admin("POST", "/faults", {"system": "forms", "rate_limit": 1, "retry_after": 4})
    limited = send(vendor, checklist(), key="k-1")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "4"
    assert limited.json()["error"] == "rate_limited"
    assert send(vendor, checklist(), key="k-1").status_code == 201
    assert len(vendor.state.ledger()["forms"]["requests"]) == 1


# -- generated values --------------------------------------------------------------------------------------------


def test_vat_and_ein_generators_pass_their_checksums() -> None:
    assert is_valid_vat("GB980780684") and not is_valid_vat("GB980780685")
    assert is_valid_vat("DE136695976") and is_valid_vat("FR40303265045") and is_valid_vat("NL004495445B01")
    assert not is_valid_vat("GB123")
    rng = random.Random(3)
    for country in ("GB", "DE", "FR", "NL"):
        for _ in range(50):
            number = vat_number(country, rng)
            assert number.startswith(country) and is_valid_vat(number), number
    assert all(is_valid_ein(ein(rng)) for _ in range(50))
    assert not is_valid_ein("07-1234567") and not is_valid_ein("12-345")
