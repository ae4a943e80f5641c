"""Fixtures for the vendor sandboxes: one server per test module on a manual clock.

Time only moves when a test says so (``vendor.clock.advance(2)``), which makes
asynchronous behaviour (tenant provisioning, slow customers, search lag)
deterministic and instant to test.  Every test starts from an empty,
fault-free state with default settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from sandbox.server import SandboxServer
from sandbox.state import SandboxState

START = 1_790_845_200.0
"""2026-10-01T09:00:00Z, when every test's clock starts."""


class ManualClock:
    """A clock that stands still until advanced."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Vendor:
    """The running sandbox, its state and clock, and an HTTP session that ignores proxies."""

    url: str
    state: SandboxState
    clock: ManualClock
    http: requests.Session

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.http.request(method, self.url + path, **kw)

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"{self.url}/_sandbox{path}", json=body)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def vendor_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def vendor_server(vendor_clock: ManualClock) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxState(clock=vendor_clock)) as running:
        yield running


@pytest.fixture
def vendor(vendor_server: SandboxServer, vendor_clock: ManualClock) -> Iterator[Vendor]:
    state, clock = vendor_server.state, vendor_clock
    clock.now = START
    state.token = None
    state.reset()
    http = requests.Session()
    http.trust_env = False
    yield Vendor(vendor_server.url, state, clock, http)
    http.close()
