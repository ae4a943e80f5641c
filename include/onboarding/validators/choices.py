"""Free text and choices from a list (matched whatever the case, stored as listed)."""

from __future__ import annotations

from include.onboarding.config import ChecklistItem, InputType
from include.onboarding.validators.verdicts import AccountContext, Refused, Verdict
from include.onboarding.validators.wording import join_or, quote


def wanted(item: ChecklistItem, account: AccountContext) -> str:
    if item.type is InputType.CHOICE:
        return f"one of: {join_or(list(item.choices or []))}"
    return f"your answer for {quote(item.label)}"


def text(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    return Verdict.accept(text)


def choice(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    choices = item.choices
    if not choices:
        raise ValueError(f"choice item {item.key!r} has no choices")
    folded = text.casefold()
    for choice in choices:
        if choice.strip().casefold() == folded:
            return Verdict.accept(choice)
    raise Refused(f"{quote(text)} is not one of the options. Please choose one of: {join_or(list(choices))}.")
