"""The intake DAG run by Airflow itself (``dag.test()``: the real task runner,
in-process, against a real metadata database), cleared and run again."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from include.onboarding.store import Store
from tests.factories import deal_properties

DAGS = Path(__file__).resolve().parents[1] / "dags"


def _counts(store: Store) -> dict[str, int]:
    return {
        table: int(store.scalar(f"SELECT count(*) FROM onboarding.{table}"))
        for table in ("onboardings", "quarantined_orders", "stage_history", "events")
    }


def test_the_intake_dag_picks_up_orders_and_a_cleared_run_adds_nothing(
    airflow_db: None, store: Store, sandbox: Any
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    for _ in range(4):
        sandbox.state.upsert_deal(deal_properties())
    sandbox.state.upsert_deal(deal_properties(onboarding_tier="platinum"))
    dag = DagBag(dag_folder=str(DAGS)).dags["onboarding_intake"]
    logical_date = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)

    first = dag.test(logical_date=logical_date, run_after=logical_date)
    after_first = _counts(store)
    # The same run id again, every task re-executed: what "Clear" does in the UI.
    second = dag.test(logical_date=logical_date, run_after=logical_date)

    assert first.state == "success" and second.state == "success"
    assert second.run_id == first.run_id
    assert after_first["onboardings"] == 4 and after_first["quarantined_orders"] == 1
    assert _counts(store) == {**after_first, "events": after_first["events"]}
    batch = store.query("SELECT status, fetched FROM onboarding.intake_batches WHERE batch_id = %s", (first.run_id,))
    assert batch == [{"status": "committed", "fetched": 5}]
    assert store.scalar("SELECT batch_id FROM onboarding.intake_watermarks") == first.run_id

    # One tier run per new onboarding, named after it; the re-run started no second one.
    keys = [r["onboarding_key"] for r in store.query("SELECT onboarding_key, run_id FROM onboarding.onboardings")]
    assert store.query("SELECT DISTINCT run_id IS NOT NULL AS started FROM onboarding.onboardings") == [
        {"started": True}
    ]
    assert _tier_runs() == sorted(f"onboarding__{k}" for k in keys)


def _tier_runs() -> list[str]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return sorted(session.scalars(select(DagRun.run_id).where(DagRun.dag_id == "onboarding_enterprise")))
