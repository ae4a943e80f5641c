"""The whole job under Airflow's own api-server, scheduler, dag-processor and triggerer (not ``dag.test``).

A dozen signed orders across the three tiers go into the sandbox CRM.  Nothing
is run by hand: the intake picks them up on its schedule and starts one run per
account; the checklist sensors wait in the triggerer; the escalation pass runs
on its schedule; business time is accelerated as in ``make demo``.  Among the
accounts: a customer who never answers (the sensor gives up and the owner is
told), a tenant the provisioning API fails to create (the owner is told, with
the provider's words), and a billing API that answers 500 to its first calls
(retried, and still exactly one customer per account).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localstack.month_demo import ledger_problems
from tests.real_stack import TIERS, Stack, real_stack
from tests.real_stack import sign as _sign

pytestmark = pytest.mark.stack  # minutes: `make test-stack` (and CI) runs it, `make test` does not


@pytest.fixture
def scheduler_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    # A stack of its own: its own PostgreSQL, sandbox and Airflow home, nothing shared with the suite.
    with real_stack(tmp_path, monkeypatch) as s:
        yield s


def test_a_dozen_onboardings_under_the_real_scheduler(scheduler_stack: Stack) -> None:
    s = scheduler_stack
    s.sandbox("POST", "/_sandbox/provisioning/settings", {"provision_seconds": 3600})
    # Customers read their invitations and answer in the portal; one sends a wrong value first.
    wrong_first = ("enterprise", 1)
    keys = {
        tier: [_sign(s, tier, n, "invalid_then_correct" if (tier, n) == wrong_first else "prompt") for n in range(4)]
        for tier in TIERS
    }
    stalled = _sign(s, "smb", 9, behaviour="silent")
    corrected = keys["enterprise"][1]
    broken_tenant = keys["partner"][2]
    s.sandbox("POST", "/_sandbox/provisioning/outcomes", {"outcome": "fail", "external_id": broken_tenant})
    s.sandbox("POST", "/_sandbox/faults", {"system": "billing", "server_error": 3, "lost_after_commit": 1})
    # Answers lost after the vendor committed, while search lags behind the creates (an hour of the
    # accelerated clock, five seconds of wall time): still one issue, customer, tenant and user each.
    s.sandbox("POST", "/_sandbox/faults", {"system": "ticketing", "lost_after_commit": 2, "dropped_after_commit": 1})
    s.sandbox("POST", "/_sandbox/faults", {"system": "provisioning", "garbled_after_commit": 2})
    s.sandbox("POST", "/_sandbox/ticketing/settings", {"search_delay_seconds": 3600})
    s.sandbox("POST", "/_sandbox/billing/settings", {"search_delay_seconds": 3600})
    for dag_id in ("onboarding_intake", "onboarding_escalations", *(f"onboarding_{t}" for t in TIERS)):
        s.api.set_paused(dag_id, False)

    everyone = [k for ks in keys.values() for k in ks] + [stalled]
    should_go_live = set(everyone) - {stalled, broken_tenant}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        rows = s.store.query(
            """SELECT o.onboarding_key, o.status,
                      EXISTS (SELECT 1 FROM onboarding.escalations e WHERE e.onboarding_id = o.id
                              AND e.kind = 'failure' AND e.delivery_status = 'delivered') AS told
               FROM onboarding.onboardings o"""
        )
        state = {r["onboarding_key"]: r for r in rows}
        live = {k for k, r in state.items() if r["status"] == "live"}
        if live >= should_go_live and all(state.get(k, {}).get("told") for k in (stalled, broken_tenant)):
            break
        time.sleep(3)
    assert live == should_go_live, f"not live: {sorted(should_go_live - live)}; also live: {live - should_go_live}"

    # The silent customer: the checklist sensors gave up in the triggerer's time and the SMB owner was told.
    failures = s.store.query(
        """SELECT e.notify_email, e.reason, e.details, e.delivery_status, o.stage_owner_email
           FROM onboarding.escalations e JOIN onboarding.onboardings o ON o.id = e.onboarding_id
           WHERE o.onboarding_key = %s AND e.kind = 'failure'""",
        (stalled,),
    )
    waited = [f for f in failures if "gave up waiting for the customer's input" in f["reason"]]
    assert waited and all(f["delivery_status"] == "delivered" for f in waited)
    assert waited[0]["notify_email"] == waited[0]["stage_owner_email"]
    # The tenant that could not be provisioned: its owner got the provider's own words.
    tenant = s.store.query(
        """SELECT e.reason, e.delivery_status FROM onboarding.escalations e
           JOIN onboarding.onboardings o ON o.id = e.onboarding_id
           WHERE o.onboarding_key = %s AND e.kind = 'failure'""",
        (broken_tenant,),
    )
    assert any("capacity" in t["reason"] and t["delivery_status"] == "delivered" for t in tenant), tenant
    # The corrected input: rejected once with a reason, then verified.
    verdicts = s.store.query(
        """SELECT s.verdict FROM onboarding.submissions s JOIN onboarding.onboardings o ON o.id = s.onboarding_id
           WHERE o.onboarding_key = %s""",
        (corrected,),
    )
    assert {"rejected", "verified"} <= {v["verdict"] for v in verdicts}

    # Exactly once, though Stripe answered 500 three times.
    billing_calls = s.sandbox("GET", "/_sandbox/requests?system=billing")
    assert sum(1 for r in billing_calls if r["status"] == 500) == 3
    # ... and though Jira, Stripe and the provisioning API lost answers after committing.
    lost = [r["fault"] for r in s.sandbox("GET", "/_sandbox/requests") if r["fault"] and "commit" in r["fault"]]
    assert sorted(lost) == ["dropped_after_commit"] + ["lost_after_commit"] * 3
    garbled = s.sandbox("GET", "/_sandbox/requests?system=provisioning")
    assert sum(1 for r in garbled if r["fault"] == "malformed_json" and r["method"] == "POST") == 2
    found, problems = ledger_problems(s.store, s.sandbox("GET", "/_sandbox/ledger"))
    assert problems == []
    assert found["Stripe customers"] == len(should_go_live)

    # The grid: one run per account, named by the account; the checklist sensors named by item.
    for tier, tier_keys in keys.items():
        runs = s.api.call("GET", f"/dags/onboarding_{tier}/dagRuns?limit=100")["dag_runs"]
        assert {r["dag_run_id"] for r in runs} >= {f"onboarding__{k}" for k in tier_keys}
    run_id = f"onboarding__{keys['enterprise'][0]}"
    tis = s.api.call("GET", f"/dags/onboarding_enterprise/dagRuns/{run_id}/taskInstances?limit=100")
    sensors = {t["rendered_map_index"] for t in tis["task_instances"] if t["task_id"] == "wait_for_input"}
    items = s.store.query(
        """SELECT c.item_key FROM onboarding.checklist_items c JOIN onboarding.onboardings o
           ON o.id = c.onboarding_id WHERE o.onboarding_key = %s""",
        (keys["enterprise"][0],),
    )
    assert sensors == {i["item_key"] for i in items}
    # The escalation pass ran on its schedule under the scheduler.
    passes = s.api.call("GET", "/dags/onboarding_escalations/dagRuns?limit=100")["dag_runs"]
    assert any(r["state"] == "success" for r in passes)
