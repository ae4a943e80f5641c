"""Email addresses, checked by ``email-validator`` (syntax only: no DNS lookups) and stored normalised."""

from __future__ import annotations

import re

from include.onboarding.config import ChecklistItem
from include.onboarding.validators.domains import example_domain
from include.onboarding.validators.verdicts import AccountContext, Refused, Verdict
from include.onboarding.validators.wording import quote


def wanted(item: ChecklistItem, account: AccountContext) -> str:
    return f"one email address, for example name@{example_domain(account)}"


def email(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    # Imported here: its tables cost a task process that only plans the checklist about 0.1 s.
    from email_validator import EmailNotValidError, validate_email

    what = wanted(item, account)
    if text.count("@") > 1 and re.search(r"[,;\s]", text):
        raise Refused(f"This looks like more than one email address. Please send only {what}.")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        detail = str(exc).strip()
        if detail and not detail.endswith("."):
            detail += "."
        raise Refused(f"{quote(text)} is not a valid email address. {detail} Please send {what}.") from None
    return Verdict.accept(result.normalized)
