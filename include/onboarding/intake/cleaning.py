"""The edge: what the store can hold, and which failures belong to an order.

Any record can be staged: control characters and unpaired surrogates are made
visible symbols by :func:`clean_record`, with a problem naming each field
where that happened.  :func:`order_at_fault` tells a write refused because of
one order's values (set aside, the others proceed) from a failure of the store
itself (fails the pickup); :func:`error_text` is the one line a quarantine
reason quotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import psycopg

from include.onboarding.intake.orders import Problem

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
"""C0 control characters other than tab and newline: never part of an order, and NUL cannot be stored."""
_SURROGATE = re.compile(r"[\ud800-\udfff]")
"""Halves of a UTF-16 pair without their partner: not text, and not storable as UTF-8."""
_UNREADABLE = re.compile(r"[\x00-\x08\x0b-\x1f\ud800-\udfff]")
"""Either of the above: one pass tells whether a text needs cleaning at all."""
_C0_NAMES = (
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR", "SO", "SI",
    "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US",
)  # fmt: skip
REPLACEMENT = "\ufffd"
UNSTORABLE = "unstorable_record"
"""Key under which a record the store refused as JSON is kept, as Python's text of it."""


@dataclass
class _Unreadable:
    controls: set[str] = field(default_factory=set)
    surrogates: set[str] = field(default_factory=set)


def clean_record(record: Any) -> tuple[Any, list[Problem]]:
    """A copy of a CRM record that PostgreSQL can store and a person can read, and what had to change.

    Control characters (C0 except tab and newline) become their visible symbols
    (NUL becomes \u2400, BEL \u2407, ESC \u241b) and unpaired surrogates become
    \ufffd, in values and in property names alike.  Each field where that
    happened gets a problem naming it, so the order is quarantined with the
    cleaned copy as its record rather than failing the pickup or being lost.
    """
    found: dict[str, _Unreadable] = {}
    cleaned = _clean(record, (), found)
    problems = []
    for name, what in found.items():
        if what.controls:
            codes = sorted(what.controls)
            listed = ", ".join(f"U+{ord(c):04X} {_C0_NAMES[ord(c)]}" for c in codes)
            shown = " ".join(chr(0x2400 + ord(c)) for c in codes)
            problems.append(
                Problem(name, f"contains control characters ({listed}); the stored copy shows them as {shown}")
            )
        if what.surrogates:
            listed = ", ".join(f"U+{ord(c):04X}" for c in sorted(what.surrogates))
            problems.append(
                Problem(
                    name,
                    f"contains text that is not valid Unicode (unpaired surrogate {listed});"
                    f" the stored copy shows it as {REPLACEMENT}",
                )
            )
    return cleaned, problems


def _clean(value: Any, path: tuple[str | int, ...], found: dict[str, _Unreadable]) -> Any:
    if isinstance(value, str):
        return _clean_text(value, path, found) if _UNREADABLE.search(value) else value
    if isinstance(value, dict):
        cleaned = {}
        for k, v in value.items():  # the name first, then its value, as problems are listed
            name = str(k)
            key = _clean_text(name, (*path, name), found) if _UNREADABLE.search(name) else name
            # Most values are text with nothing to clean: kept without building their path.
            cleaned[key] = v if isinstance(v, str) and not _UNREADABLE.search(v) else _clean(v, (*path, name), found)
        return cleaned
    if isinstance(value, list):
        return [_clean(v, (*path, i), found) for i, v in enumerate(value)]
    return value


def _clean_text(text: str, path: tuple[str | int, ...], found: dict[str, _Unreadable]) -> str:
    controls = set(_CONTROL.findall(text))
    surrogates = set(_SURROGATE.findall(text))
    if not controls and not surrogates:
        return text
    what = found.setdefault(_field_name(path), _Unreadable())
    what.controls |= controls
    what.surrogates |= surrogates
    return clean_text(text)


def clean_text(text: str) -> str:
    """``text`` with control characters and unpaired surrogates made storable and visible (see :func:`clean_record`)."""
    text = _CONTROL.sub(lambda m: chr(0x2400 + ord(m.group())), text)
    return _SURROGATE.sub(REPLACEMENT, text)


def _field_name(path: tuple[str | int, ...]) -> str:
    """``("properties", "addons", 0)`` -> ``addons[0]``: properties by their own names, as in every reason."""
    if path[:1] == ("properties",) and len(path) > 1:
        path = path[1:]
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{clean_text(part)}" if name else clean_text(part))
    return name or "record"


def order_at_fault(exc: Exception) -> bool:
    """Whether a failed write is down to the values of the order being written, not to the store.

    PostgreSQL's data exceptions (SQLSTATE class 22: a number too large for its
    column, text it cannot hold...), integrity violations (23) and program limits
    (54: a value too large to index), and anything raised while turning a value
    into SQL, belong to the order: it is set aside and the others proceed.  A
    lost connection, a cancelled statement, a deadlock, a full disk or SQL the
    server does not understand belong to the store, and fail the pickup.
    """
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate is None:
            return isinstance(exc, psycopg.DataError)  # refused by psycopg before sending
        return exc.sqlstate[:2] in ("22", "23", "54")
    return True


def error_text(exc: BaseException) -> str:
    """One line saying what went wrong, fit for a quarantine reason."""
    if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        text = exc.diag.message_primary + (f" ({exc.diag.message_detail})" if exc.diag.message_detail else "")
    else:
        text = f"{type(exc).__name__}: {exc}"
    return clean_text(" ".join(text.split()))[:500]
