"""Escalation notices in Slack take the owner to the account's page on the board."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from include.onboarding import notify
from include.onboarding.config import OnboardingConfig, load_config
from tests.board.conftest import NOW, Accounts


def _buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    return {
        e["text"]["text"]: e["url"] for b in blocks if b["type"] == "actions" for e in b["elements"]
    }  # fmt: skip


def _with_airflow_at(url: str) -> OnboardingConfig:
    config = load_config()
    escalations = config.settings.escalations.model_copy(update={"airflow_base_url": url})
    return config.model_copy(update={"settings": config.settings.model_copy(update={"escalations": escalations})})


def _escalation(subject: str, kind: str = "sla_breach") -> dict[str, Any]:
    return {"subject": subject, "kind": kind, "level": 1, "reason": "approvals ran past its SLA",
            "notify_email": "rachel.kim@example.com", "notify_role": "stage owner", "stage": "approvals",
            "details": {"account": "Kestrel Labs"},
            "breach_at": datetime(2026, 11, 23, 15, tzinfo=timezone.utc)}  # fmt: skip


@pytest.mark.unit
def test_the_notice_links_the_board_page_of_its_account_or_the_quarantine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONBOARDING_BOARD_URL", raising=False)
    config = _with_airflow_at("https://airflow.example.com/")
    _, blocks = notify.render(_escalation("hubspot-18000000002"), config)
    assert (
        _buttons(blocks)["Open on the onboarding board"]
        == "https://airflow.example.com/board/accounts/hubspot-18000000002"
    )
    _, blocks = notify.render(_escalation("order:hubspot-42", "quarantine"), config)
    assert _buttons(blocks)["Open on the onboarding board"] == "https://airflow.example.com/board/quarantine"
    monkeypatch.setenv("ONBOARDING_BOARD_URL", "https://ops.example.com/onboarding-board/")
    _, blocks = notify.render(_escalation("hubspot-7"), config)
    assert (
        _buttons(blocks)["Open on the onboarding board"]
        == "https://ops.example.com/onboarding-board/accounts/hubspot-7"
    )


def test_notices_posted_to_slack_carry_the_board_link(accounts: Accounts, store: Any, sandbox: Any) -> None:
    config = _with_airflow_at("https://airflow.example.com")
    counts = notify.deliver(store, config, NOW)
    assert counts["delivered"] >= 4 and counts["undelivered"] == 0
    messages = sandbox.state.slack.messages()
    links = {_buttons(m["blocks"]).get("Open on the onboarding board") for m in messages}
    for key in (accounts.late, accounts.blocked, accounts.fresh):
        assert f"https://airflow.example.com/board/accounts/{key}" in links
    assert "https://airflow.example.com/board/quarantine" in links
