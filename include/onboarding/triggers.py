"""The triggerer's side of the checklist sensors: wait cheaply, wake the moment the customer acts.

A customer may take weeks to answer.  Holding a worker slot, or waking a task
every few minutes, for each item of each account does not scale to hundreds of
accounts, so ``wait_for_input`` defers to :class:`ChecklistItemTrigger`, which
runs in Airflow's triggerer (one event loop for thousands of them).  It only
*looks*; the task decides when it wakes.

The portal judges each submission in the request that carries it and the
commit sends ``NOTIFY onboarding_input`` naming the account and item.  One
``LISTEN`` connection per triggerer event loop (:class:`_Listener`) hands each
notification to the triggers waiting on that account's items, which look at once.  A slow
poll (``poll_seconds``) stays as the safety net: for a waiver made by a person,
a notification lost while the listener reconnected, or an item settled because
every critical item is in.

The trigger fires when one of these is true:

* the item is settled in the store (verified, or waived by a person);
* the item is a nice-to-have and every critical item of the account is in;
* the item is not in the store (the task says why).

A failed look (database unreachable) is logged and tried again at the next
interval; the sensor's own timeout still ends the wait.  This module is
imported by the triggerer by class path, so it lives in the importable
``include`` package, not in a DAG file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from include.onboarding.constants import SETTLED_SQL, is_settled

_LOOK = f"""
SELECT c.status, c.critical,
       (SELECT count(*) FROM onboarding.checklist_items o
         WHERE o.onboarding_id = c.onboarding_id AND o.critical
           AND o.status NOT IN {SETTLED_SQL}) AS critical_outstanding
FROM onboarding.checklist_items c
JOIN onboarding.onboardings b ON b.id = c.onboarding_id
WHERE b.onboarding_key = %s AND c.item_key = %s
"""
CHANNEL = "onboarding_input"
"""Where the portal's commits announce a judged submission (``include.onboarding.checklist.INPUT_CHANNEL``)."""

# One database connection per event loop and database, shared by every trigger of the loop:
# a triggerer holding a connection per waiting item would exhaust the server's connections.
_connections: dict[tuple[int, str], Any] = {}
_opening: dict[tuple[int, str], asyncio.Lock] = {}


async def _dsn(conn_id: str) -> str:
    import psycopg
    from airflow.sdk import BaseHook

    conn = await BaseHook.aget_connection(conn_id)
    return str(
        psycopg.conninfo.make_conninfo(
            host=conn.host or "localhost",
            port=conn.port or 5432,
            user=conn.login or "",
            password=conn.password or "",
            dbname=conn.schema or "postgres",
        )
    )


async def _store_connection(conn_id: str) -> Any:
    import psycopg

    dsn = await _dsn(conn_id)
    key = (id(asyncio.get_running_loop()), dsn)
    async with _opening.setdefault(key, asyncio.Lock()):  # one connect, however many triggers start at once
        cached = _connections.get(key)
        if cached is not None and not cached.closed and not cached.broken:
            return cached
        connection = await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=10)
        _connections[key] = connection
        return connection


class _Listener:
    """One ``LISTEN`` connection per event loop and database, waking the triggers waiting on an item.

    Each trigger registers an :class:`asyncio.Event` for its account; a notification about any item
    of the account sets them all (a nice-to-have item is released by the last critical item).
    When the connection breaks, every waiter is woken (to look once) and the next trigger to
    register opens a new connection.
    """

    _by_loop: dict[tuple[int, str], _Listener] = {}
    _opening: dict[tuple[int, str], asyncio.Lock] = {}

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.waiters: dict[str, set[asyncio.Event]] = {}
        self.task: asyncio.Task[None] | None = None

    @classmethod
    async def for_store(cls, conn_id: str) -> _Listener:
        import psycopg

        dsn = await _dsn(conn_id)
        key = (id(asyncio.get_running_loop()), dsn)
        # Triggers that start together wait for one connection rather than each opening their own.
        async with cls._opening.setdefault(key, asyncio.Lock()):
            listener = cls._by_loop.get(key)
            if listener is not None and listener.task is not None and not listener.task.done():
                return listener
            connection = await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=10)
            await connection.execute(f"LISTEN {CHANNEL}")
            listener = cls(connection)
            listener.task = asyncio.get_running_loop().create_task(listener._dispatch(key))
            cls._by_loop[key] = listener
            return listener

    def register(self, onboarding_key: str) -> asyncio.Event:
        event = asyncio.Event()
        self.waiters.setdefault(onboarding_key, set()).add(event)
        return event

    def unregister(self, onboarding_key: str, event: asyncio.Event) -> None:
        waiting = self.waiters.get(onboarding_key)
        if waiting is not None:
            waiting.discard(event)
            if not waiting:
                del self.waiters[onboarding_key]

    async def _dispatch(self, key: tuple[int, str]) -> None:
        try:
            async for notice in self.connection.notifies():
                onboarding_key = str(notice.payload).partition("\t")[0]
                for event in self.waiters.get(onboarding_key, ()):
                    event.set()
        except Exception as exc:  # the connection broke: everyone looks once, the next register reconnects
            logging.getLogger(__name__).warning("listening for submissions stopped (%s); polling until it is back", exc)
        finally:
            self._by_loop.pop(key, None)
            for waiting in self.waiters.values():
                for event in waiting:
                    event.set()
            await self.connection.close()


class ChecklistItemTrigger(BaseTrigger):
    """Fires when one checklist item of one account is settled, or no longer holds the account up."""

    def __init__(
        self,
        onboarding_key: str,
        item_key: str,
        poll_seconds: float,
        give_up_at: str | None = None,
        db_conn_id: str = "onboarding_db",
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.onboarding_key = onboarding_key
        self.item_key = item_key
        self.poll_seconds = poll_seconds
        self.give_up_at = give_up_at
        self.db_conn_id = db_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "onboarding_key": self.onboarding_key,
                "item_key": self.item_key,
                "poll_seconds": self.poll_seconds,
                "give_up_at": self.give_up_at,
                "db_conn_id": self.db_conn_id,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        give_up = datetime.fromisoformat(self.give_up_at) if self.give_up_at else None
        listener, woken = await self._listen()
        try:
            while True:
                woken.clear()  # a notice from here on wakes the wait below, even one that lands mid-look
                try:
                    why = await self.look()
                except Exception as exc:  # the task does the real work; a failed look is tried again
                    self.log.warning(
                        "checklist item %s/%s: could not look (%s)", self.onboarding_key, self.item_key, exc
                    )
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
                if listener is not None and listener.task is not None and listener.task.done():
                    listener, woken = await self._listen()  # the connection broke: listen again
                with contextlib.suppress(asyncio.TimeoutError):  # past the slow poll's interval: look anyway
                    await asyncio.wait_for(woken.wait(), timeout=wait)
        finally:
            if listener is not None:
                listener.unregister(self.onboarding_key, woken)

    async def _listen(self) -> tuple[_Listener | None, asyncio.Event]:
        """Register for the item's notices; without a listener (database down) the poll alone goes on."""
        try:
            listener = await _Listener.for_store(self.db_conn_id)
        except Exception as exc:
            self.log.warning(
                "checklist item %s/%s: cannot listen (%s); polling", self.onboarding_key, self.item_key, exc
            )
            return None, asyncio.Event()
        return listener, listener.register(self.onboarding_key)

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
        status, critical, critical_outstanding = row
        if is_settled(status):
            return f"the item is {status}"
        if not critical and critical_outstanding == 0:
            return "every critical item is in"
        return None
