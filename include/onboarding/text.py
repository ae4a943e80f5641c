"""Text sent to vendors that limit lengths, and text Airflow shows as Markdown.

Vendors refuse a field over their limit (Jira's summary, Stripe's name, Slack's
block texts), so what we send is clipped with an ellipsis and the full text
stays where it fits: the onboarding store, the audit trail, a description.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """``text`` when it fits in ``limit`` characters; otherwise its start and an ellipsis, ``limit`` in all."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def markdown_text(text: str) -> str:
    """``text`` shown as itself in Markdown, on one line: a CRM's ``*ACME*`` is not bold, ``[x](y)`` no link.

    For text that Airflow renders as Markdown (run notes, the approvals' Required Actions page).
    """
    return _MARKDOWN.sub(r"\\\1", " ".join(text.split()))


def markdown_link(label: str, url: str) -> str:
    """A Markdown link to an ``http(s)`` or ``mailto`` URL; anything else is shown as text, not followed."""
    if not re.match(r"(?i)^(https?://|mailto:)", url):
        return markdown_text(label)
    safe = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")
    return f"[{markdown_text(label)}]({safe})"


def markdown_code(text: str) -> str:
    """``text`` as inline code, on one line (a backtick in it cannot end the span)."""
    return "`" + " ".join(text.replace("`", "'").split()) + "`"
