"""The triggerer's side of the checklist sensors: wait cheaply for something to judge.

A customer may take weeks to answer.  Holding a worker slot, or waking a task
every few minutes, for each item of each account does not scale to hundreds of
accounts, so ``wait_for_input`` defers to :class:`ChecklistItemTrigger`, which
runs in Airflow's triggerer (one event loop for thousands of them).  It only
*looks*; the task does the work when it wakes: it fetches the submissions,
validates them, records verdicts and re-requests, exactly as before.

The trigger fires when one of these is true:

* the forms portal holds a submission for the item that the store has not
  recorded yet (new, or corrected after a rejection);
* the item is settled in the store (verified, or waived by a person);
* the item is a nice-to-have and every critical item of the account is in.

A failed look (portal or database unreachable) is logged and tried again at the
next interval; the sensor's own timeout still ends the wait.  This module is
imported by the triggerer by class path, so it lives in the importable
``include`` package, not in a DAG file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

_LOOK = """
SELECT c.status, c.critical,
       (SELECT count(*) FROM onboarding.checklist_items o
         WHERE o.onboarding_id = c.onboarding_id AND o.critical
           AND o.status NOT IN ('verified', 'waived')) AS critical_outstanding,
       ARRAY(SELECT s.submission_id FROM onboarding.submissions s
              WHERE s.onboarding_id = c.onboarding_id AND s.item_key = c.item_key) AS recorded
FROM onboarding.checklist_items c
JOIN onboarding.onboardings b ON b.id = c.onboarding_id
WHERE b.onboarding_key = %s AND c.item_key = %s
"""

# One database connection per event loop and database, shared by every trigger of the loop:
# a triggerer holding a connection per waiting item would exhaust the server's connections.
_connections: dict[tuple[int, str], Any] = {}


async def _store_connection(conn_id: str) -> Any:
    import psycopg
    from airflow.sdk import BaseHook

    conn = await BaseHook.aget_connection(conn_id)
    dsn = psycopg.conninfo.make_conninfo(
        host=conn.host or "localhost",
        port=conn.port or 5432,
        user=conn.login or "",
        password=conn.password or "",
        dbname=conn.schema or "postgres",
    )
    key = (id(asyncio.get_running_loop()), dsn)
    cached = _connections.get(key)
    if cached is not None and not cached.closed and not cached.broken:
        return cached
    connection = await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=10)
    _connections[key] = connection
    return connection


class ChecklistItemTrigger(BaseTrigger):
    """Fires when one checklist item of one account has something new to judge, or is settled."""

    def __init__(
        self,
        onboarding_key: str,
        item_key: str,
        request_id: str,
        poll_seconds: float,
        give_up_at: str | None = None,
        db_conn_id: str = "onboarding_db",
        forms_conn_id: str = "forms_api",
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.onboarding_key = onboarding_key
        self.item_key = item_key
        self.request_id = request_id
        self.poll_seconds = poll_seconds
        self.give_up_at = give_up_at
        self.db_conn_id = db_conn_id
        self.forms_conn_id = forms_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "onboarding_key": self.onboarding_key,
                "item_key": self.item_key,
                "request_id": self.request_id,
                "poll_seconds": self.poll_seconds,
                "give_up_at": self.give_up_at,
                "db_conn_id": self.db_conn_id,
                "forms_conn_id": self.forms_conn_id,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        give_up = datetime.fromisoformat(self.give_up_at) if self.give_up_at else None
        while True:
            try:
                why = await self.look()
            except Exception as exc:  # the task does the real work; a failed look is tried again
                self.log.warning("checklist item %s/%s: could not look (%s)", self.onboarding_key, self.item_key, exc)
                why = None
            if why:
                yield self._event(why)
                return
            wait = self.poll_seconds
            if give_up is not None:
                left = (give_up - datetime.now(timezone.utc)).total_seconds()
                if left <= 0:
                    # The triggerer enforces the sensor's timeout too; this also ends the wait
                    # where triggers run inline (``dag.test``), which knows no timeouts.
                    yield self._event("gave up waiting", timed_out=True)
                    return
                wait = min(wait, left)
            await asyncio.sleep(wait)

    def _event(self, why: str, timed_out: bool = False) -> TriggerEvent:
        payload = {"onboarding_key": self.onboarding_key, "item_key": self.item_key, "why": why}
        return TriggerEvent({**payload, "timed_out": True} if timed_out else payload)  # type: ignore[no-untyped-call]

    async def look(self) -> str | None:
        """Why the task should wake now, or None to keep waiting."""
        connection = await _store_connection(self.db_conn_id)
        cursor = await connection.execute(_LOOK, (self.onboarding_key, self.item_key))
        row = await cursor.fetchone()
        if row is None:
            return "the item is not in the store (the task reports why)"
        status, critical, critical_outstanding, recorded = row
        if status in ("verified", "waived"):
            return f"the item is {status}"
        if not critical and critical_outstanding == 0:
            return "every critical item is in"
        new = [i for i in await self._submission_ids() if i not in set(recorded)]
        return f"{len(new)} new submission(s)" if new else None

    async def _submission_ids(self) -> list[str]:
        """Ids of every submission the portal holds for the item, through the same connection the task uses."""
        from airflow.providers.http.hooks.http import HttpAsyncHook
        from airflow.sdk import BaseHook

        from include.onboarding.checklist import REQUESTS, _items
        from include.onboarding.http import bearer_header

        headers = bearer_header(await BaseHook.aget_connection(self.forms_conn_id))
        ids: list[str] = []
        params: dict[str, Any] = {"item_key": self.item_key, "limit": 100}
        async with HttpAsyncHook(method="GET", http_conn_id=self.forms_conn_id).session() as portal:
            for _ in range(100):  # as the task pages: a hundred pages for one item is already absurd
                response = await portal.run(
                    endpoint=f"{REQUESTS}/{self.request_id}/submissions", data=params, headers=headers
                )
                body = await response.json()
                ids += [str(s.get("id")) for s in _items(body)]
                cursor = body.get("next_cursor")
                if not cursor:
                    break
                params["after"] = cursor
        return ids
