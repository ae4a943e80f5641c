"""The errors this package raises, under one base.

Every message names the account (or the file and field), what went wrong and,
where a person can fix it, how.  Catch :class:`OnboardingError` to catch them all.
"""

from __future__ import annotations


class OnboardingError(Exception):
    """Base of every error raised by the onboarding package."""


class TransitionNotAllowed(OnboardingError, ValueError):
    """An account was asked to move between two stages its tier's path does not connect."""

    def __init__(self, onboarding_key: str, from_stage: str, to_stage: str, allowed: list[str]) -> None:
        self.onboarding_key = onboarding_key
        self.from_stage = from_stage
        self.to_stage = to_stage
        super().__init__(
            f"onboarding {onboarding_key}: cannot move from stage {from_stage!r} to {to_stage!r};"
            f" from {from_stage!r} it may move to {', '.join(map(repr, allowed)) or 'nowhere (it is live)'}"
        )
