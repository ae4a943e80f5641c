"""The stages an account passes through and the moves between them, as data.

A tier's path is its configured stage list (``stages`` in ``include/config/tiers/<tier>.yaml``)
followed by ``live``.  From each stage an account moves to the next stage of its path, or
past the stages that may hold nothing for it (:data:`SKIPPABLE`) to the first one after.
"""

from __future__ import annotations

from collections.abc import Mapping

from include.onboarding.config import Stage, TierConfig
from include.onboarding.exceptions import TransitionNotAllowed

SKIPPABLE: Mapping[Stage, str] = {
    Stage.APPROVALS: "the order calls for no approval",
    Stage.SETUP: "no setup step applies to the order",
}
"""Stages an account passes over when nothing in them applies to it, with the reason."""


def path(tier: TierConfig) -> tuple[Stage, ...]:
    """The tier's stages in lifecycle order, ending with ``live``."""
    return (*(s.key for s in tier.stages), Stage.LIVE)


def transitions(tier: TierConfig) -> Mapping[Stage, tuple[Stage, ...]]:
    """For each stage of the tier's path, the stages an account may move to from it."""
    stages = path(tier)
    table: dict[Stage, tuple[Stage, ...]] = {}
    for i, stage in enumerate(stages):
        reachable: list[Stage] = []
        for later in stages[i + 1 :]:
            reachable.append(later)
            if later not in SKIPPABLE:
                break
        table[stage] = tuple(reachable)
    return table


def is_behind(tier: TierConfig, stage: Stage, current: Stage) -> bool:
    """True when ``stage`` is ``current`` or one the account has passed: moving there changes nothing."""
    order = list(Stage)
    return order.index(stage) <= order.index(current)


def check(onboarding_key: str, tier: TierConfig, current: Stage, to: Stage) -> None:
    """Raise :class:`TransitionNotAllowed` unless the tier's table allows ``current -> to``."""
    allowed = transitions(tier).get(current, ())
    if to not in allowed:
        raise TransitionNotAllowed(onboarding_key, current.value, to.value, [s.value for s in allowed])
