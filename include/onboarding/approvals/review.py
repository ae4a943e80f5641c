"""What an approver reads on the Required Actions page: the subject and the Markdown body.

The body names the account and the order, says what the approver is asked
and by when (the approvals stage's SLA, and when the request expires), then
lists every checklist item of the account with its status and the evidence
that was verified: the value the customer gave, a document's name, type, size
and SHA-256 with a link to it where the storage has one, a URL or a SAML
sign-in address as a link.  Everything that came from a customer or a CRM is
escaped, so it reads as text and never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from include.onboarding.approvals.timing import Timing
from include.onboarding.config import Approval, OnboardingConfig, TierConfig
from include.onboarding.lifecycle import Onboarding
from include.onboarding.store import SCHEMA, Store
from include.onboarding.text import clip, markdown_code, markdown_link, markdown_text

SUBJECT_CHARS = 200
NAME_CHARS = 300
VALUE_CHARS = 300
"""How much of one typed answer the page shows; the store keeps all of it."""


@dataclass(frozen=True)
class Evidence:
    key: str
    label: str
    item_type: str
    critical: bool
    status: str
    value: Any
    reason: str | None
    verified_at: Any
    document_url: str | None


def evidence(store: Store, onboarding_id: int) -> list[Evidence]:
    """Every checklist item of the account, in plan order, with the newest stored document of each."""
    rows = store.query(
        f"""SELECT c.item_key, c.label, c.item_type, c.critical, c.status, c.value, c.rejection_reason,
                   c.verified_at, d.storage_url
            FROM {SCHEMA}.checklist_items c
            LEFT JOIN LATERAL (
                SELECT storage_url FROM {SCHEMA}.documents
                WHERE onboarding_id = c.onboarding_id AND item_key = c.item_key
                ORDER BY uploaded_at DESC, id DESC LIMIT 1
            ) d ON true
            WHERE c.onboarding_id = %s ORDER BY c.id""",
        (onboarding_id,),
    )
    return [
        Evidence(r["item_key"], r["label"], r["item_type"], r["critical"], r["status"], r["value"],
                 r["rejection_reason"], r["verified_at"], r["storage_url"])
        for r in rows
    ]  # fmt: skip


def subject(onboarding: Onboarding, tier: TierConfig, approval: Approval) -> str:
    name = clip(" ".join(onboarding.account_name.split()), 120)
    return clip(f"{approval.label}: {name} ({tier.display_name}, {onboarding.region})", SUBJECT_CHARS)


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(n, 0) / 1024:.0f} KB"


def shown_value(item: Evidence) -> str:
    """The verified value as evidence, with a link where there is one."""
    value = item.value
    if isinstance(value, dict) and "filename" in value:
        parts = [str(value.get("content_type") or "unknown type"), _size(int(value.get("size_bytes") or 0))]
        if value.get("sha256"):
            parts.append(f"SHA-256 {markdown_code(str(value['sha256'])[:16])}…")
        name, url = str(value["filename"]), item.document_url or ""
        web = url.startswith(("https://", "http://"))
        shown = markdown_link(name, url) if web else markdown_text(name)
        stored = f", stored at {markdown_code(url)}" if url and not web else ""
        return f"{shown} ({', '.join(parts)}){stored}"
    if isinstance(value, dict) and "entity_id" in value:
        sso = str(value.get("sso_url") or "")
        return (
            f"identity provider {markdown_code(str(value['entity_id']))}"
            + (f", sign-in at {markdown_link(sso, sso)}" if sso else "")
            + (f", certificate SHA-256 {markdown_code(str(value.get('certificate_sha256'))[:16])}…"
               if value.get("certificate_sha256") else "")
        )  # fmt: skip
    if isinstance(value, str):
        text = clip(value, VALUE_CHARS)
        if item.item_type == "url":
            return markdown_link(text, value)
        if item.item_type == "email":
            return markdown_link(text, f"mailto:{value}")
        return markdown_code(text) if item.item_type in ("domain", "vat_id", "tax_id") else markdown_text(text)
    return "recorded" if value is not None else "no value recorded"


def item_line(item: Evidence) -> str:
    label = f"**{markdown_text(item.label)}**" + (" (critical)" if item.critical else "")
    if item.status == "verified":
        when = f" on {item.verified_at:%d %b %Y}" if item.verified_at else ""
        return f"- {label}: verified{when}: {shown_value(item)}"
    if item.status == "rejected":
        return f"- {label}: **not accepted**: {markdown_text(clip(item.reason or 'no reason recorded', VALUE_CHARS))}"
    if item.status == "waived":
        return f"- {label}: waived"
    return f"- {label}: **{item.status}**, nothing verified yet"


def body(
    store: Store,
    config: OnboardingConfig,
    onboarding: Onboarding,
    tier: TierConfig,
    approval: Approval,
    approver: str,
    escalate_to: str,
    timing: Timing,
) -> str:
    """The Markdown the approver reads before deciding."""
    order = store.query(
        f"SELECT order_number, currency, partner_name FROM {SCHEMA}.onboardings WHERE id = %s", (onboarding.id,)
    )[0]
    items = evidence(store, onboarding.id)
    verified = sum(1 for i in items if i.status == "verified")
    people = config.settings.people_by_email
    owner = people.get(onboarding.owner_email)
    facts = [tier.display_name, onboarding.region]
    if onboarding.segment:
        facts.append(onboarding.segment)
    if onboarding.amount is not None:
        facts.append(f"{onboarding.amount:,.2f} {order['currency'] or ''}".strip())
    if order["order_number"]:
        facts.append(f"order {order['order_number']}")
    if order["partner_name"]:
        facts.append(f"via {order['partner_name']}")
    lines = [
        f"### {markdown_text(clip(onboarding.account_name, NAME_CHARS))}",
        "",
        " · ".join(markdown_text(str(f)) for f in facts),
        "",
        f"Onboarding {markdown_code(onboarding.key)}, signed {onboarding.signed_at:%d %b %Y}, activation target"
        f" **{onboarding.activation_target:%a %d %b %Y}**; onboarding owner"
        f" {markdown_text(owner.name if owner else onboarding.owner_email)}.",
        "",
        f"**You are asked**: {markdown_text(approval.label)}, as the holder of the"
        f" {markdown_text(approval.approver_role.replace('_', ' '))} role for {markdown_text(onboarding.region)}"
        f" ({markdown_text(approver)}).",
        "",
        f"**Decide by {timing.local(timing.due_at)}**: the approvals stage's SLA is {timing.sla_text}. Unanswered,"
        f" this request expires {timing.local(timing.expires_at)} ({timing.timeout_text} after it was asked)"
        f" and is escalated.",
        "",
        f"#### What to check: {verified} of {len(items)} checklist items verified",
        "",
        *(item_line(i) for i in items),
        "",
        "#### Deciding",
        "",
        "**Approve** lets setup start once every approval is in. **Reject** holds the readiness gate: say in the"
        f" comment what must change, and {markdown_text(escalate_to)} is told at once, with your words. A"
        " rejected approval is asked again when its task is cleared.",
    ]
    return "\n".join(lines)
