"""Domain names: IDNA-encoded by ``idna`` (UTS #46), stored lower-case without scheme, path or ``www.``."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import idna

from include.onboarding.config import ChecklistItem
from include.onboarding.validators.verdicts import AccountContext, Refused, Verdict
from include.onboarding.validators.wording import DEFAULT_DOMAIN, WHITESPACE, quote


def wanted(item: ChecklistItem, account: AccountContext) -> str:
    return f"the domain name only, for example {example_domain(account)}"


def example_domain(account: AccountContext) -> str:
    """The account's own domain when we have a sound one, for examples the customer recognises."""
    if account.company_domain:
        try:
            return domain_from_text(account.company_domain)
        except Refused:
            pass
    return DEFAULT_DOMAIN


def _explain_bad_host(host: str) -> str:
    """Plain words for why ``idna`` refused a host name (the library decides; this only explains)."""
    labels = host.split(".")
    if any(not label for label in labels):
        return "it has an empty part between two dots"
    if any(len(label) > 63 for label in labels):
        return "one part between the dots is longer than 63 characters"
    if any(label.startswith("-") or label.endswith("-") for label in labels):
        return "a part between the dots starts or ends with a hyphen"
    if len(host) > 253:
        return "it is longer than 253 characters"
    return "it contains characters a domain name cannot have (only letters, digits and hyphens, separated by dots)"


def ascii_host(host: str) -> str:
    """A registrable host name, IDNA-encoded and lower-case; rejects with the problem in plain words."""
    host = host.strip()
    host = host[:-1] if host.endswith(".") else host
    if not host:
        raise Refused("it is empty")
    try:
        encoded = idna.encode(host, uts46=True, std3_rules=True).decode("ascii")
    except UnicodeError:
        raise Refused(_explain_bad_host(host)) from None
    labels = encoded.split(".")
    if len(labels) < 2:
        raise Refused("it needs at least one dot, like example.com")
    if len(encoded) > 253:
        raise Refused("it is longer than 253 characters")
    tld = labels[-1]
    if tld.isdigit():
        raise Refused("it is an IP address, not a domain name")
    if not re.fullmatch(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}", tld):
        raise Refused(f"it does not end in a real top-level domain such as .com (it ends in .{tld})")
    return encoded


def domain_from_text(text: str) -> str:
    """The registrable domain in ``text``: scheme, path, port, ``www.`` and a trailing dot removed."""
    if "@" in text:
        raise Refused("it looks like an email address; send only the part after the @")
    if WHITESPACE.search(text):
        raise Refused("it contains spaces")
    try:
        host = urlsplit(text if "://" in text else "//" + text).hostname
    except ValueError:
        host = None
    if not host:
        raise Refused("it has no domain name in it")
    if host.startswith("www.") and host.rstrip(".").count(".") >= 2:
        host = host[len("www.") :]
    return ascii_host(host)


def domain(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    try:
        return Verdict.accept(domain_from_text(text))
    except Refused as problem:
        raise Refused(
            f"{quote(text)} is not a usable domain name: {problem.reason}. Please send {wanted(item, account)}."
        ) from None
