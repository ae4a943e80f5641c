"""DAG integrity: every DAG file imports cleanly, carries an owner, retries and
tags, and a broken configuration shows up as an import error (never as DAGs
silently vanishing)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from include.onboarding.config import DEFAULT_CONFIG_DIR

DAGS = Path(__file__).resolve().parents[1] / "dags"


def _dagbag(folder: Path = DAGS):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(folder))


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    return _dagbag()


def test_every_dag_imports(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert {"onboarding_intake", "onboarding_enterprise", "onboarding_smb", "onboarding_partner"} <= set(dagbag.dag_ids)


# A failed readiness gate is a verdict (critical inputs missing), not a glitch: retrying it
# would only delay the failure callback that tells the owner.  It is cleared once fixed.
# An approval task is a question to a person: each try would ask them again, so it never retries.
VERDICT_TASKS = {"readiness_gate"}


def _is_verdict(task_id: str) -> bool:
    return task_id in VERDICT_TASKS or task_id.startswith("approve_")


def test_every_dag_has_owner_retries_tags_and_docs(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md for the UI"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
            if _is_verdict(task.task_id):
                assert task.retries == 0, f"{dag_id}.{task.task_id} retries: a verdict or a question to a person"
            else:
                assert task.retries >= 1, f"{dag_id}.{task.task_id} does not retry"


def test_intake_runs_one_pickup_at_a_time_on_its_schedule(dagbag) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags["onboarding_intake"]
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert dag.timetable.expression == "*/15 * * * *"
    assert [t.task_id for t in dag.topological_sort()] == [
        "pull_signed_orders",
        "process_orders",
        "commit_watermark",
        "runs_to_start",
        "start_onboarding_runs",
        "record_runs_started",
    ]


def test_the_intake_schedule_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARDING_INTAKE_SCHEDULE", "0 * * * *")
    assert _dagbag().dags["onboarding_intake"].timetable.expression == "0 * * * *"


def test_a_broken_tier_file_is_an_import_error_naming_file_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    smb = config / "tiers" / "smb.yaml"
    smb.write_text(smb.read_text().replace("critical: true", "critical: true, mandatory: yes", 1))
    monkeypatch.setenv("ONBOARDING_CONFIG_DIR", str(config))

    bag = _dagbag()

    # Every DAG that reads the configuration shows the same import error in the UI (the baseline
    # import reads none when it is parsed: its task loads it when it runs).
    assert set(bag.dag_ids) & {d for d in bag.dag_ids if d.startswith("onboarding_")} == {"onboarding_baseline"}
    assert {Path(f).name for f in bag.import_errors} == {
        "onboarding_intake.py", "onboarding_tiers.py", "onboarding_escalations.py", "onboarding_reporting.py",
    }  # fmt: skip
    for error in bag.import_errors.values():
        assert f"{smb}: checklist[0].mandatory: unknown field" in error


def test_escalations_run_every_15_minutes_one_pass_at_a_time(dagbag) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags["onboarding_escalations"]
    assert dag.max_active_runs == 1 and not dag.catchup
    assert dag.timetable.expression == "*/15 * * * *"
    # Two independent branches: escalations to people on Slack, reminders to customers by email.
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {
        "evaluate": ["deliver"], "deliver": [], "remind_customers": ["deliver_mail"], "deliver_mail": [],
    }  # fmt: skip
    assert dag.get_task("deliver_mail").trigger_rule == "none_failed"  # runs when the reminders were skipped


def test_every_tier_run_has_deadline_alerts_and_failure_escalation(dagbag) -> None:  # type: ignore[no-untyped-def]
    from airflow.sdk import DeadlineReference

    from include.onboarding.callbacks import on_task_failure
    from include.onboarding.config import load_config
    from include.onboarding.deadlines import TargetWarningReference

    for tier in ("enterprise", "smb", "partner"):
        dag = dagbag.dags[f"onboarding_{tier}"]
        alerts = dag.deadline
        assert len(alerts) == 2, tier
        assert isinstance(alerts[0].reference, TargetWarningReference)
        assert type(alerts[1].reference) is type(DeadlineReference.DAGRUN_LOGICAL_DATE)
        assert alerts[1].interval == timedelta(days=load_config().tiers[tier].overrun_after_days)
        for t in dag.tasks:
            callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
            assert on_task_failure in callbacks, f"{dag.dag_id}.{t.task_id} does not escalate its failure"


def test_reporting_runs_daily_and_when_onboarding_events_are_published(dagbag) -> None:  # type: ignore[no-untyped-def]
    from include.onboarding.assets import ONBOARDING_EVENTS

    dag = dagbag.dags["onboarding_reporting"]
    assert dag.max_active_runs == 1
    assert [t.task_id for t in dag.topological_sort()] == ["write_metric_tables", "render_summary"]
    assert dag.timetable.timetable.expression == "30 5 * * *"
    assert dag.timetable.asset_condition == ONBOARDING_EVENTS
    producers = {
        (dag_id, t.task_id)
        for dag_id, d in dagbag.dags.items()
        for t in d.tasks
        if any(getattr(o, "name", None) == ONBOARDING_EVENTS.name for o in t.outlets)
    }
    assert {("onboarding_intake", "process_orders"), ("onboarding_escalations", "evaluate")} <= producers
    assert {("onboarding_enterprise", "mark_live"), ("onboarding_smb", "mark_live")} <= producers


def test_a_task_process_builds_only_its_dag_and_builds_it_whole(
    dagbag,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Airflow's task runner parses the file with the parsing context set to the task's DAG and task."""
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "onboarding_smb")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "plan_checklist")

    bag = _dagbag(DAGS / "onboarding_tiers.py")

    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"onboarding_smb"}
    dag, full = bag.dags["onboarding_smb"], dagbag.dags["onboarding_smb"]
    assert {t: sorted(dag.task_dict[t].downstream_task_ids) for t in dag.task_dict} == {
        t: sorted(full.task_dict[t].downstream_task_ids) for t in full.task_dict
    }
    assert dag.doc_md == full.doc_md and dag.params.dump() == full.params.dump()
    assert [(type(a.reference), a.interval) for a in dag.deadline] == [
        (type(a.reference), a.interval) for a in full.deadline
    ]


_TASK_PROCESS_PARSE = """
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag
from airflow.sdk.definitions._internal.dag_parsing_context import _airflow_parsing_context_manager
path = Path({path!r})
before = set(sys.modules)
with _airflow_parsing_context_manager(dag_id="onboarding_enterprise", task_id="setup_implementation_ticket"):
    bag = BundleDagBag(dag_folder=str(path), safe_mode=False, load_op_links=False, bundle_path=path.parent)
assert not bag.import_errors, bag.import_errors
print(json.dumps(sorted(m for m in {heavy!r} if m in set(sys.modules) - before)))
"""


def test_a_task_process_parse_imports_nothing_heavy() -> None:
    """Expensive libraries are imported inside the tasks that use them, not when a task process parses the file."""
    import json
    import os
    import subprocess
    import sys

    heavy = ["holidays", "numpy", "pandas", "psycopg", "matplotlib"]
    code = _TASK_PROCESS_PARSE.format(path=str(DAGS / "onboarding_tiers.py"), heavy=heavy)
    for _ in range(2):  # the first load may look up the regions' holiday calendars once
        out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ), capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_busy_worker_pool_sends_new_checklists_first_then_finishes_accounts_nearest_live(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag_id in ("onboarding_smb", "onboarding_enterprise", "onboarding_partner"):
        dag = dagbag.dags[dag_id]
        weight = {t.task_id: t.priority_weight for t in dag.tasks}
        assert {t.weight_rule for t in dag.tasks} == {"absolute"}, dag_id  # comparable across runs and tiers
        later = ["wait_for_input", "readiness_gate", "notify_customer", "hand_off", "mark_live"]
        assert [weight[t] for t in later] == sorted(weight[t] for t in later), (dag_id, weight)
        assert weight["readiness_gate"] > weight["wait_for_input"]
        assert (
            weight["request_inputs"]
            > weight["mark_live"]
            == max(w for t, w in weight.items() if t not in ("plan_checklist", "request_inputs"))
        )
        for task in dag.tasks:
            for upstream in task.upstream_task_ids:
                if upstream not in ("plan_checklist", "request_inputs"):
                    assert weight[task.task_id] > weight[upstream], (dag_id, upstream, task.task_id)
