"""What an escalation says: its reason, and the account details its message shows.

Pure functions of one measured account (a row of :func:`~.sla.measure`'s
frame, as attributes) and the configuration.  Business time is told in
business days of the account's region, rounded to two decimals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from include.onboarding.config import OnboardingConfig
from include.onboarding.escalations.routing import run_url


def iso_day(value: Any) -> str:
    return str(np.datetime64(value, "D"))


def days(seconds: float, day_seconds: float) -> float:
    """Business seconds as business days of ``day_seconds`` each."""
    return round(float(seconds) / float(day_seconds), 2) if day_seconds else 0.0


def blocking(row: Any, missing: dict[int, list[str]]) -> str:
    """What holds the account up: its blocked reason, the critical inputs still out, or its unfinished stage."""
    if row.blocked_reason:
        return str(row.blocked_reason)
    items = missing.get(int(row.id))
    if items:
        return "waiting on the customer for " + "; ".join(items)
    return f"the {row.stage} stage has not finished"


def unowned_reason(row: Any, config: OnboardingConfig) -> str:
    if row.planned:
        return f"stage owner {row.stage_owner_email!r} is not in the people directory"
    if row.tier not in config.tiers:
        return f"tier {row.tier!r} has no configuration: nobody owns stage {row.stage}"
    return f"tier {row.tier!r} names no owner for stage {row.stage} in region {row.region}"


def silent_reason(row: Any) -> str:
    answered = pd.notna(row.heard_at) and row.heard_at >= row.paused_at
    heard = "their last submission" if answered else "the request"
    return (
        f"the customer has sent nothing for {days(row.quiet_seconds, row.day_seconds):g} business days since"
        f" {heard} on {iso_day(row.quiet_since.to_datetime64())} while critical inputs are out;"
        " chase them directly"
    )


def at_risk_reason(row: Any) -> str:
    return (
        f"forecast to miss the activation target {iso_day(row.activation_target)}: the remaining stages"
        f" need {days(row.needed_seconds, row.day_seconds):g} business days,"
        f" {days(row.left_seconds, row.day_seconds):g} are left"
    )


def breach_reason(row: Any, level: int, percent: float, notify: str) -> str:
    return (
        f"{row.stage} has run {days(row.elapsed_seconds, row.day_seconds):g} business days against an SLA of"
        f" {row.sla_text} ({row.sla_percent:.0f}%,"
        f" {days(row.elapsed_seconds - row.sla_seconds, row.day_seconds):g} business days over);"
        f" ladder rung {level} at {percent:g}% notifies {notify}"
    )


def quarantine_problems(reasons: list[dict[str, Any]] | None) -> str:
    """A quarantined order's reasons on one line."""
    return "; ".join(f"{p.get('field')}: {p.get('problem')}" for p in reasons or [])


def account_details(row: Any, config: OnboardingConfig, blocked_by: str) -> dict[str, Any]:
    """The account as an escalation's message shows it."""
    settings = config.settings
    owner = settings.people_by_email.get(row.stage_owner_email)
    tier = config.tiers.get(row.tier)
    return {
        "onboarding_key": row.onboarding_key,
        "account": row.account_name,
        "tier": tier.display_name if tier else row.tier,
        "region": row.region,
        "stage": row.stage,
        "stage_owner": row.stage_owner_email,
        "stage_owner_name": owner.name if owner else None,
        "sla": row.sla_text,
        "elapsed_business_days": days(row.elapsed_seconds, row.day_seconds),
        "sla_percent": round(float(row.sla_percent), 1) if pd.notna(row.sla_percent) else None,
        "activation_target": iso_day(row.activation_target),
        "business_days_to_target": int(row.business_days_to_target),
        "needed_business_days": days(row.needed_seconds, row.day_seconds),
        "blocking": blocked_by,
        "run_url": run_url(settings, row.tier, row.run_id),
    }
