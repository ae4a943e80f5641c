"""The pilot scope: which signed orders the automation takes.

The rules first, without a database; then the intake against the sandbox CRM
over real HTTP into real PostgreSQL: an order outside the scope is counted as
out of pilot and left alone (no onboarding, no quarantine), and a scope widened
later takes it in at the next pickup, with the change in the audit trail.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from include.onboarding import intake
from include.onboarding.clock import FixedClock
from include.onboarding.config import ConfigError, OnboardingConfig, PilotScope, load_config
from include.onboarding.store import Store
from tests.factories import deal_properties
from tests.test_intake import NOW, pickup

SMB_NA = {"tier": "smb", "region": "NA", "segment": "commercial", "addons": ()}


def _with_scope(config: OnboardingConfig, **scope: Any) -> OnboardingConfig:
    """The configuration with this pilot scope, and no look-back: a pickup re-reads only the newest deal."""
    intake_settings = config.settings.intake.model_copy(update={"lookback_minutes": 0})
    settings = config.settings.model_copy(update={"pilot": PilotScope(**scope), "intake": intake_settings})
    return config.model_copy(update={"settings": settings})


# --------------------------------------------------------------------------- the rules


@pytest.mark.unit
def test_no_rules_takes_every_order() -> None:
    scope = PilotScope()
    assert scope.takes_everything
    assert scope.admits({"tier": "enterprise", "region": "APAC"})


@pytest.mark.unit
def test_an_order_is_in_when_one_include_rule_matches_it_whole() -> None:
    scope = PilotScope(include=[{"tier": "smb", "region": ["NA", "EMEA"]}, {"tier": ["partner"]}])
    assert scope.admits(SMB_NA)
    assert scope.admits({**SMB_NA, "region": "emea"})  # values compare without case
    assert scope.admits({"tier": "partner", "region": "APAC"})
    assert not scope.admits({**SMB_NA, "region": "APAC"})  # smb, but not in NA or EMEA
    assert not scope.admits({"tier": "enterprise", "region": "NA"})


@pytest.mark.unit
def test_exclude_wins_over_include() -> None:
    scope = PilotScope(include=[{"tier": "smb"}], exclude=[{"addons": ["data_migration"]}])
    assert scope.admits({**SMB_NA, "addons": ("training_pack",)})
    assert not scope.admits({**SMB_NA, "addons": ("training_pack", "data_migration")})
    only_exclude = PilotScope(exclude=[{"region": "APAC"}])
    assert only_exclude.admits({"tier": "enterprise", "region": "NA"})
    assert not only_exclude.admits({"tier": "enterprise", "region": "APAC"})


@pytest.mark.unit
def test_any_order_field_can_be_tested_and_a_missing_value_does_not_match() -> None:
    scope = PilotScope(include=[{"partner_name": "Kestrel IT"}])
    assert scope.admits({"partner_name": "kestrel it"})
    assert not scope.admits({"partner_name": None})


@pytest.mark.unit
def test_the_fingerprint_follows_the_rules_not_their_spelling() -> None:
    a = PilotScope(name="SMB pilot", include=[{"tier": "smb", "region": ["NA", "EMEA"]}])
    b = PilotScope(name="renamed", minimum_accounts=9, include=[{"region": ["emea", "NA"], "tier": ["SMB"]}])
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != PilotScope().fingerprint
    assert a.fingerprint != PilotScope(include=[{"tier": "smb"}]).fingerprint


@pytest.mark.unit
def test_fields_the_baseline_lacks_are_left_out_of_the_comparison() -> None:
    scope = PilotScope(include=[{"tier": "smb", "addons": "sso"}], exclude=[{"addons": "data_migration"}])
    row = {"tier": "smb", "region": "NA"}
    assert scope.admits(row, known=("tier", "region", "segment"))
    assert not scope.admits({**row, "tier": "enterprise"}, known=("tier", "region", "segment"))


@pytest.mark.unit
def test_an_unknown_field_empty_rule_region_or_tier_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"include\[0\]\.colour: not an order field"):
        PilotScope(include=[{"colour": "blue"}])
    with pytest.raises(ValueError, match=r"exclude\[0\]: an empty rule"):
        PilotScope(exclude=[{}])
    root = tmp_path / "config"
    shutil.copytree(Path(load_config().config_dir), root)
    settings = yaml.safe_load((root / "settings.yaml").read_text())
    settings["pilot"] = {"include": [{"tier": "mid_market"}]}
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(
        ConfigError, match=r"settings.yaml: pilot.include\[0\].tier: unknown tier\(s\) \['mid_market'\]"
    ):
        load_config(root)
    settings["pilot"] = {"exclude": [{"region": "LATAM"}]}
    (root / "settings.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(ConfigError, match=r"pilot.exclude\[0\].region: unknown region\(s\) \['LATAM'\]"):
        load_config(root)


# --------------------------------------------------------------------------- the intake


def _scope_events(store: Store) -> list[dict[str, Any]]:
    return [e for e in store.events_for("intake") if e["event_type"] == "pilot.scope_changed"]


def test_orders_outside_the_pilot_are_counted_not_quarantined_and_never_started(store: Store, sandbox: Any) -> None:
    state = sandbox.state
    smb = state.upsert_deal(deal_properties(onboarding_tier="smb", segment="commercial", region="NA"))
    smb_apac = state.upsert_deal(deal_properties(onboarding_tier="smb", segment="commercial", region="APAC"))
    enterprise = state.upsert_deal(deal_properties(region="NA"))
    config = _with_scope(
        load_config(), name="SMB outside APAC", include=[{"tier": "smb"}], exclude=[{"region": "APAC"}]
    )

    result = pickup(store, config, "run-1")

    assert result["created"] == 1 and result["out_of_pilot"] == 2 and result["quarantined"] == 0
    assert [r["crm_deal_id"] for r in store.query("SELECT crm_deal_id FROM onboarding.onboardings")] == [smb["id"]]
    left_out = store.query("SELECT * FROM onboarding.out_of_pilot_orders ORDER BY crm_deal_id")
    assert {r["crm_deal_id"] for r in left_out} == {smb_apac["id"], enterprise["id"]}
    assert all(r["taken_at"] is None and r["scope_fingerprint"] == config.settings.pilot.fingerprint for r in left_out)
    assert store.scalar("SELECT count(*) FROM onboarding.quarantined_orders") == 0
    # Nothing to start for them: the only run is the pilot's account.
    runs = intake.runs_to_start(store, config, FixedClock(NOW))
    assert [r["trigger_run_id"] for r in runs] == [f"onboarding__hubspot-{smb['id']}"]
    # The first pickup under a scope other than "every order" records the change.
    [changed] = _scope_events(store)
    assert changed["details"]["to_fingerprint"] == config.settings.pilot.fingerprint
    assert changed["details"]["name"] == "SMB outside APAC"
    assert changed["details"]["scope"] == "include (tier in smb), exclude (region in APAC)"

    # The same scope again: the newest deal is re-read, counted again, and nothing else happens.
    later = FixedClock(NOW + timedelta(minutes=15))
    again = pickup(store, config, "run-2", clock=later)
    assert again["fetched"] == 1 and again["created"] == 0 and again["out_of_pilot"] == 1
    assert len(_scope_events(store)) == 1
    assert store.scalar("SELECT count(*) FROM onboarding.onboardings") == 1


def test_a_scope_widened_later_takes_the_left_out_orders_in_at_the_next_pickup(store: Store, sandbox: Any) -> None:
    state = sandbox.state
    enterprise = state.upsert_deal(deal_properties(region="EMEA"))
    smb = state.upsert_deal(deal_properties(onboarding_tier="smb", segment="commercial", region="NA"))
    narrow = _with_scope(load_config(), include=[{"tier": "smb"}])
    first = pickup(store, narrow, "run-1")
    assert first["created"] == 1 and first["out_of_pilot"] == 1
    # Nothing changes in the CRM: the watermark is past the enterprise deal (only the newest is re-read).
    quiet = pickup(store, narrow, "run-2", clock=FixedClock(NOW + timedelta(hours=1)))
    assert quiet["fetched"] == 1 and quiet["unchanged"] == 1 and quiet["out_of_pilot"] == 0

    wide = _with_scope(load_config(), include=[{"tier": ["smb", "enterprise"]}])
    widened = pickup(store, wide, "run-3", clock=FixedClock(NOW + timedelta(hours=2)))

    assert widened["fetched"] == 2 and widened["created"] == 1 and widened["out_of_pilot"] == 0
    assert widened["created_keys"] == [f"hubspot-{enterprise['id']}"]
    row = store.query("SELECT * FROM onboarding.out_of_pilot_orders WHERE crm_deal_id = %s", (enterprise["id"],))[0]
    assert row["taken_at"] is not None and row["onboarding_key"] == f"hubspot-{enterprise['id']}"
    changes = _scope_events(store)
    assert [(c["details"]["batch_id"], c["details"]["orders_out_of_pilot"]) for c in changes] == [
        ("run-1", 0),
        ("run-3", 1),
    ]
    assert changes[1]["details"]["from_fingerprint"] == narrow.settings.pilot.fingerprint
    assert changes[1]["details"]["to_fingerprint"] == wide.settings.pilot.fingerprint
    batches = store.query("SELECT batch_id, scope_fingerprint FROM onboarding.intake_batches ORDER BY batch_id")
    assert [b["scope_fingerprint"] for b in batches] == [narrow.settings.pilot.fingerprint] * 2 + [
        wide.settings.pilot.fingerprint
    ]
    # Once taken in, the next pickup under the same scope re-reads only the newest deal again.
    after = pickup(store, wide, "run-4", clock=FixedClock(NOW + timedelta(hours=3)))
    assert after["fetched"] == 1 and after["created"] == 0
    assert {r["crm_deal_id"] for r in store.query("SELECT crm_deal_id FROM onboarding.onboardings")} == {
        enterprise["id"],
        smb["id"],
    }


def test_the_default_scope_changes_nothing_and_records_no_change(store: Store, sandbox: Any) -> None:
    sandbox.state.upsert_deal(deal_properties(region="APAC"))
    result = pickup(store, load_config(), "run-1")
    assert result["created"] == 1 and result["out_of_pilot"] == 0
    assert _scope_events(store) == []


def test_a_corrected_order_outside_the_pilot_leaves_quarantine_as_out_of_pilot(store: Store, sandbox: Any) -> None:
    state = sandbox.state
    broken = state.upsert_deal(deal_properties(region="NA", primary_contact_email="not-an-email"))
    config = _with_scope(load_config(), include=[{"tier": "smb"}])
    assert pickup(store, config, "run-1")["quarantined"] == 1
    state.upsert_deal({"primary_contact_email": "jane@northwind.example"}, deal_id=broken["id"])
    fixed = pickup(store, config, "run-2", clock=FixedClock(NOW + timedelta(minutes=15)))
    assert fixed["out_of_pilot"] == 1 and fixed["quarantine_resolved"] == 1
    [entry] = store.query("SELECT status, resolution FROM onboarding.quarantined_orders")
    assert entry["status"] == "resolved" and "outside the pilot scope" in entry["resolution"]
    assert store.scalar("SELECT count(*) FROM onboarding.onboardings") == 0
