"""Text sent to vendors that limit lengths.

Vendors refuse a field over their limit (Jira's summary, Stripe's name, Slack's
block texts), so what we send is clipped with an ellipsis and the full text
stays where it fits: the onboarding store, the audit trail, a description.
"""

from __future__ import annotations

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """``text`` when it fits in ``limit`` characters; otherwise its start and an ellipsis, ``limit`` in all."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS
