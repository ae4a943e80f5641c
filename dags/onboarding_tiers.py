"""One DAG per tier, generated from ``include/config/tiers/*.yaml``.

Each run of ``onboarding_<tier>`` carries one account (run id
``onboarding__<onboarding key>``), started by the intake.  Adding a tier file
adds a DAG; a broken tier file is an import error naming the file and field.
The graph and its documentation are built by
:func:`include.onboarding.tier_dag.build_tier_dag`.
"""

from __future__ import annotations

from airflow.sdk import get_parsing_context

from include.onboarding.config import load_config
from include.onboarding.names import dag_id_for
from include.onboarding.tier_dag import build_tier_dag

CONFIG = load_config()  # local YAML only

_wanted = get_parsing_context().dag_id
for _tier in CONFIG.tiers.values():
    _dag_id = dag_id_for(_tier.key)
    if _wanted is None or _wanted == _dag_id:  # when one DAG's task runs, build only that DAG
        globals()[_dag_id] = build_tier_dag(_tier, CONFIG)
