"""Uploaded documents: what a file really is, and where it is kept.

The content type is sniffed from the file's first bytes (PDF ``%PDF-``, PNG,
JPEG, ZIP and the Office formats inside a ZIP, Windows and Linux programs,
XML and plain text), never taken from the browser's header or the file name,
so a program renamed ``contract.pdf`` is seen as a program and refused by the
item's validator with a reason.

Accepted files go to object storage through Airflow's ``ObjectStoragePath``
under ``<storage root>/<onboarding key>/<item key>/<submission id>-<name>``: a
local folder by default (``file://``), ``s3://`` or ``gs://`` by configuration
(``portal.storage_root`` or ``ONBOARDING_PORTAL_STORAGE``; those backends need
their Airflow provider installed).
"""

from __future__ import annotations

import io
import re
import zipfile

from airflow.sdk import ObjectStoragePath

from include.onboarding.config import PortalSettings, portal_storage

OCTET_STREAM = "application/octet-stream"
_OOXML = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"MZ", "application/x-msdownload"),
    (b"\x7fELF", "application/x-executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # .doc/.xls 97-2003: cannot tell which
)


def sniff(data: bytes, filename: str = "") -> str:
    """The content type ``data`` really has, from its bytes; ``application/octet-stream`` when unknown.

    The file name is consulted only to tell CSV from other plain text, which no byte pattern can.
    """
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    if data.startswith(b"PK\x03\x04"):
        return _zip_type(data)
    head = data[:4096]
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml"):
        return "application/xml"
    if _is_text(head):
        return "text/csv" if filename.lower().endswith(".csv") else "text/plain"
    return OCTET_STREAM


def _zip_type(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return OCTET_STREAM
    if "[Content_Types].xml" in names:
        for prefix, content_type in _OOXML.items():
            if any(n.startswith(prefix) for n in names):
                return content_type
    return "application/zip"


def _is_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a multi-byte character cut by the 4 KB window
    return True


def storage_root(settings: PortalSettings) -> ObjectStoragePath:
    return ObjectStoragePath(portal_storage(settings))


def safe_name(filename: str) -> str:
    """The upload's base name, reduced to characters safe in any object store key."""
    base = re.split(r"[\\/]", filename.strip())[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or "document"
    return cleaned[:120]


def store(
    root: ObjectStoragePath, onboarding_key: str, item_key: str, submission_id: str, filename: str, data: bytes
) -> str:
    """Write one accepted file; return its URL (``file:///...``, ``s3://...``)."""
    target = root / safe_name(onboarding_key) / item_key / f"{submission_id}-{safe_name(filename)}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return str(target)


def read(url: str) -> bytes:
    return ObjectStoragePath(url).read_bytes()
