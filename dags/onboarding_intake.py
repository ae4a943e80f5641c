"""
### Signed-order intake

Picks up **signed orders** from the CRM on a schedule (every 15 minutes by
default) and turns each into an **onboarding** in the onboarding store, with a
named owner and an activation target in business days.

| Task | What it does |
| --- | --- |
| `pull_signed_orders` | Reads the deals changed since the last successful pickup (the watermark, minus a short look-back) from the CRM connection `crm_api`, page by page, and stages them under this run's id. Rate limits (429 + `Retry-After`), 5xx, timeouts and garbled pages are retried. |
| `process_orders` | Validates each order. Good ones are created (or updated) idempotently; bad ones are **quarantined with every reason** (missing or unknown tier, no owner for the region, bad dates or emails, a duplicate order number with conflicting data). One bad order never blocks the rest. A valid order outside the pilot scope (`pilot:` in `settings.yaml`) is counted as **out of pilot** and left alone; a wider scope takes it in at the next pickup. |
| `commit_watermark` | Moves the watermark forward, only after processing succeeded. |
| `runs_to_start` | Lists every open onboarding without a run yet (up to 1,000 a pickup; the rest follow at the next). An account whose tier file was removed is not started: it is marked blocked with the reason. |
| `start_onboarding_runs` | Starts one run of `onboarding_<tier>` per account, mapped and named by run id `onboarding__<onboarding key>`, with the account's name, tier, owner and activation target as the run's note (the run keeps it current as owners change). A repeat finds the run already there and starts nothing. |
| `record_runs_started` | Notes in the store which run carries each account. |

**Safe to clear or re-run**: a rerun re-reads the same orders and creates no
duplicates. **If a pickup fails**, the watermark stays put and the next pickup
reads the same orders again.

**Where to look**: quarantined orders wait in `onboarding.open_quarantine`
(fix the deal in the CRM; the next pickup resolves the quarantine entry). Every
creation, update and quarantine is in the audit trail `onboarding.events`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import TriggerRule, dag, get_current_context, task

from include.onboarding.assets import ONBOARDING_EVENTS
from include.onboarding.config import load_config

CONFIG = load_config()  # local YAML only; a bad file fails this import with the file and field named


@dag(
    dag_id="onboarding_intake",
    schedule=CONFIG.intake_schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # pickups share one watermark: one at a time
    default_args={
        "owner": "onboarding-ops",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        # Ahead of the per-account tasks when every worker slot is busy.
        "priority_weight": 1000,
        "weight_rule": "absolute",
    },
    tags=["onboarding", "intake"],
    doc_md=__doc__,
)
def onboarding_intake() -> None:
    @task(multiple_outputs=False)
    def pull_signed_orders() -> dict[str, Any]:
        from dataclasses import asdict

        from include.onboarding import intake, runtime

        cfg = runtime.config()
        run_id = get_current_context()["run_id"]
        summary = intake.pull_orders(runtime.open_store(), runtime.crm_client(cfg), cfg, run_id, runtime.clock())
        return asdict(summary)

    @task(outlets=[ONBOARDING_EVENTS], multiple_outputs=False)
    def process_orders(pulled: dict[str, Any]) -> dict[str, Any]:
        from include.onboarding import intake, runtime

        summary = intake.process_batch(runtime.open_store(), runtime.config(), pulled["batch_id"], runtime.clock())
        return {"batch_id": summary.batch_id, **summary.counts()}

    @task(multiple_outputs=False)
    def commit_watermark(processed: dict[str, Any]) -> dict[str, Any]:
        from include.onboarding import intake, runtime

        return intake.commit_batch(runtime.open_store(), runtime.config(), processed["batch_id"], runtime.clock())

    @task
    def runs_to_start() -> list[dict[str, Any]]:
        from include.onboarding import intake, runtime

        return intake.runs_to_start(runtime.open_store(), runtime.config(), runtime.clock())

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def record_runs_started(runs: list[dict[str, Any]]) -> int:
        from include.onboarding import intake, runtime

        return intake.mark_runs_started(runtime.open_store(), runs, runtime.clock())

    committed = commit_watermark(process_orders(pull_signed_orders()))
    runs = runs_to_start()
    committed >> runs
    started = TriggerDagRunOperator.partial(
        task_id="start_onboarding_runs",
        skip_when_already_exists=True,
        wait_for_completion=False,
        map_index_template="{{ task.trigger_run_id }}",
    ).expand_kwargs(runs)
    started >> record_runs_started(runs)


onboarding_intake()
