"""The store's vocabulary matches what the database allows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from include.onboarding.constants import (
    FINISHED_STEP_SQL,
    SETTLED,
    SETTLED_SQL,
    AccountStatus,
    ApprovalStatus,
    EscalationStatus,
    ItemStatus,
    OutboxStatus,
    QuarantineStatus,
    StepStatus,
    is_settled,
    sql_list,
)

pytestmark = pytest.mark.unit

MIGRATIONS = Path(__file__).resolve().parents[1] / "include/onboarding/migrations"
FIRST_MIGRATION = MIGRATIONS / "0001_onboarding_store.sql"


def _allowed(table: str, column: str = "status", migration: Path = FIRST_MIGRATION) -> set[str]:
    sql = migration.read_text(encoding="utf-8")
    body = sql[sql.index(f"CREATE TABLE onboarding.{table} ") :]
    found = re.search(rf"CHECK \({column} IN \(([^)]*)\)\)", body)
    assert found, f"no CHECK on {table}.{column}"
    return set(re.findall(r"'([a-z_]+)'", found.group(1)))


@pytest.mark.parametrize(
    ("table", "enum"),
    [
        ("onboardings", AccountStatus),
        ("checklist_items", ItemStatus),
        ("approvals", ApprovalStatus),
        ("setup_steps", StepStatus),
        ("escalations", EscalationStatus),
    ],
)
def test_each_status_enum_is_exactly_what_its_table_allows(table: str, enum: type) -> None:
    assert {m.value for m in enum} == _allowed(table)


def test_quarantine_and_outbox_statuses_are_exactly_what_their_tables_allow() -> None:
    assert {m.value for m in QuarantineStatus} == _allowed("quarantined_orders")
    assert {m.value for m in OutboxStatus} == _allowed("outbox", migration=MIGRATIONS / "0008_portal.sql")


def test_an_item_is_settled_when_verified_or_waived_and_the_sql_says_the_same() -> None:
    assert [s for s in ItemStatus if is_settled(s)] == [ItemStatus.VERIFIED, ItemStatus.WAIVED]
    assert not is_settled("rejected") and is_settled("waived")
    assert "(" + ", ".join(f"'{s}'" for s in SETTLED) + ")" == SETTLED_SQL


def test_sql_list_renders_constants_as_an_sql_list_and_refuses_anything_else() -> None:
    assert sql_list(StepStatus.DONE, StepStatus.SKIPPED) == "('done', 'skipped')" == FINISHED_STEP_SQL
    assert sql_list("open") == "('open')"
    assert f"status = '{StepStatus.IN_PROGRESS}'" == "status = 'in_progress'"
    with pytest.raises(ValueError):
        sql_list()
    with pytest.raises(ValueError):
        sql_list("it's")
