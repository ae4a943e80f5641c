"""The validators' contract: a verdict for every input type, programming errors raise, and every typed
answer is checked for shape, size and control characters before any parsing."""

from __future__ import annotations

from typing import Any

import pytest

from include.onboarding.config import ChecklistItem, InputType, load_config
from include.onboarding.validators import DocumentMeta, Submission, Verdict, saml, validate
from tests.validators.common import (
    DPA,
    GB,
    MB,
    PDF,
    RESIDENCY,
    check,
    item,
    rejected,
)
from tests.validators.test_saml import metadata

pytestmark = pytest.mark.unit


# --------------------------------------------------------------------------- the contract


def test_verdicts_are_consistent() -> None:
    assert Verdict.accept("x") == Verdict(ok=True, value="x", reason=None)
    assert Verdict.reject("Send y.") == Verdict(ok=False, value=None, reason="Send y.")
    with pytest.raises(ValueError):
        Verdict(ok=True, value="x", reason="but why")
    with pytest.raises(ValueError):
        Verdict(ok=False, value=None, reason=None)


def test_programming_errors_raise() -> None:
    with pytest.raises(ValueError, match="judged against item"):
        validate(item("text"), Submission(item_key="other", value="x"), GB)
    unknown: dict[str, Any] = {"key": "answer", "label": "Answer", "type": "date", "critical": False}
    bogus = ChecklistItem.model_construct(**unknown)  # a type this module does not know
    with pytest.raises(ValueError, match="no validator"):
        validate(bogus, Submission(item_key="answer", value="2026-01-01"), GB)


def test_every_input_type_has_a_validator() -> None:
    good = {
        InputType.EMAIL: "jane@acme.co.uk",
        InputType.DOMAIN: "acme.co.uk",
        InputType.URL: "https://acme.co.uk/",
        InputType.VAT_ID: "GB980780684",
        InputType.TAX_ID: "04-2103594",
        InputType.SAML_METADATA: None,
        InputType.TEXT: "hello",
        InputType.CHOICE: "eu",
    }
    for kind in InputType:
        if kind is InputType.DOCUMENT:
            assert check(DPA, document=DocumentMeta("dpa.pdf", PDF, 1000)).ok
        elif kind is InputType.SAML_METADATA:
            assert check(item(kind.value), metadata()).ok
        elif kind is InputType.CHOICE:
            assert check(RESIDENCY, good[kind]).ok
        else:
            assert check(item(kind.value), good[kind]).ok, kind


def test_every_shipped_checklist_item_can_be_judged() -> None:
    for tier in load_config().tiers.values():
        for checklist_item in tier.checklist:
            verdict = check(checklist_item, None)
            assert not verdict.ok and verdict.reason
    dpa = next(i for i in load_config().tiers["enterprise"].checklist if i.key == "signed_dpa")
    rejected(check(dpa, document=DocumentMeta("dpa.pdf", PDF, 300 * MB)), "a PDF up to 20 MB")


# --------------------------------------------------------------------------- shape and size

VALUE_ITEMS = [item(k.value) for k in InputType if k not in (InputType.DOCUMENT, InputType.CHOICE)] + [RESIDENCY]


@pytest.mark.parametrize("checklist_item", VALUE_ITEMS, ids=lambda i: i.type.value)
def test_a_document_for_a_typed_item_is_rejected(checklist_item: ChecklistItem) -> None:
    verdict = check(checklist_item, document=DocumentMeta("notes.pdf", PDF, 1000))
    reason = rejected(verdict, "We received a file")
    assert "Please send" in reason or "paste its contents" in reason


@pytest.mark.parametrize("checklist_item", VALUE_ITEMS, ids=lambda i: i.type.value)
@pytest.mark.parametrize("value", [None, "", "   \n\t "])
def test_empty_answers_are_rejected(checklist_item: ChecklistItem, value: str | None) -> None:
    rejected(check(checklist_item, value), "empty answer", "Please send")


def test_a_typed_answer_for_a_document_item_is_rejected() -> None:
    rejected(check(DPA, "I will send it later"), "needs a file", "Please upload a PDF up to 20 MB")
    rejected(check(DPA), "did not receive a file", "Please upload a PDF up to 20 MB")


@pytest.mark.parametrize("checklist_item", [i for i in VALUE_ITEMS if i.type is not InputType.SAML_METADATA])
def test_oversized_answers_are_rejected_before_parsing(checklist_item: ChecklistItem) -> None:
    rejected(check(checklist_item, "a" * 10_001), "10,001 characters", "limit of 10,000", "Please send")


def test_oversized_saml_metadata_is_rejected_without_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(text: str) -> None:
        raise AssertionError("parsed an oversized document")

    monkeypatch.setattr(saml, "_parse_xml", never)
    huge = metadata().replace("<md:IDPSSODescriptor", "<!--" + "x" * MB + "--><md:IDPSSODescriptor")
    rejected(check(item("saml_metadata"), huge), "over the 1 MB limit", "Please send")
    multibyte = "é" * (MB // 2 + 1)  # few characters, more than 1 MB of UTF-8
    rejected(check(item("saml_metadata"), multibyte), "over the 1 MB limit")


@pytest.mark.parametrize("bad", ["acme\x00.com", "acme\x1b.com", "acme\ud800.com"])
@pytest.mark.parametrize("kind", ["text", "domain", "email", "saml_metadata"])
def test_control_characters_are_rejected(kind: str, bad: str) -> None:
    rejected(check(item(kind), bad), "control characters", "paste it as plain text")
