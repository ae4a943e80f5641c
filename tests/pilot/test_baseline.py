"""The baseline: a CSV export of past onboardings, checked row by row and loaded.

A realistic export, as a spreadsheet leaves it: dates in three forms, a live
date before signing, a missing tier, a duplicate.  Bad rows are reported with
their line, column and why, and recorded; good rows load; the same file
imported again changes nothing.  Through the command line and the Airflow DAG
too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from include.onboarding import baseline
from include.onboarding.config import load_config
from include.onboarding.store import Store

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)

# Line 1 is the header; the line numbers below are the file's.
EXPORT = """Account,Tier,Segment,Region,Signed date,First value date,Live date,Status emails
Acme Robotics,Enterprise,strategic,NA,2026-01-05,2026-01-27,2026-02-06,18
Birch Foods,smb,commercial,EMEA,02/03/2026,20/03/2026,27/03/2026,15
Cedar Labs,smb,startup,APAC,3 Feb 2026,24 Feb 2026,3 Mar 2026,12
Drift Energy,partner,channel,NA,2026-02-10,,2026-02-02,9
Evergreen Media,,commercial,NA,2026-02-11,2026-03-02,2026-03-09,11
  acme  robotics ,enterprise,strategic,NA,5 January 2026,2026-01-28,2026-02-09,20
Falcon Health,smb,commercial,NA,2026-02-30,2026-03-10,,7
Granite Insurance,platinum,large,LATAM,2026-02-12,,,x

"""


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "day_first", "expected"),
    [
        ("2026-02-03", False, date(2026, 2, 3)),
        ("2026-02-03T14:00:00Z", False, date(2026, 2, 3)),
        ("02/03/2026", False, date(2026, 2, 3)),
        ("02/03/2026", True, date(2026, 3, 2)),
        ("2.3.2026", True, date(2026, 3, 2)),
        ("3 Feb 2026", False, date(2026, 2, 3)),
        ("3rd February 2026", True, date(2026, 2, 3)),
        ("Feb 3, 2026", False, date(2026, 2, 3)),
    ],
)
def test_dates_in_the_forms_exports_use(text: str, day_first: bool, expected: date) -> None:
    assert baseline.parse_date(text, day_first) == expected


@pytest.mark.unit
def test_a_date_that_is_none_says_why() -> None:
    with pytest.raises(ValueError, match=r"no such day \(year 2026, month 2, day 30\)"):
        baseline.parse_date("2026-02-30", False)
    with pytest.raises(ValueError, match=r"month 13.*read month first, as baseline.day_first is false"):
        baseline.parse_date("13/02/2026", False)
    with pytest.raises(ValueError, match="not a date: use 2026-02-03, 03/02/2026 or 3 Feb 2026"):
        baseline.parse_date("last Tuesday", False)
    with pytest.raises(ValueError, match="'Foo' is not a month name"):
        baseline.parse_date("3 Foo 2026", False)
    with pytest.raises(ValueError, match="outside the accepted range"):
        baseline.parse_date("1899-12-31", False)


@pytest.mark.unit
def test_each_bad_row_is_reported_with_its_line_column_and_why_and_good_rows_pass() -> None:
    parsed = baseline.parse(EXPORT, load_config(), day_first=True)

    assert parsed.read == 8  # the blank line at the end is not a row
    assert [r.account for r in parsed.rows] == ["Acme Robotics", "Birch Foods", "Cedar Labs"]
    acme, birch, cedar = parsed.rows
    assert (acme.tier, acme.region, acme.signed_on, acme.first_value_on, acme.live_on, acme.touches) == (
        "enterprise", "NA", date(2026, 1, 5), date(2026, 1, 27), date(2026, 2, 6), 18,
    )  # fmt: skip
    assert (birch.signed_on, birch.first_value_on, birch.live_on) == (date(2026, 3, 2), date(2026, 3, 20),
                                                                      date(2026, 3, 27))  # fmt: skip
    assert (cedar.signed_on, cedar.live_on, cedar.segment) == (date(2026, 2, 3), date(2026, 3, 3), "startup")
    assert [str(p) for p in parsed.problems] == [
        "line 5, live_date '2026-02-02': 2026-02-02 is before the signing date 2026-02-10",
        "line 6, tier: missing: the tier is needed to compare like with like",
        "line 7, account 'acme robotics': duplicate of line 2: the same account signed on 2026-01-05",
        "line 8, signed_date '2026-02-30': no such day (year 2026, month 2, day 30)",
        "line 9, tier 'platinum': unknown tier (known: enterprise, partner, smb, or a CRM value routing to one)",
        "line 9, region 'LATAM': unknown region (known: APAC, EMEA, NA)",
        "line 9, touches 'x': not a number",
    ]
    assert parsed.rejected_lines == [5, 6, 7, 8, 9]


@pytest.mark.unit
def test_a_file_without_a_required_column_is_refused_whole() -> None:
    with pytest.raises(baseline.BaselineFileError, match="the header has no column region"):
        baseline.parse("account,tier,signed_date\nAcme,smb,2026-01-05\n", load_config())


def _write(tmp_path: Path, text: str, name: str = "onboardings-2026.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_rows_load_bad_rows_are_recorded_and_the_same_file_again_changes_nothing(
    store: Store, tmp_path: Path
) -> None:
    path = _write(tmp_path, EXPORT)
    config = load_config()

    first = baseline.import_file(store, config, path, NOW, day_first=True)

    assert (first.read, first.loaded, first.unchanged, first.rejected_rows, first.ok) == (8, 3, 0, 5, False)
    rows = store.query("SELECT account, signed_on, live_on, touches FROM onboarding.baseline_onboardings ORDER BY id")
    assert [(r["account"], r["signed_on"]) for r in rows] == [
        ("Acme Robotics", date(2026, 1, 5)), ("Birch Foods", date(2026, 3, 2)), ("Cedar Labs", date(2026, 2, 3)),
    ]  # fmt: skip
    rejections = store.query(
        "SELECT source_row, column_name, value, problem FROM onboarding.baseline_rejections ORDER BY 1, 2"
    )
    assert [(r["source_row"], r["column_name"]) for r in rejections] == [
        (5, "live_date"), (6, "tier"), (7, "account"), (8, "signed_date"), (9, "region"), (9, "tier"), (9, "touches"),
    ]  # fmt: skip
    [event] = store.events_for("baseline")
    assert event["event_type"] == "baseline.imported" and event["details"]["rejected"] == 5
    assert (
        "line 5, live_date '2026-02-02': 2026-02-02 is before the signing date 2026-02-10"
        in (event["details"]["problems"])
    )

    again = baseline.import_file(store, config, path, NOW, day_first=True)
    assert (again.loaded, again.unchanged) == (0, 3)
    assert store.scalar("SELECT count(*) FROM onboarding.baseline_onboardings") == 3

    # A corrected export: Drift's live date fixed, Acme's touches recounted.
    corrected = EXPORT.replace("2026-02-10,,2026-02-02,9", "2026-02-10,,2026-03-02,9").replace(
        "2026-02-06,18", "2026-02-06,19"
    )
    fixed = baseline.import_file(store, config, _write(tmp_path, corrected), NOW, day_first=True)
    assert (fixed.loaded, fixed.unchanged, fixed.rejected_rows) == (2, 2, 4)
    assert store.scalar("SELECT touches FROM onboarding.baseline_onboardings WHERE account = 'Acme Robotics'") == 19
    assert store.scalar("SELECT count(*) FROM onboarding.baseline_onboardings") == 4


def _cli(*args: str, env_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "include.onboarding.baseline", "import-baseline", *args, "--database-url", env_url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_the_command_exits_non_zero_and_prints_each_rejected_row(database_url: str, tmp_path: Path) -> None:
    refused = _cli(str(_write(tmp_path, EXPORT)), "--day-first", env_url=database_url)
    assert refused.returncode == 1
    assert "8 row(s) read, 3 loaded (new or changed), 0 unchanged, 5 rejected" in refused.stderr
    assert "line 6, tier: missing: the tier is needed to compare like with like" in refused.stderr

    clean = "account,tier,region,signed_date,live_date\nHelix Pharma,smb,NA,2026-04-01,2026-04-29\n"
    ok = _cli(str(_write(tmp_path, clean, "clean.csv")), env_url=database_url)
    assert ok.returncode == 0, ok.stderr
    assert "clean.csv: 1 row(s) read, 1 loaded" in ok.stdout

    missing = _cli(str(tmp_path / "nowhere.csv"), env_url=database_url)
    assert missing.returncode == 2 and "nowhere.csv" in missing.stderr


def test_the_baseline_dag_loads_the_good_rows_and_fails_naming_the_bad_ones(
    airflow_db: None, store: Store, tmp_path: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags" / "onboarding_baseline.py")).dags["onboarding_baseline"]
    path = _write(tmp_path, EXPORT)

    run: Any = dag.test(run_conf={"path": str(path), "day_first": True})

    assert run.state == "failed"  # rows were refused: someone has to look
    assert store.scalar("SELECT count(*) FROM onboarding.baseline_onboardings") == 3
    assert store.scalar("SELECT rows_rejected FROM onboarding.baseline_imports") == 5

    clean = _write(tmp_path, "account,tier,region,signed_date\nIndigo Retail,smb,EMEA,3 Mar 2026\n", "clean.csv")
    assert dag.test(run_conf={"path": str(clean)}).state == "success"
    assert store.scalar("SELECT count(*) FROM onboarding.baseline_onboardings") == 4
