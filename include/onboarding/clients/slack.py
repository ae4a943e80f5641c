"""The Slack client: the one way this package posts to Slack.

Messages go to Slack incoming webhooks through the Slack provider's
``SlackWebhookHook``, one Airflow ``slackwebhook`` connection per webhook (a
person's or a team's channel).  Every message is first fitted to Slack's Block
Kit limits by :func:`include.onboarding.blockkit.fit`, whoever built it, since
Slack refuses a whole message (``400 invalid_blocks``) for one block over a
limit.  Slack's ``429`` is retried after the ``Retry-After`` it sends, up to
``rate_limit_retries`` times.

Anything else Slack does not take raises :class:`DeliveryFailed` with Slack's
own text (its errors are plain text such as ``invalid_blocks`` or
``no_service``), and says whether the webhook itself is unusable for now, so a
caller posting many messages stops using that one and keeps the others going.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from include.onboarding import blockkit
from include.onboarding.exceptions import DeliveryFailed as DeliveryFailed

if TYPE_CHECKING:
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook


class SlackWebhookClient:
    """Posts Block Kit messages to one Slack incoming webhook, named by an Airflow connection."""

    conn_name_attr = "slack_webhook_conn_id"
    conn_type = "slackwebhook"

    def __init__(self, *, slack_webhook_conn_id: str, rate_limit_retries: int = 3, timeout: int | None = None):
        self.slack_webhook_conn_id = slack_webhook_conn_id
        self.rate_limit_retries = rate_limit_retries
        self.timeout = timeout

    @cached_property
    def hook(self) -> SlackWebhookHook:
        """The provider's hook, retrying 429 after Slack's ``Retry-After``."""
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook
        from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

        return SlackWebhookHook(
            slack_webhook_conn_id=self.slack_webhook_conn_id,
            timeout=self.timeout,
            retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=self.rate_limit_retries)],
        )

    def post(self, *, text: str, blocks: Sequence[dict[str, Any]]) -> None:
        """Post one message: ``text`` is the notification and fallback, ``blocks`` what Slack shows.

        Raises :class:`DeliveryFailed` unless Slack answered 200.
        """
        text, fitted = blockkit.fit(text, blocks)
        try:
            self.hook.send(text=text, blocks=fitted)
        except Exception as exc:  # Slack's refusal, connection refused, timeout, missing connection
            raise _failure(exc) from exc


def _failure(exc: Exception) -> DeliveryFailed:
    """What went wrong, in Slack's words where it answered; a refused message (400) leaves the webhook usable."""
    match = re.search(r"Status Code: (\d{3})", str(exc))
    status = int(match.group(1)) if match else None
    what = f"Slack answered {status}: {_body(exc)}" if status else f"{type(exc).__name__}: {exc}"
    return DeliveryFailed(what, connection_down=status != 400)


def _body(exc: Exception) -> str:
    match = re.search(r"Response body: (.*?), Status Code", str(exc))
    return (match.group(1) if match else str(exc))[:200]
