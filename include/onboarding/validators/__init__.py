"""Judging one submission for one checklist item.

:func:`validate` takes the item (from the tier file), what the customer sent
through the portal and what we know about the account, and returns a
:class:`Verdict`: either the normalised value to store, or a reason written
for the customer that says what is wrong and what to send instead.

Bad customer input never raises: it is always a rejected verdict.  Only a
programming error does (an input type without a validator, a submission
judged against the wrong item).  Checks lean on maintained libraries rather
than home-made rules: ``email-validator`` for addresses, ``idna`` for host
names, ``python-stdnum`` for VAT numbers and EINs, ``defusedxml`` for SAML
metadata (no DTDs, no entities: an entity bomb is refused, never expanded).
Oversized values are refused before any parsing.

One module per input family (:mod:`.emails`, :mod:`.domains`, :mod:`.urls`,
:mod:`.vat`, :mod:`.tax_ids`, :mod:`.saml`, :mod:`.documents`,
:mod:`.choices`); :mod:`.registry` maps input types to them.
"""

from include.onboarding.validators.registry import VALIDATORS, validate
from include.onboarding.validators.verdicts import (
    MAX_SAML_BYTES,
    MAX_TEXT_CHARS,
    MEGABYTE,
    AccountContext,
    DocumentMeta,
    Submission,
    Verdict,
)

__all__ = [
    "MAX_SAML_BYTES",
    "MAX_TEXT_CHARS",
    "MEGABYTE",
    "VALIDATORS",
    "AccountContext",
    "DocumentMeta",
    "Submission",
    "Verdict",
    "validate",
]
