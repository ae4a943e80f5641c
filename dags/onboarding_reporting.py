"""
### Time-to-value reporting

Daily (settings `reporting.schedule`) **and** whenever the onboarding DAGs
publish new events (the `onboarding_events` asset: an account went live, an
escalation pass raised or resolved something, a pickup took in orders), this
DAG reads the onboarding store with pandas and writes the metric tables
leadership reads, to the `reporting` schema of the onboarding database.

| Task | What it does |
| --- | --- |
| `write_metric_tables` | Computes every metric as of the end of the report date (or now) and replaces that date's rows in each `reporting.*` table, in one transaction. |
| `render_summary` | Reads that date's tables back and draws the charts (PNG) and the one-page `summary.html` under `ONBOARDING_REPORTS_DIR/<date>/`. |

**Safe to clear, rerun or backfill**: a date's rows are replaced, never
duplicated. The report date is the run's logical date (an asset-triggered run
reports on the day it runs); a manual run may name it in its conf, as
`{"report_date": "2026-11-30"}`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, get_current_context, task

from include.onboarding.assets import ONBOARDING_EVENTS
from include.onboarding.config import load_config

CONFIG = load_config()  # local YAML only


def _report_date() -> str:
    """``report_date`` from the run's conf, else the business date at the run's logical date (or start)."""
    from include.onboarding.clock import from_wall

    context = get_current_context()
    asked = (context["dag_run"].conf or {}).get("report_date")
    if asked:
        return datetime.fromisoformat(str(asked)).date().isoformat()
    when = context.get("logical_date") or context["dag_run"].run_after
    return from_wall(when).date().isoformat()


@dag(
    dag_id="onboarding_reporting",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(CONFIG.reporting_schedule, timezone="UTC"),
        assets=ONBOARDING_EVENTS,
    ),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "onboarding-ops", "retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["onboarding", "reporting"],
    doc_md=__doc__,
)
def onboarding_reporting() -> None:
    @task(multiple_outputs=False)
    def write_metric_tables() -> dict[str, Any]:
        from include.onboarding import reporting, runtime

        report_date = datetime.fromisoformat(_report_date()).date()
        written = reporting.build(runtime.open_store(), runtime.config(), report_date, runtime.clock().now())
        return {"report_date": report_date.isoformat(), "rows": written}

    @task
    def render_summary(written: dict[str, Any]) -> str:
        from include.onboarding import report_pages, reporting, runtime

        report_date = datetime.fromisoformat(written["report_date"]).date()
        tables = reporting.read_all(runtime.open_store(), report_date)
        return str(report_pages.render(tables, report_date))

    render_summary(write_metric_tables())


onboarding_reporting()
