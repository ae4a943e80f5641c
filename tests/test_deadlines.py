"""Deadline Alerts of the per-account runs, through Airflow's own scheduler-side path.

A run is created the way the intake's TriggerDagRunOperator creates it
(``trigger_dag``, which evaluates the deadline references, including the
custom one registered by ``plugins/onboarding_deadlines.py``).  Missed
deadlines are then handled with the statements of the scheduler loop, and the
callback runs on a real LocalExecutor, as it does under ``make demo`` and in
production, and escalates to the account's named owner on Slack.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from include.onboarding import intake
from include.onboarding.clock import FixedClock
from include.onboarding.config import load_config
from include.onboarding.store import Store
from tests.factories import deal_properties
from tests.test_intake import pickup


@pytest.fixture(scope="module")
def synced_dags(airflow_db: None) -> None:
    """What the dag-processor does: parse the dags folder and write the serialized DAGs and their alerts."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    bundle = next(b for b in DagBundlesManager().get_all_dag_bundles() if b.name == "dags-folder")
    bundle.initialize()
    bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, bundle.name, bundle.version)


def _trigger(dag_id: str, run_id: str, conf: dict[str, Any]) -> int:
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType

    with create_session() as session:
        # As the intake's TriggerDagRunOperator does: the run's logical date is when it was started.
        run = trigger_dag(
            dag_id, triggered_by=DagRunTriggeredByType.TEST, run_id=run_id, conf=conf, session=session,
            logical_date=datetime.now(timezone.utc),
        )  # fmt: skip
        assert run is not None
        return int(run.id)


def _deadlines(run_pk: int) -> list[Any]:
    from airflow.models.deadline import Deadline
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(Deadline).where(Deadline.dagrun_id == run_pk)).all()
        return sorted(((d.deadline_time, d.missed) for d in rows), key=lambda d: d[0])


def _scheduler_handles_missed_deadlines() -> None:
    """The deadline block of ``SchedulerJobRunner._run_scheduler_loop`` (Airflow 3.3.2), then its
    callback dispatch to a real LocalExecutor, until every queued callback finished."""
    from airflow._shared.timezones import timezone as af_timezone
    from airflow.executors.local_executor import LocalExecutor
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.callback import ExecutorCallback
    from airflow.models.deadline import Deadline
    from airflow.utils.session import create_session
    from airflow.utils.sqlalchemy import with_row_locks
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    with create_session() as session:
        query = (
            select(Deadline)
            .where(Deadline.deadline_time < af_timezone.utcnow())
            .where(~Deadline.missed)
            .options(selectinload(Deadline.callback), selectinload(Deadline.dagrun))
        )
        for deadline in session.scalars(
            with_row_locks(query, of=Deadline, session=session, skip_locked=True, key_share=False)
        ):
            deadline.handle_miss(session)

    executor = LocalExecutor(parallelism=2)
    runner = SchedulerJobRunner(job=Job(), executors=[executor])
    executor.start()
    try:
        with create_session() as session:
            runner._enqueue_executor_callbacks(session)
        give_up = time.monotonic() + 90
        while time.monotonic() < give_up:
            executor.heartbeat()
            with create_session() as session:
                SchedulerJobRunner.process_executor_events(
                    executor=executor, job_id=None, scheduler_dag_bag=runner.scheduler_dag_bag, session=session
                )
                unfinished = session.scalars(
                    select(ExecutorCallback.id).where(ExecutorCallback.state.in_(["pending", "queued", "running"]))
                ).all()
            if not unfinished:
                return
            time.sleep(0.5)
        raise AssertionError(f"callbacks did not finish: {unfinished}")
    finally:
        executor.end()


def test_a_run_near_its_activation_target_escalates_to_the_named_owner(
    synced_dags: None, store: Store, sandbox: Any
) -> None:
    config = load_config()
    # An SMB order signed five weeks ago: its 10-business-day target is long past the warning point.
    signed = datetime.now(timezone.utc) - timedelta(days=35)
    deal = sandbox.state.upsert_deal(
        deal_properties(onboarding_tier="smb", segment="commercial", amount="9000", closedate=signed.isoformat())
    )
    pickup(store, config, f"deadline-{deal['id']}", clock=FixedClock(signed))
    (start,) = intake.runs_to_start(store, config, FixedClock(signed))
    key = start["conf"]["onboarding_key"]
    warn_at = datetime.fromisoformat(start["conf"]["target_warning_at"])

    run_pk = _trigger(start["trigger_dag_id"], start["trigger_run_id"], start["conf"])
    intake.mark_runs_started(store, [start], FixedClock(signed))

    # The custom reference read the instant from the run's conf; the window alert is weeks away.
    overrun_at = _deadlines(run_pk)[1][0]
    assert _deadlines(run_pk) == [(warn_at, False), (overrun_at, False)]
    assert overrun_at > datetime.now(timezone.utc)

    _scheduler_handles_missed_deadlines()

    assert _deadlines(run_pk) == [(warn_at, True), (overrun_at, False)]
    (esc,) = store.query("SELECT * FROM onboarding.escalations WHERE kind = 'deadline'")
    assert esc["subject"] == key and esc["dedupe_key"] == f"deadline:{key}:target_approaching"
    assert esc["notify_email"] == "sam.okafor@example.com"  # the named SMB onboarding owner
    assert "business days away" in esc["reason"]
    assert esc["details"]["run_url"].endswith(f"/dags/onboarding_smb/runs/{start['trigger_run_id']}")
    assert esc["delivery_status"] == "delivered"
    posted = sandbox.state.slack.messages("T0SANDBOX/B0SANDBOX/slack_onboarding_smb")
    assert any(key in str(m["blocks"]) for m in posted)
    assert "escalation.raised" in [e["event_type"] for e in store.events_for(key)]


def test_a_run_without_a_target_still_starts_with_only_the_window_alert(synced_dags: None) -> None:
    run_pk = _trigger("onboarding_partner", "onboarding__manual-check", {"onboarding_key": "manual-check"})
    (only,) = _deadlines(run_pk)
    window = load_config().tiers["partner"].overrun_after_days
    assert only[0] - datetime.now(timezone.utc) > timedelta(days=window - 1)
