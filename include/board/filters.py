"""The board list's filters, read from the query string and checked against the configuration.

A filter that names something unknown (a tier with no file, a stage that does
not exist, somebody not in the people directory) is refused with a message
that says which value and what would be accepted, never silently ignored: an
empty list must mean "no such accounts", not "a typo in the address".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from include.onboarding.config import OnboardingConfig, Stage
from include.onboarding.exceptions import BadFilter as BadFilter

OPEN_STAGES = tuple(s.value for s in Stage if s is not Stage.LIVE)
_YES = frozenset({"1", "on", "true", "yes"})
_NO = frozenset({"", "0", "off", "false", "no"})
_KNOWN = frozenset({"tier", "owner", "stage", "blocked", "at_risk", "page"})


@dataclass(frozen=True)
class Filters:
    tier: str | None = None
    owner: str | None = None
    """A person's email: accounts whose current stage they own, or whose named owner they are."""
    stage: str | None = None
    blocked: bool = False
    at_risk: bool = False
    page: int = 1

    @property
    def active(self) -> bool:
        return any((self.tier, self.owner, self.stage, self.blocked, self.at_risk))

    def query(self, **changes: Any) -> str:
        """The query string of these filters with ``changes`` (``page`` resets to 1 unless given)."""
        changed = replace(self, **({"page": 1} | changes))
        pairs = [
            (name, value)
            for name, value in (
                ("tier", changed.tier), ("owner", changed.owner), ("stage", changed.stage),
                ("blocked", "1" if changed.blocked else None), ("at_risk", "1" if changed.at_risk else None),
                ("page", str(changed.page) if changed.page > 1 else None),
            )
            if value
        ]  # fmt: skip
        return "?" + urlencode(pairs) if pairs else "?"


def parse(params: Mapping[str, str], config: OnboardingConfig) -> Filters:
    """Filters from a query string; raises :class:`BadFilter` naming the first value it cannot use."""
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise BadFilter(f"unknown filter {unknown[0]!r}; the board filters by {', '.join(sorted(_KNOWN))}")
    tier = _choice(params, "tier", sorted(config.tiers))
    stage = _choice(params, "stage", list(OPEN_STAGES))
    owner = (params.get("owner") or "").strip().lower() or None
    people = {p.email.lower(): p.email for p in config.settings.people}
    if owner is not None and owner not in people:
        raise BadFilter(f"owner {owner!r} is not in the people directory (settings.yaml); pick someone from the list")
    return Filters(
        tier=tier,
        owner=people[owner] if owner else None,
        stage=stage,
        blocked=_flag(params, "blocked"),
        at_risk=_flag(params, "at_risk"),
        page=_page(params.get("page")),
    )


def _choice(params: Mapping[str, str], name: str, allowed: list[str]) -> str | None:
    value = (params.get(name) or "").strip() or None
    if value is not None and value not in allowed:
        raise BadFilter(f"{name} {value!r} is not one of {', '.join(allowed)}")
    return value


def _flag(params: Mapping[str, str], name: str) -> bool:
    value = (params.get(name) or "").strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise BadFilter(f"{name} {params.get(name)!r} is neither on (1) nor off (0)")


def _page(value: str | None) -> int:
    if value is None or value.strip() == "":
        return 1
    if not value.strip().isdigit() or int(value) < 1:
        raise BadFilter(f"page {value!r} is not a page number (1, 2, ...)")
    return int(value)
