"""What ``make demo`` adds for the pilot, without running the demo: its scope leaves the APAC
orders of its CRM out (every tier stays in), its baseline export looks like the brief's "before"
and imports cleanly, and the before/after table it prints at the end."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from include.onboarding import reporting
from include.onboarding.config import load_config
from include.onboarding.intake.orders import Order
from include.onboarding.intake.plan import pilot_facts
from include.onboarding.intake.rules import judge
from include.onboarding.store import Store
from localstack import month_demo
from sandbox.generator import generate_baseline, generate_orders


@pytest.mark.unit
def test_the_demo_pilot_leaves_the_apac_orders_out_and_keeps_every_tier(tmp_path: Path) -> None:
    config = load_config(month_demo.demo_config(tmp_path))
    deals = generate_orders(20, seed=7, start=date(2026, 11, 2), bad_ratio=0.05, business_days=2)
    orders = [v for d in deals if d.get("dealstage") == "closedwon" for v in [judge(_record(d), [], config)]]
    valid = [o for o in orders if isinstance(o, Order)]
    out = [o for o in valid if not config.settings.pilot.admits(pilot_facts(o))]
    assert out and {o.region for o in out} == {"APAC"}
    assert {o.tier for o in valid if o not in out} == {"enterprise", "smb", "partner"}
    assert len(valid) - len(out) >= config.settings.pilot.minimum_accounts


def _record(props: dict[str, Any]) -> dict[str, Any]:
    stamp = "2026-11-02T12:00:00.000Z"
    return {"id": str(abs(hash(props["dealname"])) % 10**9), "properties": {**props, "hs_lastmodifieddate": stamp}}


@pytest.mark.unit
def test_the_baseline_looks_like_the_brief_s_before() -> None:
    rows = generate_baseline(200, seed=7, end=date(2026, 11, 2))
    assert rows == generate_baseline(200, seed=7, end=date(2026, 11, 2))
    assert all(r["signed_date"] and r["tier"] and r["region"] for r in rows)


def test_the_demo_imports_its_baseline_and_prints_the_before_after_table(
    database_url: str, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("ONBOARDING_CONFIG_DIR", str(month_demo.demo_config(tmp_path)))
    options = month_demo.Options(20, 7, 0.05, date(2026, 11, 2), 2, 2880.0, False, 4, 9.0, 8.0)

    result = month_demo.import_demo_baseline(database_url, options, tmp_path)

    assert result.ok and result.loaded == 40
    day = date(2026, 11, 2)
    reporting.build(store, load_config(), day, datetime(2026, 11, 3, tzinfo=timezone.utc))
    table = reporting.read(store, "pilot_before_after", day).set_index(["scope", "metric"])
    first = table.loc[("all", "time_to_first_value")]
    # Two to four weeks to first value (10 to 20 business days; holidays make a few a day shorter).
    # Accounts signed in the last weeks before the start have no first value yet.
    assert 10 <= first["before_median"] <= 20 and 30 <= first["before_accounts"] < 40
    live_days = table.loc[("all", "time_to_live"), "before_median"]
    touches = table.loc[("all", "manual_touches"), "before_median"]
    assert 0.6 * live_days <= touches <= 1.5 * live_days  # about one status email a business day
    assert table.loc[("pilot", "time_to_first_value"), "before_accounts"] < 40  # APAC left out

    month_demo.print_before_after(database_url, day)
    printed = capsys.readouterr().out
    assert "Out of pilot: 0 signed orders outside the pilot (none)" in printed
    assert "Before and after: North America and EMEA, every tier" in printed
    assert "not enough accounts yet (0 of the minimum 5)" in printed
