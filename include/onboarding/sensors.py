"""The checklist sensor: one per required item of an account, waiting in the triggerer.

``wait_for_input`` is mapped over the account's checklist (the grid names each
mapped sensor by its item).  Each looks at the store once when it starts
(submissions are judged by the portal the moment they arrive).  If the item is
still open it defers to :class:`include.onboarding.triggers.ChecklistItemTrigger`
and frees its worker slot; the portal's ``NOTIFY`` wakes the trigger when the
customer sends the item, and the sensor looks again.  Past its timeout it fails with ``AirflowSensorTimeout``, which the
tier DAG's failure callback turns into an escalation naming the item.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import BaseSensorOperator


class ChecklistItemSensor(BaseSensorOperator):
    """Waits until one checklist item of the run's account no longer holds it up."""

    template_fields = ("item_key",)

    def __init__(self, *, item_key: str, poll_seconds: float, **kwargs: Any) -> None:
        super().__init__(poke_interval=poll_seconds, **kwargs)
        self.item_key = item_key
        self.poll_seconds = poll_seconds

    def poke(self, context: Any) -> bool:
        from include.onboarding import checklist, runtime

        return checklist.poll_item(runtime.open_store(), runtime.config(), onboarding_key(context), self.item_key)

    def execute(self, context: Any) -> None:
        if self.poke(context):
            return
        give_up_at = datetime.now(timezone.utc) + timedelta(seconds=float(self.timeout))
        self._wait(context, give_up_at)

    def resume(self, context: Any, event: dict[str, Any] | None = None, give_up_at: str | None = None) -> None:
        """Back from the triggerer: judge what arrived, or wait again until the same give-up time."""
        from airflow.sdk.exceptions import AirflowSensorTimeout

        if event:
            self.log.info("woken: %s", event.get("why"))
        if self.poke(context):
            return
        until = datetime.fromisoformat(give_up_at) if give_up_at else datetime.now(timezone.utc)
        if (event or {}).get("timed_out") or until <= datetime.now(timezone.utc):
            raise AirflowSensorTimeout(f"no usable answer for {self.item_key!r} within {float(self.timeout):.0f}s")
        self._wait(context, until)

    def _wait(self, context: Any, give_up_at: datetime) -> None:
        from include.onboarding.triggers import ChecklistItemTrigger

        key = onboarding_key(context)
        left = max((give_up_at - datetime.now(timezone.utc)).total_seconds(), 1.0)
        self.defer(
            trigger=ChecklistItemTrigger(
                onboarding_key=key,
                item_key=self.item_key,
                poll_seconds=self.poll_seconds,
                give_up_at=give_up_at.isoformat(),
            ),
            method_name="resume",
            kwargs={"give_up_at": give_up_at.isoformat()},
            timeout=timedelta(seconds=left),
        )


def onboarding_key(context: Any) -> str:
    """The account a tier run carries (its conf's ``onboarding_key``); every task of the run needs it."""
    conf = context["dag_run"].conf or {}
    key = conf.get("onboarding_key")
    if not key:
        raise ValueError("this run has no 'onboarding_key' in its conf; runs are started by onboarding_intake")
    return str(key)
