"""The onboarding store: PostgreSQL, reached through the ``onboarding_db`` connection.

Every task reads state here, acts, and records the result here, so any task can
be retried or cleared: writes are upserts keyed by natural keys, and audit
events carry a dedupe key so a retried step records its event once.

Schema changes are numbered SQL files in ``migrations/``.  :func:`migrate`
applies the missing ones in order under an advisory lock (two processes
starting at once cannot both apply a file) and refuses to run if an applied
file was edited afterwards.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import psycopg
from psycopg import pq
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from include.onboarding.connections import ONBOARDING_DB
from include.onboarding.exceptions import MigrationError as MigrationError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA = "onboarding"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 727_001  # pg_advisory_xact_lock key shared by every migrating process


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = re.fullmatch(r"(\d{4})_([a-z0-9_]+)\.sql", path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_description.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration numbers in {directory}")
    return found


def connect(conn_id: str = ONBOARDING_DB) -> psycopg.Connection[Any]:
    """Open a connection through the Airflow connection ``conn_id`` (PostgresHook)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
    if not isinstance(conn, psycopg.Connection):
        raise RuntimeError(
            "the onboarding store needs psycopg 3 behind PostgresHook (SQLAlchemy 2 and psycopg installed)"
        )
    conn.autocommit = True
    return conn


def connect_dsn(dsn: str) -> psycopg.Connection[Any]:
    """Open a connection from a libpq URL (local tooling, before Airflow is configured)."""
    return psycopg.connect(dsn, autocommit=True)


def migrate(conn: psycopg.Connection[Any], directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply missing migrations; return the versions applied now (empty when up to date).

    Every task process calls this when it opens the store, so an up-to-date schema is
    recognised by one read, without the lock that serialises migrating processes."""
    migrations = available_migrations(directory)
    if _up_to_date(conn, migrations):
        return []
    applied_now: list[int] = []
    for migration in migrations:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            cur.execute(
                f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations (
                        version integer PRIMARY KEY,
                        name text NOT NULL,
                        checksum text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            cur.execute(f"SELECT checksum FROM {SCHEMA}.schema_migrations WHERE version = %s", (migration.version,))
            row = cur.fetchone()
            if row is not None:
                if row[0] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} was changed after it was applied;"
                        " add a new migration instead of editing an applied one"
                    )
                continue
            cur.execute(migration.sql.encode())
            cur.execute(
                f"INSERT INTO {SCHEMA}.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied_now.append(migration.version)
    return applied_now


def _up_to_date(conn: psycopg.Connection[Any], migrations: list[Migration]) -> bool:
    """Whether every migration is applied with the checksum it has here (a changed one falls through to the check
    under the lock, which names it)."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.schema_migrations",))
        row = cur.fetchone()
        if row is None or not row[0]:
            return False
        cur.execute(f"SELECT version, checksum FROM {SCHEMA}.schema_migrations")
        applied: dict[int, str] = dict(cur.fetchall())
    return all(applied.get(m.version) == m.checksum for m in migrations)


def fingerprint(value: Any) -> str:
    """A stable hash of a JSON-able value (key order does not matter)."""
    return text_fingerprint(canonical_json(value))


def canonical_json(value: Any) -> str:
    """The JSON text :func:`fingerprint` hashes: keys sorted, a value JSON has no type for as its ``str()``."""
    return json.dumps(value, sort_keys=True, default=str)


def text_fingerprint(text: str) -> str:
    """:func:`fingerprint` of a value, from its :func:`canonical_json` text."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Event:
    """One line of the audit trail."""

    subject: str
    event_type: str
    actor: str
    occurred_at: datetime
    details: dict[str, Any]
    onboarding_id: int | None = None
    stage: str | None = None
    stage_owner: str | None = None
    dedupe_key: str | None = None


class Store:
    """Typed access to the onboarding schema over one psycopg connection."""

    def __init__(self, conn: psycopg.Connection[Any]):
        self.conn = conn

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        with self.conn.transaction(), self.conn.cursor(row_factory=dict_row) as cur:
            yield cur

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql.encode() if not params else sql, params or None)
            return cur.fetchall() if cur.description else []

    def frame(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> pd.DataFrame:
        """A query's rows as a pandas DataFrame (column names from the query)."""
        import pandas as pd  # only the reporting and escalation passes need it

        with self.conn.cursor() as cur:
            cur.execute(sql.encode() if not params else sql, params or None)
            names = [d.name for d in cur.description or ()]
            return cast(pd.DataFrame, pd.DataFrame.from_records(cur.fetchall(), columns=names))

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        rows = self.query(sql, params)
        return next(iter(rows[0].values())) if rows else None

    # -- audit trail ----------------------------------------------------------------------

    @staticmethod
    def record_events(cur: psycopg.Cursor[Any], events: Sequence[Event]) -> int:
        """Append events; ones whose dedupe key was already recorded are skipped.

        A few (or any number outside a transaction) are inserted as they are;
        more are copied into a scratch table and appended by one
        ``INSERT ... SELECT`` in the order given.  Either way it is an INSERT
        only: the audit trail is append-only.
        """
        if not events:
            return 0
        rows = [
            (
                e.occurred_at,
                e.onboarding_id,
                e.subject,
                e.event_type,
                e.stage,
                e.stage_owner,
                e.actor,
                Jsonb(e.details),
                e.dedupe_key,
            )
            for e in events
        ]
        columns = ", ".join(_EVENT_COLUMNS)
        if len(rows) < BULK_ROWS or not Scratch.usable(cur):
            cur.executemany(
                f"""INSERT INTO {SCHEMA}.events ({columns})
                    VALUES ({", ".join(["%s"] * len(_EVENT_COLUMNS))})
                    ON CONFLICT (dedupe_key) DO NOTHING""",
                rows,
            )
            return len(events)
        _NEW_EVENTS.load(cur, ((n, *row) for n, row in enumerate(rows)))
        cur.execute(
            f"""INSERT INTO {SCHEMA}.events ({columns})
                SELECT {columns} FROM pg_temp.{_NEW_EVENTS.name} ORDER BY seq
                ON CONFLICT (dedupe_key) DO NOTHING"""
        )
        return len(events)

    def events_for(self, subject: str) -> list[dict[str, Any]]:
        return self.query(
            f"SELECT * FROM {SCHEMA}.events WHERE subject = %s ORDER BY occurred_at, id",
            (subject,),
        )


# --------------------------------------------------------------------------- set-based writes

BULK_ROWS = 8
"""From this many rows on, a write goes through a :class:`Scratch` table instead of one statement per row."""


@dataclass(frozen=True)
class Scratch:
    """A temporary table of the connection that rows are copied into, so that one statement can write them all.

    A set-based write is a ``COPY`` into it, then one ``INSERT ... SELECT``
    (or ``UPDATE ... FROM``) from it.  It is created on first use, emptied by
    every load and at every commit, and seen by this connection only, so two
    writers never share one.  ``seq`` is its first column: the position of each
    row as given, for statements that keep that order.
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    """(name, type) of each column after ``seq``, in the order rows give them."""

    @staticmethod
    def usable(cur: psycopg.Cursor[Any]) -> bool:
        """Whether ``cur`` is inside a transaction, where what is loaded stays until the statement reading it."""
        conn = cur.connection
        return not (conn.autocommit and conn.info.transaction_status == pq.TransactionStatus.IDLE)

    def load(self, cur: psycopg.Cursor[Any], rows: Iterable[Sequence[Any]]) -> None:
        """Replace the table's rows with ``rows`` (each ``seq`` first, then the columns) in one COPY.

        Only inside a transaction (see :meth:`usable`): in autocommit each
        statement would commit, and the rows would be gone before they are read.
        """
        if not self.usable(cur):
            raise RuntimeError(f"scratch table {self.name} loaded outside a transaction: its rows would not last")
        ddl = ", ".join(f"{name} {kind}" for name, kind in (("seq", "integer"), *self.columns))
        cur.execute(
            f"""CREATE TEMPORARY TABLE IF NOT EXISTS {self.name} ({ddl}) ON COMMIT DELETE ROWS;
                DELETE FROM pg_temp.{self.name}""".encode()
        )
        names = ", ".join(["seq", *(name for name, _ in self.columns)])
        with cur.copy(f"COPY pg_temp.{self.name} ({names}) FROM STDIN".encode()) as copy:
            for row in rows:
                copy.write_row(row)


_EVENT_COLUMNS = (
    "occurred_at", "onboarding_id", "subject", "event_type", "stage", "stage_owner", "actor", "details", "dedupe_key",
)  # fmt: skip
_NEW_EVENTS = Scratch(
    "store_new_events",
    (
        ("occurred_at", "timestamptz"), ("onboarding_id", "bigint"), ("subject", "text"), ("event_type", "text"),
        ("stage", "text"), ("stage_owner", "text"), ("actor", "text"), ("details", "jsonb"), ("dedupe_key", "text"),
    ),
)  # fmt: skip
