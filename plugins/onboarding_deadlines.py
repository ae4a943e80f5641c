"""Registers the onboarding runs' custom deadline reference with Airflow.

The scheduler and the api-server rebuild a DAG's deadline alerts from the
serialized DAG and only accept custom references a plugin lists, so this file
must be in the plugins folder of every scheduler and api-server.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.onboarding.deadlines import TargetWarningReference


class OnboardingDeadlinesPlugin(AirflowPlugin):
    name = "onboarding_deadlines"
    deadline_references = [TargetWarningReference]
