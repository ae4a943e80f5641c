"""Which validator judges which input type, and the checks every typed answer passes first.

:func:`validate` is the one entry point: it looks the item's input type up in
:data:`VALIDATORS` (documents have their own path, as they are files, not
typed answers), and a typed answer is first made sure to be text of a sane
size without control characters (:func:`typed_value`).  Every reason ends by
saying what to send instead (:func:`wanted`, from the validator's own module).
"""

from __future__ import annotations

from collections.abc import Callable

from include.onboarding.config import ChecklistItem, InputType
from include.onboarding.validators import choices, documents, domains, emails, saml, tax_ids, urls, vat
from include.onboarding.validators.verdicts import (
    MAX_SAML_BYTES,
    MAX_TEXT_CHARS,
    AccountContext,
    Refused,
    Submission,
    Verdict,
)
from include.onboarding.validators.wording import CONTROL, megabytes

Validator = Callable[[ChecklistItem, str, AccountContext], Verdict]
Wanted = Callable[[ChecklistItem, AccountContext], str]

VALIDATORS: dict[InputType, Validator] = {
    InputType.EMAIL: emails.email,
    InputType.DOMAIN: domains.domain,
    InputType.URL: urls.url,
    InputType.VAT_ID: vat.vat,
    InputType.TAX_ID: tax_ids.tax_id,
    InputType.SAML_METADATA: saml.saml_metadata,
    InputType.TEXT: choices.text,
    InputType.CHOICE: choices.choice,
}
"""The validator of each typed input type (documents are judged by :func:`.documents.document`)."""

_WANTED: dict[InputType, Wanted] = {
    InputType.EMAIL: emails.wanted,
    InputType.DOMAIN: domains.wanted,
    InputType.URL: urls.wanted,
    InputType.VAT_ID: vat.wanted,
    InputType.TAX_ID: tax_ids.wanted,
    InputType.SAML_METADATA: saml.wanted,
    InputType.CHOICE: choices.wanted,
    InputType.DOCUMENT: lambda item, account: documents.accepted_documents(item),
}


def validate(item: ChecklistItem, submission: Submission, account: AccountContext) -> Verdict:
    """Judge ``submission`` for ``item``.

    Bad customer input of any kind is a rejected :class:`Verdict`, never an
    exception.  ``ValueError`` is raised only for programming errors: an input
    type without a validator, or a submission for another item.
    """
    if submission.item_key != item.key:
        raise ValueError(f"submission for {submission.item_key!r} judged against item {item.key!r}")
    validator = VALIDATORS.get(item.type)
    if validator is None and item.type is not InputType.DOCUMENT:
        raise ValueError(f"no validator for input type {item.type!r}")
    try:
        if validator is None:
            return documents.document(item, submission)
        return validator(item, typed_value(item, submission, account), account)
    except Refused as refused:
        return Verdict.reject(refused.reason)


def wanted(item: ChecklistItem, account: AccountContext) -> str:
    """What to send for this item, as the object of "Please send ..."."""
    return _WANTED.get(item.type, choices.wanted)(item, account)


def typed_value(item: ChecklistItem, submission: Submission, account: AccountContext) -> str:
    """The typed answer, stripped, once it has the right shape and a sane size; rejects otherwise."""
    what = wanted(item, account)
    value = _typed(item, submission, what)
    _within_limit(item, value, what)  # size first: nothing below (not even strip) touches an oversized value
    text = value.strip()
    if not text:
        raise Refused(f"We received an empty answer. Please send {what}.")
    if CONTROL.search(text):
        raise Refused(
            "This answer contains invisible control characters (often picked up when copying from another "
            f"program). Please type it again or paste it as plain text: {what}."
        )
    return text


def _typed(item: ChecklistItem, submission: Submission, what: str) -> str:
    """The typed value, refusing a file or nothing at all."""
    if submission.document is not None:
        if item.type is InputType.SAML_METADATA:
            raise Refused(
                "We received a file upload, but this item needs the metadata as text. "
                f"Please open the metadata file and paste its contents: {what}."
            )
        raise Refused(f"We received a file, but this item needs a typed answer. Please send {what}.")
    if submission.value is None:
        raise Refused(f"We received an empty answer. Please send {what}.")
    return submission.value


def _within_limit(item: ChecklistItem, value: str, what: str) -> None:
    if item.type is InputType.SAML_METADATA:
        size = len(value) if len(value) > MAX_SAML_BYTES else len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_SAML_BYTES:
            raise Refused(
                f"This metadata is {megabytes(size)} MB, over the 1 MB limit for SAML metadata. Please send "
                "the metadata of your own identity provider only (one EntityDescriptor), not a federation-wide file."
            )
    elif len(value) > MAX_TEXT_CHARS:
        raise Refused(
            f"This answer is {len(value):,} characters long, over the limit of {MAX_TEXT_CHARS:,}. Please send {what}."
        )
