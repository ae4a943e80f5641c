"""Uploaded documents: the portal's file metadata checked against the item's content types and size limit."""

from __future__ import annotations

import mimetypes
import re
from functools import cache

from include.onboarding.config import ChecklistItem
from include.onboarding.validators.verdicts import MEGABYTE, Refused, Submission, Verdict
from include.onboarding.validators.wording import CONTROL, join_or, megabytes, quote

# Extensions per content type; types not listed fall back to Python's built-in table.
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "application/vnd.ms-excel": (".xls",),
    "application/msword": (".doc",),
    "text/csv": (".csv",),
    "text/plain": (".txt",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "application/xml": (".xml",),
    "text/xml": (".xml",),
    "application/zip": (".zip",),
}
_TYPE_NAMES = {
    "application/pdf": "a PDF",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "an Excel workbook (.xlsx)",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "a Word document (.docx)",
    "application/vnd.ms-excel": "an Excel 97-2003 workbook (.xls)",
    "application/msword": "a Word 97-2003 document (.doc)",
    "text/csv": "a CSV file",
    "text/plain": "a plain text file (.txt)",
    "image/png": "a PNG image",
    "image/jpeg": "a JPEG image",
    "application/xml": "an XML file",
    "text/xml": "an XML file",
    "application/zip": "a ZIP archive",
}


@cache
def _builtin_types() -> mimetypes.MimeTypes:
    return mimetypes.MimeTypes()  # Python's own table only, not the host's mime.types


def _extensions(content_type: str) -> tuple[str, ...]:
    known = _EXTENSIONS.get(content_type)
    if known is not None:
        return known
    return tuple(_builtin_types().guess_all_extensions(content_type, strict=True))


def _type_name(content_type: str) -> str:
    """The kind of file, with its article, as customers know it ("a PDF", "an Excel workbook (.xlsx)")."""
    if content_type in _TYPE_NAMES:
        return _TYPE_NAMES[content_type]
    return f"a file of type {content_type}"


def accepted_documents(item: ChecklistItem) -> str:
    """What the item accepts, e.g. "a PDF or an Excel workbook (.xlsx) up to 20 MB"."""
    rules = item.document
    if rules is None:
        raise ValueError(f"document item {item.key!r} has no document rules")
    names: list[str] = []
    for content_type in rules.content_types:
        name = _type_name(content_type.strip().lower())
        if name not in names:
            names.append(name)
    return f"{join_or(names)} up to {rules.max_mb:g} MB"


def document(item: ChecklistItem, submission: Submission) -> Verdict:
    rules = item.document
    if rules is None:
        raise ValueError(f"document item {item.key!r} has no document rules")
    accepted = accepted_documents(item)
    doc = submission.document
    if doc is None:
        if submission.value is not None and submission.value.strip():
            raise Refused(f"We received a typed answer, but this item needs a file. Please upload {accepted}.")
        raise Refused(f"We did not receive a file. Please upload {accepted}.")
    filename = _filename(doc.filename, accepted)
    shown = quote(filename)
    content_type = _content_type(doc.content_type, filename, shown, rules.content_types, accepted)
    if doc.size_bytes <= 0:
        raise Refused(f"{shown} is empty (0 bytes). Please upload the complete file: {accepted}.")
    if doc.size_bytes > rules.max_mb * MEGABYTE:
        raise Refused(
            f"{shown} is {megabytes(doc.size_bytes)} MB, over the {rules.max_mb:g} MB limit. Please upload a "
            f"smaller file (for example, export or scan it at a lower resolution, or split it): {accepted}."
        )
    sha256 = doc.sha256.strip().lower() if doc.sha256 is not None else None
    if sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise Refused(f"{shown} did not arrive intact. Please upload it again: {accepted}.")
    return Verdict.accept(
        {"filename": filename, "content_type": content_type, "size_bytes": doc.size_bytes, "sha256": sha256}
    )


def _filename(name: str, accepted: str) -> str:
    """The file's own name, without any folder the browser sent; rejects a missing or unusable one."""
    filename = re.split(r"[\\/]", name.strip())[-1].strip()
    if not filename:
        raise Refused(f"We received a file without a name. Please upload it again: {accepted}.")
    if CONTROL.search(filename) or len(filename) > 255:
        raise Refused(
            f"The file name is not usable. Please rename the file (for example contract.pdf) and upload {accepted}."
        )
    return filename


def _content_type(sent: str, filename: str, shown: str, content_types: list[str], accepted: str) -> str:
    """The accepted content type as the item lists it, once the file's type and extension agree with it."""
    content_type = sent.split(";")[0].strip().lower()
    allowed = {c.strip().lower(): c for c in content_types}
    if not content_type:
        raise Refused(f"We could not tell what kind of file {shown} is. Please upload it again: {accepted}.")
    if content_type not in allowed:
        raise Refused(f"We cannot accept {shown} here: it is {_type_name(content_type)}. Please upload {accepted}.")
    extensions = _extensions(content_type)
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extensions and suffix not in extensions:
        raise Refused(
            f"{shown} does not have the file name extension of {_type_name(content_type)} "
            f"({join_or(list(extensions))}). Please upload {accepted}."
        )
    return allowed[content_type]
