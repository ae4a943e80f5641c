"""The order generator takes its tiers, and their regions and segments, from the tier files."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from include.onboarding.config import DEFAULT_CONFIG_DIR, load_config
from sandbox.generator import generate_baseline, generate_orders

pytestmark = pytest.mark.unit


@pytest.fixture
def config_with_new_tier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the configuration with a ``growth`` tier file added, made the one the loader reads."""
    root = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, root)
    growth = yaml.safe_load((root / "tiers" / "smb.yaml").read_text())
    growth.update(
        tier="growth",
        display_name="Growth",
        crm_tier_values=["growth", "scale_up"],
        regions=["NA", "EMEA"],
        segments=["scaleup"],
    )
    (root / "tiers" / "growth.yaml").write_text(yaml.safe_dump(growth, sort_keys=False))
    monkeypatch.setenv("ONBOARDING_CONFIG_DIR", str(root))
    return root


def test_a_tier_file_added_gets_orders_in_its_regions_and_segments(config_with_new_tier: Path) -> None:
    config = load_config()
    assert "growth" in config.tiers
    orders = generate_orders(200, seed=7, start=date(2026, 10, 1))
    growth = [o for o in orders if o["onboarding_tier"] == "growth"]
    assert growth
    assert {o["region"] for o in growth} <= {"NA", "EMEA"}
    assert {o["segment"] for o in growth} == {"scaleup"}
    assert all(o["dealname"] and o["amount"] for o in growth)
    routed = [config.tier_for_crm_value(o["onboarding_tier"] or "") for o in orders]
    assert {t.key if t else None for t in routed} == set(config.tiers)
    assert orders == generate_orders(200, seed=7, start=date(2026, 10, 1), config=config)


def test_a_tier_file_added_gets_baseline_accounts(config_with_new_tier: Path) -> None:
    rows = generate_baseline(200, seed=7, end=date(2026, 11, 2))
    assert {r["tier"] for r in rows} == set(load_config().tiers)
    assert {r["segment"] for r in rows if r["tier"] == "growth"} == {"scaleup"}
