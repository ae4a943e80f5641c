"""Wiring for task bodies: the store, the clock, the configuration and API clients.

DAG files import nothing heavy at parse time; a task calls these when it runs.
"""

from __future__ import annotations

from include.onboarding.clock import Clock, default_clock
from include.onboarding.config import OnboardingConfig, load_config
from include.onboarding.connections import CRM_API, ONBOARDING_DB
from include.onboarding.crm import CrmClient
from include.onboarding.http import ApiClient
from include.onboarding.store import Store, connect, migrate


def open_store(conn_id: str = ONBOARDING_DB) -> Store:
    """A store on the ``onboarding_db`` connection, migrated to the current schema."""
    store = Store(connect(conn_id))
    migrate(store.conn)
    return store


def clock() -> Clock:
    return default_clock()


def config() -> OnboardingConfig:
    return load_config()


def crm_client(cfg: OnboardingConfig) -> CrmClient:
    intake = cfg.settings.intake
    api = ApiClient(
        CRM_API,
        system="crm",
        max_attempts=intake.max_attempts,
        max_retry_after=intake.max_retry_after_seconds,
    )
    return CrmClient(api, signed_stage=intake.signed_stage, page_size=intake.page_size)
