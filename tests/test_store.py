"""The onboarding store on real PostgreSQL: migrations are versioned and idempotent,
and the audit trail is append-only, enforced by the database itself."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from include.onboarding.store import (
    _MIGRATION_LOCK,
    BULK_ROWS,
    MIGRATIONS_DIR,
    Event,
    MigrationError,
    Store,
    available_migrations,
    connect_dsn,
    migrate,
)


def _table_names(store: Store) -> set[str]:
    rows = store.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'onboarding'")
    return {r["table_name"] for r in rows}


def test_migrations_apply_once_and_twice_changes_nothing(store: Store) -> None:
    # The fixture database is already migrated: a second run applies nothing.
    before = store.query("SELECT version, checksum, applied_at FROM onboarding.schema_migrations ORDER BY version")
    assert migrate(store.conn) == []
    after = store.query("SELECT version, checksum, applied_at FROM onboarding.schema_migrations ORDER BY version")
    assert before == after and len(after) >= 1
    assert {
        "onboardings", "checklist_items", "approvals", "setup_steps", "stage_history", "escalations",
        "quarantined_orders", "events", "intake_watermarks", "intake_batches",
    } <= _table_names(store)  # fmt: skip


def test_migrations_on_an_empty_database(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA onboarding, reporting CASCADE")
    with connect_dsn(database_url) as conn:
        assert migrate(conn) == [m.version for m in available_migrations()] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        assert migrate(conn) == []


def test_editing_an_applied_migration_is_refused(store: Store, tmp_path: Path) -> None:
    edited = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, edited)
    first = sorted(edited.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after release\n")
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        migrate(store.conn, edited)


def _append_event(store: Store) -> int:
    with store.transaction() as cur:
        Store.record_events(
            cur,
            [
                Event(
                    subject="hubspot-1",
                    event_type="test.recorded",
                    actor="tester",
                    occurred_at=datetime(2026, 11, 2, tzinfo=timezone.utc),
                    details={"n": 1},
                    dedupe_key="test:1",
                )
            ],
        )
    return int(store.scalar("SELECT id FROM onboarding.events WHERE dedupe_key = 'test:1'"))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE onboarding.events SET actor = 'someone else' WHERE id = %s",
        "DELETE FROM onboarding.events WHERE id = %s",
        "TRUNCATE onboarding.events",
    ],
    ids=["update", "delete", "truncate"],
)
def test_audit_events_cannot_be_changed_or_removed(store: Store, statement: str) -> None:
    event_id = _append_event(store)
    params: Any = (event_id,) if "%s" in statement else None
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        store.conn.execute(statement, params)
    row = store.query("SELECT actor FROM onboarding.events WHERE id = %s", (event_id,))
    assert row == [{"actor": "tester"}]


def test_an_event_is_recorded_once_per_dedupe_key(store: Store) -> None:
    _append_event(store)
    _append_event(store)
    assert store.scalar("SELECT count(*) FROM onboarding.events WHERE dedupe_key = 'test:1'") == 1


def _event(n: int, key: str | None) -> Event:
    return Event(
        subject=f"hubspot-{n}",
        event_type="test.bulk",
        actor="tester",
        occurred_at=datetime(2026, 11, 2, tzinfo=timezone.utc),
        details={"n": n, "text": 'tab\there, new\nline, back\\slash, quote " and {braces}'},
        dedupe_key=key,
    )


def test_many_events_are_appended_in_order_and_once_per_dedupe_key(store: Store) -> None:
    _append_event(store)  # test:1 is already recorded
    first = [_event(n, f"test:{n}") for n in range(1, 21)] + [_event(21, None), _event(5, "test:5")]
    second = [_event(n, f"test:{n}") for n in range(15, 35)]
    assert len(second) >= BULK_ROWS
    with store.transaction() as cur:  # the same scratch table twice in one transaction
        Store.record_events(cur, first)
        Store.record_events(cur, second)
    rows = store.query("SELECT details, dedupe_key FROM onboarding.events WHERE event_type = 'test.bulk' ORDER BY id")
    assert [r["details"]["n"] for r in rows] == [*range(2, 22), *range(21, 35)]
    assert rows[0]["details"]["text"] == first[0].details["text"]
    assert store.scalar("SELECT count(*) FROM onboarding.events WHERE dedupe_key = 'test:5'") == 1
    assert store.scalar("SELECT count(*) FROM onboarding.events WHERE dedupe_key IS NULL") == 1


def test_many_events_outside_a_transaction_are_all_appended(store: Store) -> None:
    assert store.conn.autocommit
    with store.conn.cursor() as cur:
        Store.record_events(cur, [_event(n, f"loose:{n}") for n in range(BULK_ROWS * 2)])
    rows = store.query("SELECT details FROM onboarding.events WHERE dedupe_key LIKE 'loose:%%' ORDER BY id")
    assert [r["details"]["n"] for r in rows] == list(range(BULK_ROWS * 2))


def test_an_up_to_date_schema_is_recognised_without_the_migration_lock(store: Store, database_url: str) -> None:
    # Another process holds the migration lock (it is migrating): a task opening the store must not wait for it.
    with psycopg.connect(database_url, autocommit=True) as other, other.transaction():
        other.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        store.conn.execute("SET statement_timeout = '2s'")
        try:
            assert migrate(store.conn) == []
        finally:
            store.conn.execute("RESET statement_timeout")
