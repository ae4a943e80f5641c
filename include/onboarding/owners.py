"""Who owns an account at each stage.

The named onboarding owner is chosen once, at intake: the CRM's explicit
``onboarding_owner_email`` if the order names someone in the people directory,
otherwise whoever holds the tier's onboarding-owner role in the order's region.
Each stage is then owned by the holder of that stage's role, and stages owned
by the onboarding-owner role stay with the named owner.
"""

from __future__ import annotations

from dataclasses import dataclass

from include.onboarding.config import Settings, Stage, TierConfig
from include.onboarding.exceptions import NoOwner as NoOwner


@dataclass(frozen=True)
class Assignment:
    email: str
    role: str


def named_owner(settings: Settings, tier: TierConfig, region: str, requested: str | None) -> Assignment:
    role = tier.onboarding_owner_role
    if requested:
        if requested.lower() not in {e.lower() for e in settings.people_by_email}:
            raise NoOwner(f"onboarding_owner_email {requested!r} is not in the people directory (settings.yaml)")
        email = next(e for e in settings.people_by_email if e.lower() == requested.lower())
        return Assignment(email, role)
    if region not in tier.regions:
        raise NoOwner(f"tier {tier.key!r} has no owners for region {region!r} (it serves {', '.join(tier.regions)})")
    holder = settings.holder(role, region)
    if holder is None:
        raise NoOwner(f"nobody holds role {role!r} in region {region!r}")
    return Assignment(holder, role)


def stage_owner(settings: Settings, tier: TierConfig, stage: Stage, region: str, owner: Assignment) -> Assignment:
    if stage is Stage.LIVE:
        role = tier.handoff_to_role
    else:
        config = tier.stage(stage)
        if config is None:
            raise NoOwner(f"tier {tier.key!r} has no stage {stage.value!r}")
        role = config.owner_role
    if role == owner.role:
        return owner
    holder = settings.holder(role, region)
    if holder is None:
        raise NoOwner(f"nobody holds role {role!r} for stage {stage.value!r} in region {region!r}")
    return Assignment(holder, role)
