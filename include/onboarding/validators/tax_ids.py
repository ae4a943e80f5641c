"""US Employer Identification Numbers (EIN), checked by ``python-stdnum`` and stored as NN-NNNNNNN."""

from __future__ import annotations

import re

from stdnum.exceptions import InvalidComponent
from stdnum.exceptions import ValidationError as NumberError
from stdnum.us import ein

from include.onboarding.config import ChecklistItem
from include.onboarding.validators.verdicts import AccountContext, Refused, Verdict
from include.onboarding.validators.wording import WHITESPACE, quote

EIN_EXAMPLE = "for example 04-2103594"
_EIN_SOURCE = "your IRS EIN assignment notice (CP 575) or your Form W-9"


def wanted(item: ChecklistItem, account: AccountContext) -> str:
    return f"your company's 9-digit US Employer Identification Number (EIN), written NN-NNNNNNN, {EIN_EXAMPLE}"


def tax_id(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    number = WHITESPACE.sub("", text)
    if re.fullmatch(r"\d{3}-\d{2}-\d{4}", number):
        raise Refused(
            "This looks like a Social Security Number, not a company tax id. Please send your company's "
            f"Employer Identification Number (EIN) from {_EIN_SOURCE}, written NN-NNNNNNN, {EIN_EXAMPLE}."
        )
    try:
        return Verdict.accept(ein.format(ein.validate(number)))
    except InvalidComponent:
        raise Refused(
            f"{quote(text)} starts with {number[:2]}, which the IRS does not use for EINs, so the number is "
            f"mistyped. Please copy it from {_EIN_SOURCE}, written NN-NNNNNNN, {EIN_EXAMPLE}."
        ) from None
    except NumberError:
        raise Refused(
            f"{quote(text)} is not a US EIN: an EIN has exactly 9 digits. Please send the number from "
            f"{_EIN_SOURCE}, written NN-NNNNNNN, {EIN_EXAMPLE}."
        ) from None
