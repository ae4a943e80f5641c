"""The Airflow Asset the onboarding DAGs publish when the store gains new events.

``onboarding_reporting`` is scheduled on it (as well as daily), so metric tables
follow the work: accounts going live, escalations raised, orders taken in.
"""

from __future__ import annotations

from airflow.sdk import Asset

ONBOARDING_EVENTS = Asset(name="onboarding_events", uri="onboarding://store/events", group="onboarding")
