"""Deadline Alerts for the per-account runs.

Airflow 3 replaced task SLAs with Deadline Alerts, evaluated per DagRun: when
a run is created the scheduler (or the api-server, for triggered runs) works
out each alert's deadline from a *reference* plus an interval, and calls the
alert's callback once that instant passes while the run is still going.

Each ``onboarding_<tier>`` run carries two alerts:

* **activation target approaching**: :class:`TargetWarningReference` reads
  the instant the intake computed for the account (``target_warning_at`` in
  the run conf: the start of business a few business days before the
  activation target, on the region's calendar).  Airflow's built-in
  references only know the run's own timestamps, and the target belongs to
  the account, so this one is custom, registered by the plugin in
  ``plugins/onboarding_deadlines.py``;
* **run window overrun**: Airflow's ``DAGRUN_LOGICAL_DATE`` (when the intake
  started the run) plus the tier's window in calendar days (divided by the
  clock's speed when business time is accelerated, as it is in the demo).
  Not ``DAGRUN_QUEUED_AT``: Airflow 3.3.2 fails every clear of a task in a run
  with a queued-at deadline, and a cleared run keeps its window this way.

Both call :func:`include.onboarding.callbacks.on_deadline_missed`, which
escalates to the account's named owner.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk.definitions.deadline import BaseDeadlineReference

from include.onboarding.config import Region

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

CONF_KEY = "target_warning_at"


class TargetWarningReference(BaseDeadlineReference):
    """The instant in the run's conf ``target_warning_at`` (ISO 8601); no deadline without it."""

    # Airflow passes the reference only the kwargs it names here.
    required_kwargs = {"dag_id", "run_id"}

    def _evaluate_with(self, *, session: Session, **kwargs: Any) -> datetime | None:
        from airflow.models.dagrun import DagRun
        from sqlalchemy import select

        conf = session.scalar(
            select(DagRun.conf).where(DagRun.dag_id == kwargs["dag_id"], DagRun.run_id == kwargs["run_id"])
        )
        raw = (conf or {}).get(CONF_KEY) if isinstance(conf, dict) else None
        if not raw:
            return None  # a run started by hand without a target: no alert, and the run is still created
        try:
            at = datetime.fromisoformat(str(raw))
        except ValueError:
            return None  # never let a bad conf value stop the run from being created
        from include.onboarding.clock import to_wall

        # The scheduler checks deadlines on the wall clock; under an accelerated business clock
        # the business instant is translated to the wall-clock instant it will be reached.
        return to_wall(at if at.tzinfo else at.replace(tzinfo=timezone.utc))


def target_warning_at(region: Region, target: date, business_days_before: int) -> datetime:
    """Start of business ``business_days_before`` business days before ``target`` (UTC)."""
    import numpy as np  # not at import time: the DAG files import this module when they are parsed

    from include.onboarding.calendar import region_working_time

    wt = region_working_time(region)
    day = np.busday_offset(
        np.datetime64(target, "D"), -business_days_before, roll="backward", busdaycal=wt.calendar.busdaycal
    )
    local = day.astype("datetime64[s]") + np.timedelta64(int(wt.open), "s")
    from zoneinfo import ZoneInfo

    naive = datetime.fromisoformat(str(local))
    return naive.replace(tzinfo=ZoneInfo(region.timezone)).astimezone(timezone.utc)
