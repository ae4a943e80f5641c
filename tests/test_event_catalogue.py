"""Every event type the code writes or reads is in the one catalogue, ``include.onboarding.events``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from include.onboarding.events import EventType

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
PREFIXES = sorted({e.value.split(".")[0] for e in EventType})
# Strings of the same shape that are not event types: a template file name, a dedupe-key prefix.
NOT_EVENTS = {"checklist.html", "approval.decided"}
_LITERAL = re.compile(r"""["'](?P<name>(?:""" + "|".join(PREFIXES) + r""")\.[a-z_]+)["']""")
# Any literal given as an event type, whatever its prefix.
_GIVEN = re.compile(r"""event_type\s*=\s*f?["'](?P<name>[a-z_]+\.[a-z_]+)""")


def test_every_event_type_in_the_code_is_in_the_catalogue() -> None:
    unknown = {
        f"{path.relative_to(ROOT)}: {m.group('name')}"
        for folder in ("include", "dags", "plugins")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for pattern in (_LITERAL, _GIVEN)
        for m in pattern.finditer(path.read_text(encoding="utf-8"))
        if m.group("name") not in NOT_EVENTS and m.group("name") not in set(EventType)
    }
    assert unknown == set(), f"add these to include/onboarding/events.py (EventType): {sorted(unknown)}"


def test_the_scan_would_notice_a_new_event_type() -> None:
    assert _LITERAL.search('record(store, key, "gate.reopened", now)')
    assert _GIVEN.search('Event(event_type="census.taken", actor="system")')
    assert "gate.reopened" not in set(EventType)


def test_event_types_are_the_stored_strings() -> None:
    assert EventType.STAGE_ENTERED == "stage.entered"
    assert f"{EventType.ONBOARDING_LIVE}:k" == "onboarding.live:k"
