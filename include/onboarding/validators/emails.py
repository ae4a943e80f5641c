"""Email addresses, checked by ``email-validator`` (syntax only: no DNS lookups) and stored normalised."""

from __future__ import annotations

import re
from dataclasses import dataclass

from include.onboarding.config import ChecklistItem
from include.onboarding.validators.domains import example_domain
from include.onboarding.validators.verdicts import AccountContext, Refused, Verdict
from include.onboarding.validators.wording import quote


@dataclass(frozen=True, slots=True)
class BadAddress:
    """Why ``email-validator`` refused a text as an email address, in its own words."""

    reason: str


def normalised_address(text: str) -> str | BadAddress:
    """``text`` as one email address normalised by ``email-validator`` (syntax only: no DNS lookups), or why not.

    Every check of an address goes through here: a checklist answer, an order's contact
    from the CRM, a colleague the customer forwards items to.  Each caller words the
    refusal for its reader.
    """
    # Imported here: its tables cost a task process that never judges an address about 0.1 s.
    from email_validator import EmailNotValidError, validate_email

    try:
        return str(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        return BadAddress(str(exc))


def wanted(item: ChecklistItem, account: AccountContext) -> str:
    return f"one email address, for example name@{example_domain(account)}"


def email(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    what = wanted(item, account)
    if text.count("@") > 1 and re.search(r"[,;\s]", text):
        raise Refused(f"This looks like more than one email address. Please send only {what}.")
    address = normalised_address(text)
    if isinstance(address, BadAddress):
        detail = address.reason.strip()
        if detail and not detail.endswith("."):
            detail += "."
        raise Refused(f"{quote(text)} is not a valid email address. {detail} Please send {what}.")
    return Verdict.accept(address)
