"""Links from the board to where an account's things live: its Airflow run, Jira issue, Stripe customer, tenant.

Addresses come from the Airflow connections the setup steps call, so pointing
a connection at the real system points the board's links there too.  A
connection may say where people open its objects in the extra field
``web_url`` (a Jira site, Stripe's dashboard, the product's admin console);
without it:

* Jira issue or sub-task: ``<ticketing_api>/browse/<issue key>``;
* Stripe customer: ``https://dashboard.stripe.com/customers/<id>`` when the
  connection is Stripe's own API, else ``<billing_api>/v1/customers/<id>``;
* tenant: ``<provisioning_api>/api/v1/tenants/<id>``; SCIM user: the location
  the API gave, else ``<provisioning_api>/scim/v2/Users/<id>``.

A connection that cannot be read gives no link (the external id is still
shown); connections are read at most once a minute per process.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import quote

from include.onboarding.config import Settings
from include.onboarding.connections import BILLING_API, PROVISIONING_API, TICKETING_API
from include.onboarding.escalations.routing import run_url

log = logging.getLogger(__name__)

STEP_CONNECTIONS = {
    "jira_issue": TICKETING_API,
    "jira_subtask": TICKETING_API,
    "stripe_customer": BILLING_API,
    "tenant": PROVISIONING_API,
    "scim_user": PROVISIONING_API,
}
_PATHS = {
    "jira_issue": "/browse/{id}",
    "jira_subtask": "/browse/{id}",
    "stripe_customer": "/v1/customers/{id}",
    "tenant": "/api/v1/tenants/{id}",
    "scim_user": "/scim/v2/Users/{id}",
}
_WEB_PATHS = {"stripe_customer": "/customers/{id}", "tenant": "/tenants/{id}", "scim_user": "/users/{id}"}
_STRIPE_API_HOST = "api.stripe.com"
_STRIPE_DASHBOARD = "https://dashboard.stripe.com"
_TTL_SECONDS = 60.0

_cache: dict[str, tuple[float, tuple[str, bool] | None]] = {}
_cache_lock = threading.Lock()


def _base(conn_id: str) -> tuple[str, bool] | None:
    """(base address, whether it is the connection's ``web_url``) of a connection; None if it cannot be read."""
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(conn_id)
        if cached is not None and cached[0] > now:
            return cached[1]
    found: tuple[str, bool] | None
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        web = (conn.extra_dejson or {}).get("web_url")
        if web:
            found = (str(web).rstrip("/"), True)
        elif conn.host and conn.host == _STRIPE_API_HOST:
            found = (_STRIPE_DASHBOARD, True)
        elif conn.host:
            host = conn.host if "://" in conn.host else f"{conn.schema or 'https'}://{conn.host}"
            found = (host.rstrip("/") + (f":{conn.port}" if conn.port else ""), False)
        else:
            found = None
    except Exception as exc:  # a missing or unreadable connection costs the link, never the page
        log.info("board: no links for connection %s: %s", conn_id, exc)
        found = None
    with _cache_lock:
        _cache[conn_id] = (now + _TTL_SECONDS, found)
    return found


def step_link(kind: str, external_id: str | None, external_url: str | None, conn_id: str | None = None) -> str | None:
    """Where a person opens the object a setup step created; None when there is nothing to open."""
    if not external_id:
        return None
    connection = conn_id or STEP_CONNECTIONS.get(kind)
    base = _base(connection) if connection else None
    if base is None:
        return external_url if kind == "scim_user" and external_url else None
    address, web = base
    if kind == "scim_user" and external_url and not web:
        return external_url
    path = (_WEB_PATHS if web and kind in _WEB_PATHS else _PATHS).get(kind)
    if path is None:
        return f"{address}/{quote(external_id, safe='')}" if web else None
    return address + path.format(id=quote(external_id, safe=""))


def airflow_run(settings: Settings, tier: str, run_id: str | None) -> str:
    """The account's run in the Airflow UI (its DAG's runs while it has none)."""
    return run_url(settings, tier, run_id)


def forget_connections() -> None:
    """Read every connection afresh on the next link (tests, or after editing one)."""
    with _cache_lock:
        _cache.clear()
