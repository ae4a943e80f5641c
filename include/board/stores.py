"""Store connections for the board's page views.

The board runs inside Airflow's api-server, whose page handlers run in a
thread pool, so a few connections are shared: at most ``size`` at once, kept
open between views.  The ``onboarding_db`` connection is looked up on every
view; when it names another database (the connection was edited), the open
connections are dropped and the new database is migrated before first use.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from include.onboarding.connections import ONBOARDING_DB
from include.onboarding.store import Store, connect, connect_dsn, migrate


class StorePool:
    """Up to ``size`` connections to the onboarding store, handed out one view at a time."""

    def __init__(self, database_url: str | None = None, size: int = 4, conn_id: str = ONBOARDING_DB) -> None:
        self.database_url = database_url
        self.conn_id = conn_id
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[psycopg.Connection[Any]] = []
        self._identity: str | None = None
        self._migrated = False

    def _current_identity(self) -> str:
        if self.database_url:
            return self.database_url
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        return str(PostgresHook(postgres_conn_id=self.conn_id).get_uri())

    def _open(self) -> psycopg.Connection[Any]:
        return connect_dsn(self.database_url) if self.database_url else connect(self.conn_id)

    @contextmanager
    def store(self) -> Iterator[Store]:
        """A store for one page view; its connection goes back to the pool afterwards (unless it broke)."""
        identity = self._current_identity()
        with self._slots:
            with self._lock:
                if identity != self._identity:
                    self._close_idle()
                    self._identity, self._migrated = identity, False
                conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed or conn.broken:
                conn = self._open()
            with self._lock:
                if not self._migrated:
                    migrate(conn)
                    self._migrated = True
            try:
                yield Store(conn)
            finally:
                with self._lock:
                    if not (conn.closed or conn.broken) and identity == self._identity:
                        self._idle.append(conn)
                    else:
                        conn.close()

    def _close_idle(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    def close(self) -> None:
        with self._lock:
            self._close_idle()
