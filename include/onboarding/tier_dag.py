"""The tier DAGs, built from configuration: ``onboarding_<tier>``, one run per account.

:func:`build_tier_dag` turns a tier file (``include/config/tiers/<tier>.yaml``)
into its DAG: the graph, the documentation shown in the Airflow UI, the
deadline alerts and the callbacks.  Each task body asks the library to do one
thing for the run's account; everything it learns is in the onboarding store.
Building a DAG does no database, network or ``Variable`` work: the DAG file
runs it at every parse.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

# Exported by airflow.sdk at run time (lazily), which its type stubs do not declare.
from airflow.sdk import (  # type: ignore[attr-defined]
    DAG,
    DeadlineAlert,
    DeadlineReference,
    Param,
    PokeReturnValue,
    SyncCallback,
    TriggerRule,
    get_current_context,
    task,
)

from include.onboarding import tier_tasks
from include.onboarding.approvals.operator import OnboardingApprovalOperator
from include.onboarding.assets import ONBOARDING_EVENTS
from include.onboarding.callbacks import on_deadline_missed, on_task_failure
from include.onboarding.clock import wall_seconds
from include.onboarding.config import OnboardingConfig, StepKind, TierConfig
from include.onboarding.deadlines import TargetWarningReference
from include.onboarding.names import dag_id_for
from include.onboarding.run_notes import sync as sync_run_note
from include.onboarding.sensors import ChecklistItemSensor, onboarding_key


def _key() -> str:
    return onboarding_key(get_current_context())


def doc_md(tier: TierConfig, config: OnboardingConfig) -> str:
    """The DAG's documentation in the Airflow UI: the path, the checklist, approvals, steps and stage owners."""
    stages = "\n".join(
        f"| {s.key.value} | {s.owner_role} (`{config.settings.holder(s.owner_role, tier.regions[0])}` in"
        f" {tier.regions[0]}) | {s.describe_sla()}"
        f"{' (paused while waiting on the customer)' if s.clock_pauses_on_customer else ''} |"
        for s in tier.stages
    )
    items = "\n".join(
        f"- `{i.key}`: {i.label} ({i.type.value}{', **critical**' if i.critical else ''}"
        f"{', only when ' + i.when.model_dump_json(exclude_none=True) if i.when else ''})"
        for i in tier.checklist
    )
    approvals = (
        "\n".join(
            f"- `approve_{a.key}`: {a.label} (by the {a.approver_role} holder of the account's region"
            f"{', only when ' + a.when.model_dump_json(exclude_none=True) if a.when else ''})"
            for a in tier.approvals
        )
        or "- none"
    )
    steps = "\n".join(
        f"- `setup_{s.key}`: {s.label} ({s.kind.value}"
        f"{', after ' + ', '.join(s.depends_on) if s.depends_on else ''}"
        f"{', only when ' + s.when.model_dump_json(exclude_none=True) if s.when else ''})"
        for s in tier.setup_steps
    )
    return f"""
### {tier.display_name} onboarding

{tier.description}

**One run = one account.** The run id is `onboarding__<onboarding key>`; its conf
carries the key. Everything the run learns is in the onboarding store
(`onboarding.onboardings`, `checklist_items`, `approvals`, `setup_steps`,
`events`), so any task can be cleared and re-run safely.

**Activation target**: {tier.activation_target_business_days} business days from signing,
unless the order carries a committed go-live date.

**Path**: plan the checklist, invite the customer to the portal by email (`customer_mail`), wait for every
item (`wait_for_input`, one mapped sensor per item, named by the item), ask for the
internal approvals, pass the readiness gate, run setup in order (steps that need
the tenant wait for provisioning to report it active), tell the customer, hand the account to the
{tier.handoff_to_role}, mark it live.

**Checklist**

{items}

**Approvals**: each is answered in **Browse -> Required Actions** (or the task's Required
Actions tab) by the approver it is assigned to, who also gets a Slack notice; anyone else
is refused. Once the critical inputs are verified the request shows the account, what to
check with the verified evidence, and the SLA. A rejection (with its comment) keeps the
readiness gate closed and goes to the stage owner; a request nobody answers expires after
`approval_timeout_business_days` and is escalated. **Clear an `approve_*` task** (with
downstream) to ask again; an approval already given is not asked twice.

{approvals}

**Setup steps** (exactly once each, in dependency order)

{steps}

**Stages, owners and SLAs**

| stage | owner role | SLA |
| --- | --- | --- |
{stages}
"""


def deadline_alerts(tier: TierConfig, config: OnboardingConfig) -> list[DeadlineAlert]:
    """The run's SLA-miss callbacks: the activation target is near, and the run overran the tier's window."""
    warn_days = config.settings.runs.target_warning_business_days
    return [
        DeadlineAlert(
            reference=TargetWarningReference(),
            interval=timedelta(0),
            callback=SyncCallback(
                on_deadline_missed,
                kwargs={
                    "which": "target_approaching",
                    "reason": f"the activation target is {warn_days} business days away and the account is not live",
                },
            ),
        ),
        DeadlineAlert(
            # The run's logical date: when the intake started it (TriggerDagRunOperator gives it the trigger
            # time).  Not DAGRUN_QUEUED_AT: Airflow 3.3.2 fails every clear of a task in a run that has a
            # queued-at deadline (it recomputes it from a stored interval it cannot read), and clearing an
            # approval task is how an approval is asked for again.  A cleared run also keeps its window.
            reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
            interval=timedelta(seconds=wall_seconds(tier.overrun_after_days * 86400)),
            callback=SyncCallback(
                on_deadline_missed,
                kwargs={
                    "which": "run_overrun",
                    "reason": f"the run has been open {tier.overrun_after_days} days, past the {tier.display_name}"
                    " window",
                },
            ),
        ),
    ]


def build_tier_dag(tier: TierConfig, config: OnboardingConfig) -> DAG:  # noqa: C901
    """The DAG ``onboarding_<tier>``: one run per account, its graph from the tier's configuration."""
    runs, timing = config.settings.runs, config.run_waits
    with DAG(
        dag_id=dag_id_for(tier.key),
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=runs.max_active_runs,
        max_active_tasks=runs.max_active_runs * 4,
        default_args={
            "owner": "onboarding-ops",
            "retries": 3,
            "retry_delay": timing.retry_delay,
            # A task that fails for good (a sensor timing out on the customer, a step the API
            # refused, a gate that cannot open) escalates to the owner of the account's stage.
            "on_failure_callback": on_task_failure,
            # The run's note (account, owner now, target) follows the account's stage owner.
            "on_success_callback": sync_run_note,
        },
        params={
            "onboarding_key": Param(type="string", description="the onboarding to carry, e.g. hubspot-18000000001")
        },
        tags=["onboarding", f"tier:{tier.key}"],
        doc_md=doc_md(tier, config),
        deadline=deadline_alerts(tier, config) if timing.deadline_alerts else None,
    ) as dag:

        @task
        def plan_checklist() -> list[str]:
            return tier_tasks.plan_checklist(_key())

        @task
        def request_inputs() -> int:
            return tier_tasks.request_inputs(_key())

        @task(trigger_rule=TriggerRule.ALL_DONE, retries=0)
        def readiness_gate() -> None:
            """Setup and customer commitments stay blocked until every critical input and approval is in."""
            tier_tasks.readiness_gate(_key(), get_current_context())

        @task
        def setup_step(step_key: str) -> str | None:
            return tier_tasks.setup_step(_key(), step_key)

        @task.sensor(mode="reschedule", poke_interval=timing.poke_seconds, timeout=timing.provisioning_timeout_seconds)
        def wait_for_provisioning() -> PokeReturnValue:
            return PokeReturnValue(is_done=tier_tasks.provisioned(_key()))

        @task
        def notify_customer() -> int:
            return tier_tasks.notify_customer(_key())

        @task
        def hand_off() -> str:
            return tier_tasks.hand_off(_key())

        @task(outlets=[ONBOARDING_EVENTS], multiple_outputs=False)
        def mark_live() -> dict[str, Any]:
            return tier_tasks.mark_live(_key())

        items = plan_checklist()
        sent = request_inputs()
        # One sensor per checklist item, named by the item, waiting in the triggerer (not a worker).
        waits = ChecklistItemSensor.partial(
            task_id="wait_for_input",
            poll_seconds=timing.poke_seconds,
            timeout=timing.input_timeout_seconds,
            map_index_template="{{ task.item_key }}",
        ).expand(item_key=items)
        items >> sent >> waits
        gate = readiness_gate()
        # One Human-in-the-loop task per configured approval, asked once the inputs are settled.
        approvals = [
            OnboardingApprovalOperator(
                task_id=f"approve_{a.key}", approval_key=a.key, label=a.label, trigger_rule=TriggerRule.ALL_DONE
            )
            for a in tier.approvals
        ]
        if approvals:
            waits >> approvals >> gate
        else:
            waits >> gate

        # Setup runs in the configured dependency order.  Steps that need the tenant wait
        # until provisioning reports it active; the last steps lead to the customer notice.
        steps = {s.key: setup_step.override(task_id=f"setup_{s.key}")(step_key=s.key) for s in tier.setup_steps}
        provisioned = wait_for_provisioning()
        tenant = next((s.key for s in tier.setup_steps if s.kind is StepKind.TENANT), None)
        if tenant is None:
            gate >> provisioned
        else:
            steps[tenant] >> provisioned
        for s in tier.setup_steps:
            if not s.depends_on:
                gate >> steps[s.key]
            for dep in s.depends_on:
                (provisioned if dep == tenant else steps[dep]) >> steps[s.key]
        leaves = [steps[s.key] for s in tier.setup_steps if not any(s.key in o.depends_on for o in tier.setup_steps)]
        notice = notify_customer()
        leaves >> notice
        provisioned >> notice
        notice >> hand_off() >> mark_live()
    prioritise(dag, first=("plan_checklist", "request_inputs"))
    return dag


def prioritise(dag: DAG, first: tuple[str, ...]) -> None:
    """Who goes first when every worker slot is busy: a new account's checklist (the customer can start on
    it while the rest waits), then the account closest to going live.

    Airflow's default weighs a task by how much follows it, so under a burst of signings every new run's
    first steps jump ahead of the accounts being set up, and all of them finish late together.  Here a
    task weighs its depth in the graph (the longest path to it), absolute across runs of every tier.
    """
    depth: dict[str, int] = {}

    def depth_of(task_id: str) -> int:
        if task_id not in depth:
            depth[task_id] = 1 + max((depth_of(u) for u in dag.get_task(task_id).upstream_task_ids), default=0)
        return depth[task_id]

    deepest = max(depth_of(t) for t in dag.task_ids)
    for op in dag.tasks:
        op.weight_rule = "absolute"
        op.priority_weight = deepest + 1 if op.task_id in first else depth_of(op.task_id)
