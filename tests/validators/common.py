"""What the validator tests share: accounts, items, and checks of a verdict's shape."""

from __future__ import annotations

import json
from typing import Any

from include.onboarding.config import ChecklistItem, DocumentRules, InputType
from include.onboarding.validators import AccountContext, DocumentMeta, Submission, Verdict, validate

GB = AccountContext(region="EMEA", country="GB", company_domain="acme.co.uk")
DE = AccountContext(region="EMEA", country="DE", company_domain="globex.de")
UNKNOWN = AccountContext(region="EMEA")
US = AccountContext(region="NA", country="US", company_domain="initech.com")

PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MB = 1024 * 1024


def item(kind: str, **options: Any) -> ChecklistItem:
    return ChecklistItem(key="answer", label="Your answer", type=InputType(kind), **options)


DPA = item("document", document=DocumentRules(content_types=[PDF], max_mb=20))
SHEET = item("document", document=DocumentRules(content_types=[PDF, XLSX], max_mb=20))
RESIDENCY = item("choice", choices=["us", "eu", "au"])


def check(
    checklist_item: ChecklistItem,
    value: str | None = None,
    document: DocumentMeta | None = None,
    account: AccountContext = GB,
) -> Verdict:
    verdict = validate(checklist_item, Submission(item_key=checklist_item.key, value=value, document=document), account)
    if verdict.ok:
        json.dumps(verdict.value)  # always storable as JSON
    return verdict


def accepted(verdict: Verdict) -> Any:
    assert verdict.ok, verdict.reason
    assert verdict.reason is None
    return verdict.value


def rejected(verdict: Verdict, *phrases: str) -> str:
    """The reason, after checking it is a rejection that tells the customer what to send."""
    assert not verdict.ok, f"accepted {verdict.value!r}"
    assert verdict.value is None
    reason = verdict.reason
    assert reason
    assert "Please" in reason, reason
    for phrase in phrases:
        assert phrase in reason, f"{phrase!r} not in {reason!r}"
    return reason
