"""Uploaded documents: type, extension, size and integrity checked against the item's rules."""

from __future__ import annotations

import hashlib

import pytest

from include.onboarding.validators import DocumentMeta
from tests.validators.common import (
    DPA,
    MB,
    PDF,
    SHEET,
    XLSX,
    accepted,
    check,
    item,
    rejected,
)

pytestmark = pytest.mark.unit


# --------------------------------------------------------------------------- documents


def test_valid_documents_are_stored_as_metadata() -> None:
    digest = hashlib.sha256(b"dpa").hexdigest()
    assert accepted(check(DPA, document=DocumentMeta("Signed DPA.pdf", PDF, 2 * MB, digest.upper()))) == {
        "filename": "Signed DPA.pdf",
        "content_type": PDF,
        "size_bytes": 2 * MB,
        "sha256": digest,
    }
    sheet = DocumentMeta("C:\\Users\\jane\\Security Questionnaire.XLSX", XLSX.upper() + "; charset=binary", 1000)
    assert accepted(check(SHEET, document=sheet)) == {
        "filename": "Security Questionnaire.XLSX",
        "content_type": XLSX,
        "size_bytes": 1000,
        "sha256": None,
    }
    assert check(DPA, document=DocumentMeta("dpa.pdf", PDF, 20 * MB)).ok


def test_a_300_mb_pdf_is_rejected_with_the_limit() -> None:
    rejected(
        check(DPA, document=DocumentMeta("dpa.pdf", PDF, 300 * MB)),
        "300 MB",
        "over the 20 MB limit",
        "a PDF up to 20 MB",
    )
    rejected(check(DPA, document=DocumentMeta("dpa.pdf", PDF, 20 * MB + 1)), "20.1 MB", "over the 20 MB limit")


def test_an_exe_is_rejected() -> None:
    exe = DocumentMeta("setup.exe", "application/x-msdownload", 2 * MB)
    rejected(check(DPA, document=exe), '"setup.exe"', "application/x-msdownload", "Please upload a PDF up to 20 MB")
    disguised = DocumentMeta("dpa.pdf.exe", PDF, 2 * MB)
    rejected(check(DPA, document=disguised), "extension of a PDF (.pdf)", "Please upload a PDF up to 20 MB")


@pytest.mark.parametrize(
    ("document", "phrases"),
    [
        (DocumentMeta("answers.pdf", XLSX, 1000), ("extension of an Excel workbook (.xlsx)",)),
        (DocumentMeta("answers", PDF, 1000), ("extension of a PDF",)),
        (
            DocumentMeta("answers.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", 9),
            ("Word document",),
        ),
        (DocumentMeta("answers.pdf", PDF, 0), ("empty (0 bytes)",)),
        (DocumentMeta("answers.pdf", "", 0), ("could not tell what kind of file",)),
        (DocumentMeta("", PDF, 1000), ("without a name",)),
        (DocumentMeta("answers.pdf", PDF, 1000, "not-a-digest"), ("did not arrive intact",)),
        (DocumentMeta("ans\x00wers.pdf", PDF, 1000), ("file name is not usable",)),
    ],
)
def test_invalid_documents_are_rejected(document: DocumentMeta, phrases: tuple[str, ...]) -> None:
    rejected(check(SHEET, document=document), *phrases, "a PDF or an Excel workbook (.xlsx) up to 20 MB")


def test_a_document_for_a_text_item_is_rejected() -> None:
    rejected(check(item("text"), document=DocumentMeta("notes.pdf", PDF, 1000)), "needs a typed answer")
