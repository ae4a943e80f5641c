"""The Slack incoming-webhook sandbox over real HTTP, and the ledger across all systems."""

from __future__ import annotations

import json

import pytest
import requests

from tests.sandbox.conftest import Vendor

HOOK = "T0001/B0001/abcdefghijklmnopqrstuvwx"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Acme Robotics* is live"}}]


def post(vendor: Vendor, body: object, hook: str = HOOK) -> requests.Response:
    return vendor.call("POST", f"/services/{hook}", json=body)


def assert_text(response: requests.Response, status: int, body: str) -> None:
    assert (response.status_code, response.text) == (status, body)
    assert response.headers["content-type"].startswith("text/plain")


def test_messages_are_accepted_and_kept(vendor: Vendor) -> None:
    assert_text(post(vendor, {"text": "Acme Robotics is live"}), 200, "ok")
    assert_text(post(vendor, {"blocks": BLOCKS}, hook="T0001/B0002/zzzzzzzzzzzzzzzzzzzzzzzz"), 200, "ok")
    form = vendor.call("POST", f"/services/{HOOK}", data={"payload": json.dumps({"text": "legacy form"})})
    assert_text(form, 200, "ok")
    mine = vendor.admin("GET", f"/slack/messages?webhook={HOOK}")
    assert [m["text"] for m in mine] == ["Acme Robotics is live", "legacy form"]
    assert mine[0]["received_at"] == "2026-10-01T09:00:00.000Z"
    assert vendor.state.slack.messages("T0001/B0002/zzzzzzzzzzzzzzzzzzzzzzzz")[0]["blocks"] == BLOCKS
    assert vendor.state.ledger()["slack"]["messages"] == [
        {"webhook": HOOK, "text": "Acme Robotics is live", "blocks": 0},
        {"webhook": "T0001/B0002/zzzzzzzzzzzzzzzzzzzzzzzz", "text": None, "blocks": 1},
        {"webhook": HOOK, "text": "legacy form", "blocks": 0},
    ]


def test_payload_errors_are_slack_codes(vendor: Vendor) -> None:
    assert_text(post(vendor, {"username": "bot"}), 400, "missing_text_or_fallback_or_attachments")
    assert_text(post(vendor, {"text": ""}), 400, "missing_text_or_fallback_or_attachments")
    assert_text(vendor.call("POST", f"/services/{HOOK}", data=b"{not json"), 400, "invalid_payload")
    assert_text(post(vendor, ["text"]), 400, "invalid_payload")
    assert_text(post(vendor, {"blocks": [{"text": "no type"}]}), 400, "invalid_blocks")
    assert_text(post(vendor, {"blocks": "section"}), 400, "invalid_blocks")
    assert_text(post(vendor, {"text": "x"}, hook="T0001/B0001"), 404, "no_service")
    assert vendor.state.slack.messages() == []


def test_a_revoked_webhook_answers_no_service(vendor: Vendor) -> None:
    assert vendor.admin("POST", "/slack/webhooks", {"webhook": HOOK, "enabled": False}) == {"disabled": [HOOK]}
    assert_text(post(vendor, {"text": "hello"}), 404, "no_service")
    assert_text(post(vendor, {"text": "hello"}, hook="T0001/B0001/other"), 200, "ok")
    vendor.state.slack.set_enabled(HOOK, True)
    assert_text(post(vendor, {"text": "hello again"}), 200, "ok")
    assert [m["webhook"] for m in vendor.state.slack.messages()] == ["T0001/B0001/other", HOOK]


def test_rate_limits_through_the_fault_layer(vendor: Vendor) -> None:
    vendor.admin("POST", "/faults", {"system": "slack", "rate_limit": 1, "retry_after": 30, "server_error": 1})
    limited = post(vendor, {"text": "hello"})
    assert_text(limited, 429, "rate_limited")
    assert limited.headers["Retry-After"] == "30"
    assert_text(post(vendor, {"text": "hello"}), 500, "rollup_error")
    assert_text(post(vendor, {"text": "hello"}), 200, "ok")
    assert [r["status"] for r in vendor.admin("GET", "/requests?system=slack")] == [429, 500, 200]
    assert len(vendor.state.slack.messages()) == 1


def test_ledger_covers_every_system_and_reset_empties_it(vendor: Vendor) -> None:
    post(vendor, {"text": "hello"})
    vendor.call(
        "POST",
        "/rest/api/3/issue",
        json={"fields": {"project": {"key": "ONB"}, "summary": "Kick-off", "issuetype": {"name": "Task"}}},
        headers={"Authorization": "Bearer t"},
    )
    over_http = vendor.admin("GET", "/ledger")
    assert over_http == vendor.state.ledger()
    assert set(over_http) == {"crm", "ticketing", "billing", "provisioning", "slack"}
    assert len(over_http["slack"]["messages"]) == 1 and len(over_http["ticketing"]["issues"]) == 1
    vendor.admin("POST", "/reset", {})
    emptied = vendor.state.ledger()
    assert emptied["slack"]["messages"] == [] and emptied["ticketing"]["issues"] == []
    assert emptied["billing"] == {"customers": []}


def _header(chars: int) -> dict[str, object]:
    return {"type": "header", "text": {"type": "plain_text", "text": "h" * chars}}


def _section(chars: int) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": "s" * chars}}


def _fields(count: int, chars: int) -> dict[str, object]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * chars} for _ in range(count)]}


def _button(chars: int) -> dict[str, object]:
    button = {"type": "button", "text": {"type": "plain_text", "text": "b" * chars}, "url": "https://example.com"}
    return {"type": "actions", "elements": [button]}


LIMITS = {
    "header text 150": ([_header(150)], [_header(151)]),
    "section text 3000": ([_section(3000)], [_section(3001)]),
    "field text 2000": ([_fields(1, 2000)], [_fields(1, 2001)]),
    "10 fields": ([_fields(10, 5)], [_fields(11, 5)]),
    "button text 75": ([_button(75)], [_button(76)]),
    "50 blocks": ([_section(10)] * 50, [_section(10)] * 51),
}


@pytest.mark.parametrize("limit", list(LIMITS))
def test_block_kit_limits_are_enforced_as_slack_does(vendor: Vendor, limit: str) -> None:
    at_limit, over_limit = LIMITS[limit]
    assert_text(post(vendor, {"text": "fallback", "blocks": at_limit}), 200, "ok")
    assert_text(post(vendor, {"text": "fallback", "blocks": over_limit}), 400, "invalid_blocks")
    # One bad block refuses the whole message, whatever else it carries.
    assert_text(post(vendor, {"text": "fallback", "blocks": [_section(10), *over_limit]}), 400, "invalid_blocks")
    assert [m["blocks"] for m in vendor.state.slack.messages()] == [at_limit]


def test_blocks_without_what_slack_requires_are_refused(vendor: Vendor) -> None:
    for bad in (
        {"type": "section"},
        _section(0),
        {"type": "header", "text": {"type": "mrkdwn", "text": "headers are plain text"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 3001}]},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "mrkdwn", "text": "Open"}}]},
    ):
        assert_text(post(vendor, {"text": "fallback", "blocks": [bad]}), 400, "invalid_blocks")
    assert vendor.state.slack.messages() == []


def test_a_long_fallback_text_is_kept_to_its_first_40000_characters(vendor: Vendor) -> None:
    assert_text(post(vendor, {"text": "t" * 50_000, "blocks": BLOCKS}), 200, "ok")
    (message,) = vendor.state.slack.messages()
    assert message["text"] == "t" * 40_000
