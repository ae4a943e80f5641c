"""Airflow connection ids the package uses, in one place.

Every external system is reached through an Airflow connection, so pointing a
connection at a real system (instead of the local sandbox) is all it takes to go
live.  Deployment files and tests read this list to check nothing is missing.
"""

from __future__ import annotations

ONBOARDING_DB = "onboarding_db"
"""PostgreSQL holding the onboarding store (not Airflow's metadata database)."""

CRM_API = "crm_api"
"""CRM with signed orders, in the HubSpot CRM v3 deals-search shape."""

REQUIRED_CONNECTIONS: dict[str, str] = {
    ONBOARDING_DB: "postgres",
    CRM_API: "http",
}
"""Connection id -> Airflow connection type, for every connection the DAGs need."""
