"""
### Baseline import: the company's onboardings before the automation

Loads a CSV export of past onboardings (from the CRM or a spreadsheet) into the
onboarding store, where the before/after report (`reporting.pilot_before_after`,
the first section of the summary page) compares them with the onboardings
under the automation. Trigger it with the file's path as `path`.

| Task | What it does |
| --- | --- |
| `import_baseline` | Checks every row (dates as `2026-02-03`, `02/03/2026` read by `day_first`, or `3 Feb 2026`; the live date not before signing; a known tier and region; no duplicate account and signing date) and loads the good ones, keyed by account and signing date. **Fails when any row was refused**, listing each with its line, column and why; the good rows are loaded all the same. |

Columns: `account`, `tier`, `region`, `signed_date` (required), `segment`,
`first_value_date`, `live_date`, `touches` (status emails or manual touches),
`checklist_tracked` (yes/no).

**Safe to rerun**: the same file again changes no row; a corrected export
replaces the rows it corrects. Every import, with the rows it refused, is in
`onboarding.baseline_imports`, `onboarding.baseline_rejections` and the audit
trail (`baseline.imported`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task


@dag(
    dag_id="onboarding_baseline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    # A lost database connection is retried; refused rows are a verdict and fail at once.
    default_args={"owner": "onboarding-ops", "retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "path": Param(type="string", minLength=1, description="Path of the CSV export, as the worker sees it"),
        "day_first": Param(
            None,
            type=["null", "boolean"],
            description="Read 02/03/2026 as 2 March (true) or 3 February (false); empty: baseline.day_first",
        ),
    },
    tags=["onboarding", "reporting"],
    doc_md=__doc__,
)
def onboarding_baseline() -> None:
    @task(multiple_outputs=False)
    def import_baseline(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from pathlib import Path

        from airflow.sdk.exceptions import AirflowFailException

        from include.onboarding import baseline, runtime

        params = params or {}
        result = baseline.import_file(
            runtime.open_store(), runtime.config(), Path(params["path"]), runtime.clock().now(), params.get("day_first")
        )
        if not result.ok:
            raise AirflowFailException(f"rows refused; the good rows were loaded:\n{result.describe()}")
        return {"import_id": result.import_id, "read": result.read, "loaded": result.loaded,
                "unchanged": result.unchanged}  # fmt: skip

    import_baseline()


onboarding_baseline()
