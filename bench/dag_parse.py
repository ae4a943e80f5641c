"""DAG parse time: every DAG file with 3 tiers and with 30 tiers, against an empty DAG file.

Each figure is the median of several fresh interpreters timing ``DagBag`` over
the folder (Airflow itself imported before the clock starts, as in a
dag-processor that is already running).  The floor is a folder holding one
empty DAG file.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bench.common import ROOT, measure_child, write_results

_CHILD = """
import json, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder={folder!r})
seconds = time.perf_counter() - started
assert not bag.import_errors, bag.import_errors
print(json.dumps({{"seconds": round(seconds, 4), "dags": len(bag.dag_ids)}}))
"""

EMPTY_DAG = """from airflow.sdk import DAG

dag = DAG(dag_id="empty", schedule=None)
"""


def config_with_tiers(target: Path, count: int) -> Path:
    """A copy of the shipped configuration with ``count`` tiers (the three, then renamed copies)."""
    shutil.copytree(ROOT / "include" / "config", target)
    tiers_dir = target / "tiers"
    originals = sorted(tiers_dir.glob("*.yaml"))
    n = len(originals)
    for i in range(count - n):
        source = yaml.safe_load(originals[i % n].read_text())
        name = f"{source['tier']}_{i + 1}"
        source["tier"] = name
        source["crm_tier_values"] = [f"{v}_{i + 1}" for v in source["crm_tier_values"]]
        (tiers_dir / f"{name}.yaml").write_text(yaml.safe_dump(source, sort_keys=False))
    return target


def _median(folder: Path, env: dict[str, str], repeats: int) -> dict[str, Any]:
    runs = [measure_child(_CHILD.format(folder=str(folder)), env) for _ in range(repeats)]
    return {"seconds": statistics.median(r["seconds"] for r in runs), "dags": runs[0]["dags"],
            "all_seconds": [r["seconds"] for r in runs]}  # fmt: skip


def run() -> dict[str, Any]:
    repeats = int(os.environ.get("BENCH_PARSE_REPEATS", "5"))
    with tempfile.TemporaryDirectory(prefix="onboarding-parse-") as tmp:
        root = Path(tmp)
        empty = root / "empty_dags"
        empty.mkdir()
        (empty / "empty.py").write_text(EMPTY_DAG)
        env = {"AIRFLOW_HOME": str(root / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        floor = _median(empty, env, repeats)
        three = _median(ROOT / "dags", {**env, "ONBOARDING_CONFIG_DIR": str(config_with_tiers(root / "c3", 3))},
                        repeats)  # fmt: skip
        thirty = _median(ROOT / "dags", {**env, "ONBOARDING_CONFIG_DIR": str(config_with_tiers(root / "c30", 30))},
                         repeats)  # fmt: skip
    result = {
        "empty_dag_file": floor,
        "three_tiers": three,
        "thirty_tiers": thirty,
        "ratio_three_to_floor": round(three["seconds"] / floor["seconds"], 1),
        "ratio_thirty_to_floor": round(thirty["seconds"] / floor["seconds"], 1),
        "target": "all DAG files in under 1 s with 30 tiers",
    }
    write_results("dag_parse", result)
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
