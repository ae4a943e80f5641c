"""The names other parts rely on: the tier DAGs' ids and the id of the run that carries one account."""

from __future__ import annotations


def dag_id_for(tier: str) -> str:
    """The DAG of a tier: ``onboarding_<tier>``, one per file in ``include/config/tiers``."""
    return f"onboarding_{tier}"


def run_id_for(onboarding_key: str) -> str:
    """The tier DAG run that carries one onboarding: derived from its key, so a repeat starts nothing."""
    return f"onboarding__{onboarding_key}"
