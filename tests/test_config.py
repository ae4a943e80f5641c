"""Tier configuration: the shipped tiers load and genuinely differ; every kind of
bad file is refused with a message naming the file and the field."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from include.onboarding.config import DEFAULT_CONFIG_DIR, ConfigError, OrderFacts, load_config

pytestmark = pytest.mark.unit


def test_shipped_tiers_load_and_differ() -> None:
    config = load_config()
    assert set(config.tiers) == {"enterprise", "smb", "partner"}
    ent, smb, partner = config.tiers["enterprise"], config.tiers["smb"], config.tiers["partner"]
    assert (
        ent.activation_target_business_days
        > partner.activation_target_business_days
        > smb.activation_target_business_days
    )
    assert {a.key for a in ent.approvals} == {"deal_desk", "security_review"}
    assert "signed_dpa" in {i.key for i in ent.checklist} and "signed_dpa" not in {i.key for i in smb.checklist}
    assert partner.handoff_to_role == "partner_manager" and smb.handoff_to_role == "support_lead"


def test_sso_addon_adds_checklist_item_and_step() -> None:
    ent = load_config().tiers["enterprise"]
    plain = OrderFacts(region="NA", addons=())
    sso = OrderFacts(region="NA", addons=("sso",))
    assert "sso_metadata" not in {i.key for i in ent.checklist_for(plain)}
    assert "sso_metadata" in {i.key for i in ent.checklist_for(sso)}
    assert "sso_connection" not in {s.key for s in ent.steps_for(plain)}
    assert "sso_connection" in {s.key for s in ent.steps_for(sso)}


def test_region_conditions_pick_the_right_tax_id() -> None:
    ent = load_config().tiers["enterprise"]
    assert {i.key for i in ent.checklist_for(OrderFacts(region="EMEA"))} >= {"billing_tax_id"}
    assert "billing_tax_id" not in {i.key for i in ent.checklist_for(OrderFacts(region="NA"))}


def test_every_shipped_tier_reminds_its_customers_before_the_owner_hears_of_silence() -> None:
    config = load_config()
    silent = config.settings.escalations.customer_silent_business_days
    for tier in config.tiers.values():
        assert tier.reminders is not None, tier.key
        assert 0 < tier.reminders.after_business_days[-1] < silent, tier.key
    # Light-touch tiers lean on email; an enterprise customer gets one nudge, then their manager.
    assert config.tiers["smb"].reminders == config.tiers["partner"].reminders
    assert len(config.tiers["enterprise"].reminders.after_business_days) == 1  # type: ignore[union-attr]


def test_small_smb_orders_skip_deal_desk() -> None:
    smb = load_config().tiers["smb"]
    assert smb.approvals_for(OrderFacts(region="NA", amount=5000)) == []
    assert [a.key for a in smb.approvals_for(OrderFacts(region="NA", amount=30000))] == ["deal_desk"]


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    return target


def _edit(path: Path, change: object) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize(
    ("file", "change", "expected"),
    [
        (
            "tiers/smb.yaml",
            lambda d: d["checklist"][0].update(mandatory=True),
            "checklist[0].mandatory: unknown field",
        ),
        (
            "tiers/enterprise.yaml",
            lambda d: d.update(stages=[s for s in d["stages"] if s["key"] != "setup"]),
            "stages: no owner for stage 'setup'",
        ),
        (
            "tiers/partner.yaml",
            lambda d: d["setup_steps"][2].update(depends_on=["ticket_creation"]),
            "setup_steps[2].depends_on: unknown step 'ticket_creation'",
        ),
        (
            "tiers/enterprise.yaml",
            lambda d: d["setup_steps"][0].update(depends_on=["kickoff"]),
            "setup_steps: dependency cycle",
        ),
        (
            "tiers/smb.yaml",
            lambda d: d["stages"][3].update(owner_role="night_shift"),
            "stages[3].owner_role: role 'night_shift' is not defined",
        ),
        (
            "tiers/enterprise.yaml",
            lambda d: d["checklist"][0].update(type="phone_number"),
            "checklist[0].type: Input should be",
        ),
        (
            "settings.yaml",
            lambda d: d["roles"]["implementation_lead"].pop("APAC"),
            "tiers/enterprise.yaml: stages[3].owner_role: nobody holds role 'implementation_lead' in region 'APAC'",
        ),
        (
            "settings.yaml",
            lambda d: d["people"][2].update(manager="ghost@example.com"),
            "people[2].manager: 'ghost@example.com' is not in people",
        ),
        (
            "tiers/smb.yaml",
            lambda d: d.update(reminders={"after_business_days": [2, 1]}),
            "reminders.after_business_days: must be strictly ascending business days, one reminder each (got [2, 1])",
        ),
        (
            "tiers/partner.yaml",
            lambda d: d.update(reminders={"after_business_days": [0, 2]}),
            "reminders.after_business_days[0]: Input should be greater than or equal to 1",
        ),
        (
            "tiers/smb.yaml",
            lambda d: d.update(reminders={"after_business_days": [1, 3]}),
            "reminders.after_business_days[1]: a reminder after 3 business days comes too late: the stage owner"
            " is told of a silent customer after 3 (escalations.customer_silent_business_days in settings.yaml)",
        ),
        (
            "settings.yaml",
            lambda d: d.update(escalations={"customer_silent_business_days": 1.5}),
            "tiers/enterprise.yaml: reminders.after_business_days[0]: a reminder after 2 business days comes too late",
        ),
    ],
    ids=["unknown-field", "stage-without-owner", "unknown-dependency", "cycle", "unknown-role", "bad-type",
         "role-unheld-in-region", "unknown-manager", "reminders-not-ascending", "reminder-not-positive",
         "reminder-after-silent", "silent-before-reminders"],
)  # fmt: skip
def test_bad_config_is_refused_naming_file_and_field(
    config_copy: Path, file: str, change: object, expected: str
) -> None:
    _edit(config_copy / file, change)
    with pytest.raises(ConfigError) as excinfo:
        load_config(config_copy)
    message = str(excinfo.value)
    # The file named is the edited one, or the tier that relies on what the edit removed.
    blamed = expected.split(": ")[0] if expected.startswith("tiers/") else file
    assert message.startswith(str(config_copy / blamed) + ": ")
    assert expected.removeprefix(blamed + ": ") in message


def test_invalid_yaml_is_refused(config_copy: Path) -> None:
    (config_copy / "tiers" / "smb.yaml").write_text("tier: smb\nstages: [unclosed\n")
    with pytest.raises(ConfigError, match=r"smb\.yaml: not valid YAML"):
        load_config(config_copy)


def test_tier_name_must_match_file(config_copy: Path) -> None:
    shutil.copy(config_copy / "tiers" / "smb.yaml", config_copy / "tiers" / "midmarket.yaml")
    with pytest.raises(ConfigError, match=r"midmarket\.yaml: tier: 'smb' must match the file name"):
        load_config(config_copy)


def test_adding_a_tier_file_adds_a_tier(config_copy: Path) -> None:
    data = yaml.safe_load((config_copy / "tiers" / "smb.yaml").read_text())
    data.update(tier="startup", crm_tier_values=["startup_program"])
    (config_copy / "tiers" / "startup.yaml").write_text(yaml.safe_dump(data))
    assert set(load_config(config_copy).tiers) == {"enterprise", "smb", "partner", "startup"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["regions"]["EMEA"].update(country="ZZ"), "regions.EMEA: no holiday calendar for country 'ZZ'"),
        (lambda d: d["regions"]["APAC"].update(subdivision="XYZ"), "regions.APAC: no holiday calendar for country"),
    ],
    ids=["country", "subdivision"],
)
def test_a_region_without_holiday_calendar_is_refused_even_after_good_loads(
    config_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: object, expected: str
) -> None:
    monkeypatch.setenv("ONBOARDING_CACHE_DIR", str(tmp_path / "cache"))
    load_config(config_copy)  # remembers the shipped regions' calendars
    load_config(config_copy)
    _edit(config_copy / "settings.yaml", change)
    for _ in range(2):  # a refused calendar is never remembered as found
        with pytest.raises(ConfigError) as excinfo:
            load_config(config_copy)
        assert str(excinfo.value).startswith(f"{config_copy / 'settings.yaml'}: {expected}")


_LOAD_IN_A_FRESH_PROCESS = """
import json, sys
from include.onboarding.config import load_config
load_config()
print(json.dumps("holidays" in sys.modules))
"""


def _loads_holidays(cache: Path) -> bool:
    env = {**os.environ, "ONBOARDING_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_IN_A_FRESH_PROCESS], env=env, capture_output=True, text=True, check=True
    )
    return bool(json.loads(out.stdout.strip().splitlines()[-1]))


def test_a_calendar_found_once_is_not_looked_up_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert _loads_holidays(cache)
    assert len(list((cache / "calendars").iterdir())) == 3  # NA, EMEA, APAC
    assert not _loads_holidays(cache)  # importing holidays is most of a task process's parse


def test_an_unwritable_cache_only_means_every_load_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("ONBOARDING_CACHE_DIR", str(blocker))
    assert set(load_config().tiers) == {"enterprise", "smb", "partner"}
    assert _loads_holidays(blocker)


_LOAD_AND_SAY_IF_VALIDATED = """
import json
from include.onboarding.config import OnboardingConfig, load_config
config = load_config()
print(json.dumps([OnboardingConfig.__pydantic_complete__, sorted(config.tiers)]))
"""


def _load_validates(cache: Path) -> bool:
    """Load the shipped configuration in a fresh process: whether it built validators (found nothing in ``cache``)."""
    env = {**os.environ, "ONBOARDING_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_SAY_IF_VALIDATED], env=env, capture_output=True, text=True, check=True
    )
    validated, tiers = json.loads(out.stdout.strip().splitlines()[-1])
    assert tiers == ["enterprise", "partner", "smb"]
    return bool(validated)


def test_a_validated_configuration_is_remembered_by_the_next_process(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert _load_validates(cache)
    (kept,) = (cache / "config").iterdir()
    assert kept.stat().st_mode & 0o777 == 0o600
    assert not _load_validates(cache)  # validating is most of what loading costs a task process
    kept.chmod(0o664)  # writable by others: never read
    assert _load_validates(cache)


def test_a_changed_file_is_validated_again_after_a_remembered_load(
    config_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONBOARDING_CACHE_DIR", str(tmp_path / "cache"))
    assert load_config(config_copy).tiers["smb"].approvals_for(OrderFacts(region="NA", amount=30000))
    load_config(config_copy)
    _edit(config_copy / "tiers/smb.yaml", lambda d: d["checklist"][0].update(mandatory=True))
    with pytest.raises(ConfigError, match=r"checklist\[0\]\.mandatory: unknown field"):
        load_config(config_copy)
