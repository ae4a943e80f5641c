"""Builders for realistic CRM records, so each test states only what matters to it."""

from __future__ import annotations

import itertools
from typing import Any

_counter = itertools.count(1)


def deal_properties(**overrides: Any) -> dict[str, Any]:
    """A valid signed enterprise order in HubSpot's property format (all strings)."""
    n = next(_counter)
    props: dict[str, Any] = {
        "dealname": f"Northwind Robotics {n} - Platform",
        "dealstage": "closedwon",
        "pipeline": "default",
        "closedate": "2026-11-02T15:30:00.000Z",
        "amount": "84000.00",
        "deal_currency_code": "USD",
        "hubspot_owner_id": "7001",
        "order_number": f"SO-2026-{n:05d}",
        "onboarding_tier": "enterprise",
        "company_name": f"Northwind Robotics {n}",
        "company_domain": f"northwind{n}.example",
        "region": "NA",
        "segment": "strategic",
        "primary_contact_name": "Jane Doe",
        "primary_contact_email": f"jane.doe@northwind{n}.example",
        "addons": None,
        "partner_name": None,
        "onboarding_owner_email": None,
        "committed_go_live_date": None,
    }
    props.update(overrides)
    return props


def move_to(store: Any, config: Any, key: str, stage: Any, at: Any, actor: str, reason: str) -> None:
    """Bring an account to ``stage`` at ``at`` along its tier's path, as the tier's tasks would.

    Each stage on the way is entered at the same moment, so only ``stage`` has any time in it.
    """
    from include.onboarding import lifecycle, state

    onboarding = lifecycle.load(store, key)
    path = state.path(lifecycle.tier_of(config, onboarding))
    for step in path[path.index(onboarding.stage) + 1 : path.index(stage) + 1]:
        if step in state.SKIPPABLE and step is not stage:
            continue
        state.advance(store, config, key, step, at, actor, reason)
