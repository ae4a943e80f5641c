"""The names other parts rely on: the tier DAGs' ids and the id of the run that carries one account."""

from __future__ import annotations

_DAG_PREFIX = "onboarding_"
_RUN_PREFIX = "onboarding__"


def dag_id_for(tier: str) -> str:
    """The DAG of a tier: ``onboarding_<tier>``, one per file in ``include/config/tiers``."""
    return f"{_DAG_PREFIX}{tier}"


def tier_from_dag_id(dag_id: str) -> str | None:
    """The tier a DAG id names (the inverse of :func:`dag_id_for`); None for a DAG id not of that shape.

    The id alone cannot tell a tier from another ``onboarding_`` DAG (the intake's is
    ``onboarding_intake``): look the tier up in the configuration when that matters.
    """
    if not dag_id.startswith(_DAG_PREFIX):
        return None
    return dag_id.removeprefix(_DAG_PREFIX) or None


def run_id_for(onboarding_key: str) -> str:
    """The tier DAG run that carries one onboarding: derived from its key, so a repeat starts nothing."""
    return f"{_RUN_PREFIX}{onboarding_key}"


def onboarding_key_from_run_id(run_id: str) -> str | None:
    """The onboarding key a run id carries (the inverse of :func:`run_id_for`); None for any other run id."""
    if not run_id.startswith(_RUN_PREFIX):
        return None
    return run_id.removeprefix(_RUN_PREFIX) or None
