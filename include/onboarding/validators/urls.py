"""Web addresses: https only, without credentials, the host checked as a domain name."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from include.onboarding.config import ChecklistItem
from include.onboarding.validators.domains import ascii_host, example_domain
from include.onboarding.validators.verdicts import AccountContext, Refused, Verdict
from include.onboarding.validators.wording import WHITESPACE, quote


def wanted(item: ChecklistItem, account: AccountContext) -> str:
    return f"a web address starting with https://, for example https://www.{example_domain(account)}/"


def url(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    what = wanted(item, account)
    if WHITESPACE.search(text):
        raise Refused(f"This web address contains spaces. Please send {what}.")
    if "://" not in text or text.startswith("://"):
        if re.fullmatch(r"[^\W_][\w.-]*\.[^\W\d_]{2,}(/\S*)?", text):
            example = quote("https://" + text)
        else:
            example = f"https://www.{example_domain(account)}/"
        raise Refused(
            f"{quote(text)} is missing the https:// at the start. Please send the full address, for example {example}."
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise Refused(f"{quote(text)} is not a valid web address. Please send {what}.") from None
    scheme = parts.scheme.lower()
    if parts.username is not None or parts.password is not None:
        # Never repeat the address back: it holds a password.
        raise Refused(
            "This web address contains a user name or password. Please remove them and send the address "
            "alone, starting with https://; we will ask for any sign-in details separately."
        )
    if scheme == "http" and parts.hostname:
        secure = "https" + text[len(parts.scheme) :]
        raise Refused(
            f"{quote(text)} uses http://, which is not secure. Please send the https:// address of the same "
            f"page, for example {quote(secure)}."
        )
    if scheme not in ("http", "https"):
        raise Refused(f"{quote(text)} is not a web page address (it starts with {scheme}:). Please send {what}.")
    if not parts.hostname:
        raise Refused(f"{quote(text)} has no site name after the {scheme}://. Please send {what}.")
    try:
        host = ascii_host(parts.hostname)
    except Refused as problem:
        raise Refused(f"The site name in {quote(text)} is not usable: {problem.reason}. Please send {what}.") from None
    netloc = host if port in (None, 443) else f"{host}:{port}"
    return Verdict.accept(urlunsplit(("https", netloc, parts.path, parts.query, parts.fragment)))
