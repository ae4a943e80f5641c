"""Hostile and odd input never raises: always a verdict, with a reason of sane length."""

from __future__ import annotations

import random

import pytest

from include.onboarding.config import InputType
from include.onboarding.validators import AccountContext, DocumentMeta, Verdict
from tests.validators.common import (
    GB,
    MB,
    PDF,
    RESIDENCY,
    SHEET,
    UNKNOWN,
    XLSX,
    check,
    item,
)

pytestmark = pytest.mark.unit


# --------------------------------------------------------------------------- hostile and odd input


def _garbage(rng: random.Random) -> str:
    alphabet = "aZ09 .-_@:/\\[]<>&;%#?=+*'\"\n\t\u00e9\u0130\u200b\ufeff\U0001f600xn--GBDE"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80)))


ODD = [
    "[",
    "https://[",
    "http://[::1",
    "@@",
    "xn--",
    "xn--zz.com",
    ".",
    "..",
    "a." * 200 + "com",
    "x" * 300 + ".com",
    "https://" + "a" * 5000 + ".com",
    "<",
    "<?xml version='1.0' encoding='bogus'?><a/>",
    "<?xml version='1.0' encoding='UTF-16'?><a/>",
    "\u0130stanbul.com",
    "\U0001f600.com",
    "GB" + "9" * 5000,
    "%00",
    "0",
]


@pytest.mark.parametrize("kind", [k for k in InputType if k is not InputType.DOCUMENT], ids=lambda k: k.value)
def test_odd_input_never_raises(kind: InputType) -> None:
    checklist_item = RESIDENCY if kind is InputType.CHOICE else item(kind.value)
    rng = random.Random(kind.value)
    for value in ODD + [_garbage(rng) for _ in range(300)]:
        for account in (GB, UNKNOWN, AccountContext("EMEA", "xx", "not a domain")):
            verdict = check(checklist_item, value, account=account)
            assert isinstance(verdict, Verdict)
            if not verdict.ok:
                assert verdict.reason and len(verdict.reason) < 700, verdict.reason


def test_odd_documents_never_raise() -> None:
    rng = random.Random("documents")
    for _ in range(300):
        document = DocumentMeta(
            filename=_garbage(rng),
            content_type=rng.choice([PDF, XLSX, "", "application/pdf;;", _garbage(rng)]),
            size_bytes=rng.choice([-1, 0, 1, 20 * MB, 10**12]),
            sha256=rng.choice([None, "", _garbage(rng), "a" * 64]),
        )
        verdict = check(SHEET, document=document)
        assert verdict.ok or (verdict.reason and len(verdict.reason) < 700)
