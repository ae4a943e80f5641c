"""Shared wording of reasons: the customer's words quoted back, lists, sizes, and what text may hold."""

from __future__ import annotations

import math
import re

from include.onboarding.validators.verdicts import MEGABYTE

# C0 controls other than tab, newline and carriage return, DEL, and lone surrogates:
# never meaningful in an answer, and some (NUL) cannot even be stored.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
WHITESPACE = re.compile(r"\s")
DEFAULT_DOMAIN = "example.com"


def quote(text: str, limit: int = 60) -> str:
    """The customer's own words, short enough to repeat back to them."""
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return f'"{short}"'


def join_or(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def megabytes(size: float) -> str:
    """Size in MB for people: one decimal at most, rounded up so an oversized file never reads as the limit."""
    text = f"{math.ceil(size / MEGABYTE * 10) / 10:.1f}"
    return text.removesuffix(".0")
