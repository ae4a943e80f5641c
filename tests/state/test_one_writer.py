"""Only ``include/onboarding/state`` writes an account's stage, owners, status and stage history.

The scan reads every module's source for SQL that writes those columns or tables,
and for the stage events recorded anywhere else.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
OWNER = ROOT / "include" / "onboarding" / "state"
SCANNED = [ROOT / "include", ROOT / "dags", ROOT / "plugins"]

STATE_COLUMNS = (
    "stage", "stage_owner_email", "stage_entered_at", "status", "owner_email", "post_owner_email", "live_at",
    "blocked_reason",
)  # fmt: skip
STAGE_EVENTS = ("stage.entered", "ownership.handed_off", "onboarding.live", "onboarding.blocked")

_TABLE = r"(?:\{SCHEMA\}|onboarding)\."
_UPDATE_ONBOARDINGS = re.compile(
    rf"UPDATE\s+{_TABLE}onboardings\b(?:\s+\w+)?\s+SET\s+(?P<set>.*?)(?:\bFROM\b|\bWHERE\b|\"\"\"|\"\s*,|$)",
    re.IGNORECASE | re.DOTALL,
)
_OTHER_WRITES = re.compile(
    rf"(?:INSERT\s+INTO|DELETE\s+FROM)\s+{_TABLE}(?:onboardings|stage_history)\b|UPDATE\s+{_TABLE}stage_history\b",
    re.IGNORECASE,
)
_STAGE_EVENT = re.compile(
    # Python strings (double quotes, as formatted), not SQL literals that only read the events.
    r'(?:event_type\s*=\s*|record\([^)]*?)"(?:' + "|".join(map(re.escape, STAGE_EVENTS)) + r')"',
    re.DOTALL,
)


def violations(source: str) -> list[str]:
    """What in ``source`` writes account state: the offending SQL or event, shortened."""
    found = []
    for match in _UPDATE_ONBOARDINGS.finditer(source):
        assigned = re.findall(r"(\w+)\s*=", match.group("set"))
        if set(assigned) & set(STATE_COLUMNS):
            found.append(" ".join(match.group(0).split())[:120])
    found += [" ".join(m.group(0).split()) for m in _OTHER_WRITES.finditer(source)]
    found += [" ".join(m.group(0).split())[:120] for m in _STAGE_EVENT.finditer(source)]
    return found


def test_the_scan_finds_each_kind_of_state_write() -> None:
    assert violations('f"UPDATE {SCHEMA}.onboardings SET stage = %s WHERE id = %s"')
    assert violations('f"""UPDATE {SCHEMA}.onboardings o SET blocked_reason = %s\n FROM x"""')
    assert violations('f"INSERT INTO {SCHEMA}.stage_history (onboarding_id) VALUES (%s)"')
    assert violations("INSERT INTO onboarding.onboardings (onboarding_key) VALUES ('k')")
    assert violations('Event(subject=key, event_type="stage.entered", actor=a)')
    assert violations('lifecycle.record(store, key, "onboarding.live", now, ACTOR, {}, dedupe=d)')
    assert not violations('f"UPDATE {SCHEMA}.onboardings SET run_id = %s WHERE onboarding_key = %s"')
    assert not violations("SELECT stage FROM onboarding.onboardings WHERE event_type = 'stage.entered'")


def test_no_module_but_the_state_package_writes_account_state() -> None:
    offenders = {
        str(path.relative_to(ROOT)): found
        for folder in SCANNED
        for path in sorted(folder.rglob("*.py"))
        if OWNER not in path.parents and (found := violations(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, f"only include/onboarding/state may write account state; ask it instead: {offenders}"


def test_the_intakes_update_of_running_accounts_leaves_their_state_alone() -> None:
    from include.onboarding.intake import writes

    assert {name for name, _ in writes._CHANGED.columns} & set(STATE_COLUMNS) == set()
