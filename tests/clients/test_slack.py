"""The Slack client: the one way messages reach Slack, fitted to Block Kit and patient with 429."""

from __future__ import annotations

from typing import Any

import pytest

from include.onboarding import blockkit
from include.onboarding.clients.slack import DeliveryFailed, SlackWebhookClient
from tests.clients.conftest import fault

pytestmark = pytest.mark.unit

CONNECTION = "slack_onboarding_na"
WEBHOOK = f"T0SANDBOX/B0SANDBOX/{CONNECTION}"


def _client(retries: int = 3, connection: str = CONNECTION) -> SlackWebhookClient:
    return SlackWebhookClient(slack_webhook_conn_id=connection, rate_limit_retries=retries)


def test_a_message_over_slacks_limits_is_fitted_and_delivered(sandbox: Any) -> None:
    raw_header = {"type": "header", "text": {"type": "plain_text", "text": "H" * 400}}
    _client().post(text="T" * 5000, blocks=[raw_header, blockkit.section("body")])
    (message,) = sandbox.state.slack.messages(WEBHOOK)
    assert message["blocks"][0]["text"]["text"] == "H" * 149 + "…"
    assert len(message["text"]) == blockkit.FALLBACK_CHARS
    assert message["blocks"][1] == blockkit.section("body")


def test_a_rate_limit_is_retried_after_slacks_retry_after(sandbox: Any) -> None:
    fault(sandbox, "slack", rate_limit=1, retry_after=0)
    _client().post(text="hello", blocks=[blockkit.section("hello")])
    assert [r["status"] for r in sandbox.state.requests("slack")] == [429, 200]
    assert len(sandbox.state.slack.messages(WEBHOOK)) == 1


def test_a_rate_limit_past_the_retries_is_a_failed_delivery(sandbox: Any) -> None:
    fault(sandbox, "slack", rate_limit=1, retry_after=0)
    with pytest.raises(DeliveryFailed, match="Slack answered 429") as failed:
        _client(retries=0).post(text="hello", blocks=[])
    assert failed.value.connection_down


def test_a_refused_message_leaves_the_webhook_usable(sandbox: Any) -> None:
    with pytest.raises(DeliveryFailed, match="Slack answered 400: 'invalid_blocks'") as refused:
        _client().post(text="hello", blocks=[{"type": "section"}])  # neither text nor fields
    assert not refused.value.connection_down


def test_a_revoked_webhook_or_an_unknown_connection_is_down(sandbox: Any) -> None:
    sandbox.state.slack.set_enabled(WEBHOOK, False)
    with pytest.raises(DeliveryFailed, match="Slack answered 404: 'no_service'") as revoked:
        _client().post(text="hello", blocks=[])
    assert revoked.value.connection_down
    with pytest.raises(DeliveryFailed, match="slack_nobody") as unknown:
        _client(connection="slack_nobody").post(text="hello", blocks=[])
    assert unknown.value.connection_down
    assert sandbox.state.slack.messages() == []


def test_the_client_takes_keyword_arguments_only() -> None:
    with pytest.raises(TypeError):
        SlackWebhookClient(CONNECTION)  # type: ignore[misc]
