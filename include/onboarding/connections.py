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

CUSTOMER_MAIL = "customer_mail"
"""SMTP server for email to customers: invitations with the portal's magic link, reminders, notices."""

TICKETING_API = "ticketing_api"
"""Jira Cloud: implementation tickets and kickoff sub-tasks."""

BILLING_API = "billing_api"
"""Stripe: the billing profile (customer)."""

PROVISIONING_API = "provisioning_api"
"""The product's provisioning: tenants, SCIM 2.0 users, SSO connections."""

AIRFLOW_API = "airflow_api"
"""Airflow's own REST API (optional): the api-server and a user allowed to edit DAG runs, so each
run's note follows its account's owner.  Without it the note keeps what the intake wrote."""

REQUIRED_CONNECTIONS: dict[str, str] = {
    ONBOARDING_DB: "postgres",
    CRM_API: "http",
    TICKETING_API: "http",
    BILLING_API: "http",
    PROVISIONING_API: "http",
    CUSTOMER_MAIL: "smtp",
}
"""Connection id -> Airflow connection type, for every connection the DAGs need."""
