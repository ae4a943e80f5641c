"""Slack's Block Kit limits, against the sandbox's incoming webhooks (which refuse
what real Slack refuses with ``400 invalid_blocks``) and a real PostgreSQL.

A CRM takes a 20,000-character company name verbatim; every notice about such
an account must still reach Slack, cut to Slack's limits with an ellipsis, while
the store keeps every word.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from include.onboarding import blockkit, escalations, golive, lifecycle, notify, state
from include.onboarding.config import OnboardingConfig, Stage, load_config
from include.onboarding.store import Store
from tests.factories import move_to
from tests.test_escalations import SIGNED, _account, _at

NAME = "Kestrel Analytics " + "x" * (20_000 - len("Kestrel Analytics  GmbH")) + " GmbH"
assert len(NAME) == 20_000

ELLIPSIS = "…"


@pytest.fixture
def config() -> OnboardingConfig:
    return load_config()


def _utc(at: datetime) -> datetime:
    return at.astimezone(timezone.utc)


def assert_within_slack_limits(blocks: list[dict[str, Any]]) -> None:
    """Each of Slack's published limits, checked here as well as by the sandbox that took the message."""
    assert 0 < len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        elif block["type"] == "context":
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
        elif block["type"] == "actions":
            assert all(len(e["text"]["text"]) <= 75 for e in block["elements"])


def _only_message(sandbox: Any) -> dict[str, Any]:
    (message,) = sandbox.state.slack.messages()
    assert_within_slack_limits(message["blocks"])
    return message


def _sections(message: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b]


# --------------------------------------------------------------------------- whole notices


def test_a_failure_notice_about_a_20000_character_name_is_delivered_and_the_store_keeps_it_whole(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config, company_name=NAME)
    assert store.scalar("SELECT account_name FROM onboarding.onboardings") == NAME  # taken verbatim
    move_to(store, config, key, Stage.SETUP, _at(17, 10), "test", "ready")
    blocked = "; ".join(f"approval 'review_{i}' (Security review {i}) is rejected" for i in range(200))
    state.set_blocked(store, key, blocked, _at(17, 11))
    error = "setup step 'billing' failed: 422 " + '{"error": "' + "tax id refused " * 800 + '"}'
    now = _utc(_at(18, 10))

    # As the failure callback does it: raise the escalation, post it at once.
    ids = escalations.account_escalation(
        store, config, key, kind="failure", reason=error, dedupe_key=f"failure:{key}:setup_billing:1", now=now
    )
    counts = notify.deliver(store, config, now, only=ids)

    assert counts == {"delivered": 1, "undelivered": 0, "deferred": 0}
    message = _only_message(sandbox)
    header = message["blocks"][0]["text"]["text"]
    assert header.startswith("Onboarding step failed: Kestrel Analytics xxx")
    assert len(header) == 150 and header.endswith(ELLIPSIS)
    about, blocking = _sections(message)[0], _sections(message)[1]
    assert about.startswith("*Kestrel Analytics x") and f"{ELLIPSIS}* (Enterprise) · `{key}`" in about
    assert "setup step 'billing' failed: 422" in about
    assert len(about) == 3000 and about.endswith(ELLIPSIS)
    assert blocking.startswith("*What blocks it*\napproval 'review_0'")
    assert len(blocking) == 3000 and blocking.endswith(ELLIPSIS)
    assert len(message["text"]) <= blockkit.FALLBACK_CHARS and message["text"].endswith(ELLIPSIS)

    # Slack shows the start; the store keeps everything.
    (row,) = store.query("SELECT * FROM onboarding.escalations")
    assert row["delivery_status"] == "delivered"
    assert row["details"]["account"] == NAME
    assert row["details"]["blocking"] == blocked
    assert row["reason"] == error
    trail = {e["event_type"]: e for e in store.events_for(key)}
    assert trail["escalation.raised"]["details"]["reason"] == error
    assert trail["escalation.delivered"]["details"]["escalation_id"] == row["id"]


def test_an_at_risk_notice_with_every_input_rejected_at_length_is_delivered(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config, company_name=NAME)
    move_to(store, config, key, Stage.COLLECT_INPUTS, SIGNED, "test", "planned")
    lifecycle.plan(store, config, key, SIGNED, "test")
    # The customer answered everything this morning and every answer was refused with a long explanation.
    store.conn.execute(
        """UPDATE onboarding.checklist_items SET requested_at = %s, status = 'rejected', received_at = %s,
               rejection_reason = 'the document ' || repeat('is unreadable, ', 300)""",
        (SIGNED, _at(25, 11)),
    )
    escalations.run_pass(store, config, _utc(_at(25, 12)))  # the slip forecast of test_escalations

    counts = notify.deliver(store, config, _utc(_at(25, 12, 1)))

    assert counts["delivered"] == 1 and counts["undelivered"] == 0
    message = _only_message(sandbox)
    header = message["blocks"][0]["text"]["text"]
    assert header.startswith("At risk of missing the activation target: Kestrel") and header.endswith(ELLIPSIS)
    blocking = _sections(message)[1]
    assert blocking.startswith("*What blocks it*\nwaiting on the customer for ")
    assert len(blocking) == 3000 and blocking.endswith(ELLIPSIS)
    (row,) = store.query("SELECT * FROM onboarding.escalations WHERE kind = 'at_risk'")
    assert row["details"]["account"] == NAME
    items = store.scalar("SELECT count(*) FROM onboarding.checklist_items WHERE critical")
    assert row["details"]["blocking"].count("is unreadable, " * 300) == items  # every refusal, whole


def test_an_unowned_notice_naming_a_huge_owner_keeps_its_fields_within_limits(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config, company_name="Osprey Labs")
    move_to(store, config, key, Stage.APPROVALS, _at(24, 10), "test", "inputs in")
    stranger = "someone." + "y" * 5_000 + "@example.com"
    store.conn.execute("UPDATE onboarding.onboardings SET stage_owner_email = %s", (stranger,))
    escalations.run_pass(store, config, _utc(_at(24, 11)))

    counts = notify.deliver(store, config, _utc(_at(24, 11, 1)))

    assert counts["delivered"] == 1
    message = _only_message(sandbox)
    (owner,) = [f["text"] for b in message["blocks"] for f in b.get("fields", []) if f["text"].startswith("*Owner*")]
    assert len(owner) == 2000 and owner.endswith(ELLIPSIS)
    (row,) = store.query("SELECT * FROM onboarding.escalations WHERE kind = 'unowned'")
    assert row["details"]["stage_owner"] == stranger and stranger in row["reason"]


def test_the_hand_off_announcement_of_a_20000_character_name_is_delivered(
    store: Store, sandbox: Any, config: OnboardingConfig
) -> None:
    key = _account(store, sandbox, config, company_name=NAME)
    now = _utc(_at(30, 10))
    move_to(store, config, key, Stage.CUSTOMER_COMMUNICATION, now, "test", "setup complete")
    lifecycle.record(store, key, "customer.notified", now, "test", {"message_id": "m-1"}, dedupe=f"cn:{key}")

    new_owner = golive.hand_off(store, config, key, now)

    message = _only_message(sandbox)
    (text,) = _sections(message)
    assert text.startswith("*Kestrel Analytics x")
    assert f"{ELLIPSIS}* ({key}, Enterprise) is live and now yours as" in text
    assert len(message["text"]) <= blockkit.FALLBACK_CHARS
    (announced,) = [e for e in store.events_for(key) if e["event_type"] == "handoff.announced"]
    assert announced["details"] == {"to": new_owner, "delivered": True, "channel": "slack"}
    assert store.scalar("SELECT account_name FROM onboarding.onboardings") == NAME


# --------------------------------------------------------------------------- one limit at a time

URL = "https://airflow.example.com/dags/onboarding_smb/runs/onboarding__hubspot-1"


def _header() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    raw = [{"type": "header", "text": {"type": "plain_text", "text": "H" * 151}}]
    return raw, [blockkit.header("H" * 151)]


def _section() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    raw = [{"type": "section", "text": {"type": "mrkdwn", "text": "S" * 3001}}]
    return raw, [blockkit.section("S" * 3001)]


def _field() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    raw = [{"type": "section", "fields": [{"type": "mrkdwn", "text": "*Owner*\n" + "F" * 2000}]}]
    return raw, blockkit.fields([("Owner", "F" * 2000)])


def _eleven_fields() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    pairs = [(f"Label {i}", f"value {i}") for i in range(23)]
    raw = [{"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in pairs]}]
    return raw, blockkit.fields(pairs)


def _button() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    button = {"type": "button", "text": {"type": "plain_text", "text": "B" * 76}, "url": URL}
    return [{"type": "actions", "elements": [button]}], [blockkit.link_button("B" * 76, URL)]


def _blocks() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    raw = [{"type": "section", "text": {"type": "mrkdwn", "text": f"item {i}"}} for i in range(80)]
    return raw, [blockkit.section(f"item {i}") for i in range(80)]


def _check_header(blocks: list[dict[str, Any]]) -> None:
    (block,) = blocks
    assert block["text"] == {"type": "plain_text", "text": "H" * 149 + ELLIPSIS}


def _check_section(blocks: list[dict[str, Any]]) -> None:
    (block,) = blocks
    assert block["text"] == {"type": "mrkdwn", "text": "S" * 2999 + ELLIPSIS}


def _check_field(blocks: list[dict[str, Any]]) -> None:
    (block,) = blocks
    assert block["fields"] == [{"type": "mrkdwn", "text": ("*Owner*\n" + "F" * 2000)[:1999] + ELLIPSIS}]


def _check_eleven_fields(blocks: list[dict[str, Any]]) -> None:
    assert [len(b["fields"]) for b in blocks] == [10, 10, 3]  # none lost: one more section per ten
    assert blocks[2]["fields"][-1]["text"] == "*Label 22*\nvalue 22"


def _check_button(blocks: list[dict[str, Any]]) -> None:
    ((button,),) = [b["elements"] for b in blocks]
    assert button["text"]["text"] == "B" * 74 + ELLIPSIS and button["url"] == URL


def _check_blocks(blocks: list[dict[str, Any]]) -> None:
    assert len(blocks) == 50
    assert [b["text"]["text"] for b in blocks[:49]] == [f"item {i}" for i in range(49)]
    assert blocks[49]["type"] == "context"
    assert blocks[49]["elements"][0]["text"] == "31 more blocks left out (Slack shows at most 50)"


LIMITS = {
    "header 150": (_header, _check_header),
    "section text 3000": (_section, _check_section),
    "field 2000": (_field, _check_field),
    "10 fields per section": (_eleven_fields, _check_eleven_fields),
    "button text 75": (_button, _check_button),
    "50 blocks": (_blocks, _check_blocks),
}


@pytest.mark.parametrize("limit", list(LIMITS))
def test_each_limit_is_kept_by_the_builders_and_on_the_way_out(
    limit: str, sandbox: Any, config: OnboardingConfig
) -> None:
    make, check = LIMITS[limit]
    raw, built = make()
    sent, fitted = blockkit.fit("fallback", built)
    check(fitted)
    # The poster fits whatever it is given: a raw block over the limit reaches Slack the same way.
    post = notify.slack_poster(config)
    post("slack_onboarding_na", "fallback", built)
    post("slack_onboarding_na", "fallback", raw)
    first, second = sandbox.state.slack.messages()
    assert first["blocks"] == second["blocks"] == fitted and first["text"] == sent == "fallback"
    assert_within_slack_limits(first["blocks"])


def test_clip_marks_a_cut_with_an_ellipsis_and_leaves_short_text_alone() -> None:
    assert blockkit.clip("Kestrel", 7) == "Kestrel"
    assert blockkit.clip("Kestrel Analytics", 8) == "Kestrel…"
    assert blockkit.clip("", 5) == ""
    assert len(blockkit.clip(NAME, blockkit.HEADER_CHARS)) == 150
