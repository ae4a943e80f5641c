"""Escalations about one account, raised from outside the pass: failure callbacks and deadline alerts."""

from __future__ import annotations

import logging
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from include.onboarding.config import OnboardingConfig
from include.onboarding.escalations import wording
from include.onboarding.escalations.persistence import NewEscalation, missing_items, raise_escalations
from include.onboarding.escalations.routing import recipient
from include.onboarding.escalations.sla import load_open, measure
from include.onboarding.store import Store

log = logging.getLogger(__name__)


def account_escalation(
    store: Store,
    config: OnboardingConfig,
    onboarding_key: str,
    kind: str,
    reason: str,
    dedupe_key: str,
    now: datetime,
    notify: str = "stage_owner",
    extra: dict[str, Any] | None = None,
) -> list[int]:
    """Raise one escalation about one account (failure callbacks, deadline alerts)."""
    frame = load_open(store, onboarding_key)
    if frame.empty:
        log.info("onboarding %s is not open; no %s escalation", onboarding_key, kind)
        return []
    frame = measure(frame, config, now)
    row = SimpleNamespace(**{str(k): v for k, v in frame.to_dict("records")[0].items()})
    settings = config.settings
    owner = row.owner_email if notify == "named_owner" else row.stage_owner_email
    email, role = recipient(settings, "stage_owner" if notify == "named_owner" else notify, owner, row.region)
    missing = missing_items(store, [int(row.id)])
    details = wording.account_details(row, config, wording.blocking(row, missing)) if row.planned else {}
    details.update(extra or {})
    details.setdefault("blocking", reason)
    return raise_escalations(
        store,
        [
            NewEscalation(
                subject=onboarding_key,
                kind=kind,
                notify_email=email,
                notify_role=role,
                reason=reason,
                dedupe_key=dedupe_key,
                onboarding_id=int(row.id),
                stage=row.stage,
                stage_owner=row.stage_owner_email,
                breach_at=now,
                details=details,
            )
        ],
        now,
    )
