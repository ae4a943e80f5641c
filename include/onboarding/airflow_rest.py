"""Airflow's own REST API (``/api/v2``), as the tier runs use it: keeping each run's note current.

Tasks cannot reach Airflow's metadata database in Airflow 3, and the task
execution API has no call for a run's note, so the note goes through the
public API like any other client's edit.  The Airflow connection
``airflow_api`` (type ``http``) names the api-server (host, port, schema) and a
user allowed to edit DAG runs (login and password, exchanged for a token at
``/auth/token``; the simple, FAB and Keycloak auth managers all answer there).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from include.onboarding.connections import AIRFLOW_API
from include.onboarding.exceptions import AirflowRestError as AirflowRestError
from include.onboarding.exceptions import NotConfigured as NotConfigured

TIMEOUT_SECONDS = 15
ATTEMPTS = 3


@dataclass
class AirflowRest:
    base_url: str
    username: str
    password: str
    _token: str | None = None

    @classmethod
    def from_connection(cls, conn_id: str = AIRFLOW_API) -> AirflowRest:
        from airflow.sdk import BaseHook

        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception as exc:  # AirflowNotFoundException, or no way to look it up at all
            raise NotConfigured(f"no Airflow connection {conn_id!r} ({type(exc).__name__})") from None
        if not conn.host or not conn.login or not conn.password:
            raise NotConfigured(
                f"Airflow connection {conn_id!r} needs the api-server's host and a user's login and password"
            )
        host = conn.host if "://" in conn.host else f"{conn.schema or 'http'}://{conn.host}"
        port = f":{conn.port}" if conn.port else ""
        return cls(f"{host.rstrip('/')}{port}", conn.login, conn.password)

    def _login(self) -> str:
        response = requests.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=TIMEOUT_SECONDS,
        )
        if response.status_code not in (200, 201):
            raise AirflowRestError(f"Airflow refused the login of {self.username!r}: {response.status_code} "
                                   f"{response.text[:300]}")  # fmt: skip
        return str(response.json()["access_token"])

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One call to ``/api/v2``: a fresh token on 401, 5xx and lost connections retried a few times."""
        for attempt in range(1, ATTEMPTS + 1):
            if self._token is None:
                self._token = self._login()
            try:
                response = requests.request(
                    method, f"{self.base_url}/api/v2{path}", json=body, timeout=TIMEOUT_SECONDS,
                    headers={"Authorization": f"Bearer {self._token}"},
                )  # fmt: skip
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt == ATTEMPTS:
                    raise AirflowRestError(f"{method} {path}: Airflow did not answer ({exc})") from exc
                time.sleep(attempt)
                continue
            if response.status_code == 401:
                self._token = None
                continue
            if response.status_code >= 500 and attempt < ATTEMPTS:
                time.sleep(attempt)
                continue
            if response.status_code >= 400:
                raise AirflowRestError(f"{method} {path}: {response.status_code} {response.text[:300]}")
            return response.json() if response.content else None
        raise AirflowRestError(f"{method} {path}: no answer after {ATTEMPTS} attempts")

    def set_run_note(self, dag_id: str, run_id: str, note: str) -> None:
        self.call("PATCH", f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}", {"note": note})
