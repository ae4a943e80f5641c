"""A small client for the local Airflow's REST API (``/api/v2``), as the demo and tests drive it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def admin_password(airflow_home: Path, user: str = "admin") -> str:
    """The password Airflow's simple auth manager generated for ``user`` (it writes it on first start)."""
    path = airflow_home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + 60
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    return str(json.loads(path.read_text())[user])


class AirflowApi:
    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.username, self.password = username, password
        self._token: str | None = None

    def _login(self) -> str:
        body = json.dumps({"username": self.username, "password": self.password}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/auth/token", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.loads(response.read())["access_token"])

    def call(self, method: str, path: str, body: object | None = None) -> Any:
        if self._token is None:
            self._token = self._login()
        request = urllib.request.Request(
            f"{self.base_url}/api/v2{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # the token expired: log in again once
                self._token = None
                return self.call(method, path, body)
            raise RuntimeError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:500]!r}") from None

    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self.call("GET", "/dags?limit=100")["dags"]}

    def wait_for_dags(self, wanted: set[str], timeout: float = 180) -> None:
        """Wait until the dag-processor has parsed and stored every DAG in ``wanted``."""
        deadline = time.monotonic() + timeout
        while True:
            missing = wanted - self.dag_ids()
            if not missing:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"Airflow has not loaded {sorted(missing)} after {timeout:.0f}s")
            time.sleep(2)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": paused})

    def trigger(self, dag_id: str, run_id: str | None = None, conf: dict[str, Any] | None = None) -> str:
        from datetime import datetime, timezone

        body: dict[str, Any] = {"logical_date": datetime.now(timezone.utc).isoformat(), "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return str(self.call("POST", f"/dags/{dag_id}/dagRuns", body)["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while True:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed") or time.monotonic() > deadline:
                return state
            time.sleep(2)
