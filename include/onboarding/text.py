"""Text sent to vendors that limit lengths.

Vendors refuse a field over their limit (Jira's summary, Stripe's name, Slack's
block texts), so what we send is clipped with an ellipsis and the full text
stays where it fits: the onboarding store, the audit trail, a description.
"""

from __future__ import annotations

ELLIPSIS = "…"


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in an ellipsis when cut."""
    if limit < 1:
        raise ValueError(f"a length limit must be positive, not {limit}")
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS
