"""Wiring for task bodies: the store, the clock, the configuration and the clients of external systems.

DAG files import nothing heavy at parse time; a task calls these when it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.onboarding.clock import Clock, default_clock
from include.onboarding.config import OnboardingConfig, load_config
from include.onboarding.connections import (
    BILLING_API,
    CRM_API,
    ONBOARDING_DB,
    PROVISIONING_API,
    TICKETING_API,
)
from include.onboarding.store import Store, connect, migrate

if TYPE_CHECKING:  # the vendor clients bring an HTTP stack most tasks never use: imported when asked for
    from include.onboarding.clients.crm import CrmClient
    from include.onboarding.clients.http import ApiClient
    from include.onboarding.clients.slack import SlackWebhookClient

SYSTEMS = {
    CRM_API: "crm",
    TICKETING_API: "ticketing",
    BILLING_API: "billing",
    PROVISIONING_API: "provisioning",
}

_open: dict[str, tuple[str, Store]] = {}


def open_store(conn_id: str = ONBOARDING_DB) -> Store:
    """A store on the ``onboarding_db`` connection, migrated to the current schema.

    One connection per process and connection definition: sensors poke many
    times, and a process that runs several tasks must not pile up connections.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    identity = PostgresHook(postgres_conn_id=conn_id).get_uri()
    cached = _open.get(conn_id)
    if cached is not None:
        known_identity, store = cached
        if known_identity == identity and not store.conn.closed and not store.conn.broken:
            return store
        store.conn.close()
    store = Store(connect(conn_id))
    migrate(store.conn)
    _open[conn_id] = (identity, store)
    return store


def clock() -> Clock:
    return default_clock()


def config() -> OnboardingConfig:
    return load_config()


def api(conn_id: str, cfg: OnboardingConfig) -> ApiClient:
    """The HTTP client for a connection, with the runs' retry settings (vendor clients wrap it)."""
    from include.onboarding.clients.http import ApiClient

    runs = cfg.settings.runs
    return ApiClient(
        conn_id,
        system=SYSTEMS.get(conn_id, conn_id),
        max_attempts=runs.max_attempts,
        max_retry_after=runs.max_retry_after_seconds,
    )


def crm_client(cfg: OnboardingConfig) -> CrmClient:
    from include.onboarding.clients.crm import CrmClient
    from include.onboarding.clients.http import ApiClient

    intake = cfg.settings.intake
    client = ApiClient(
        CRM_API,
        system="crm",
        max_attempts=intake.max_attempts,
        max_retry_after=intake.max_retry_after_seconds,
    )
    return CrmClient(client, signed_stage=intake.signed_stage, page_size=intake.page_size)


def slack_client(conn_id: str, cfg: OnboardingConfig) -> SlackWebhookClient:
    """The Slack incoming webhook of a ``slackwebhook`` connection, retrying 429 as configured."""
    from include.onboarding.clients.slack import SlackWebhookClient

    return SlackWebhookClient(
        slack_webhook_conn_id=conn_id, rate_limit_retries=cfg.settings.escalations.slack_rate_limit_retries
    )
