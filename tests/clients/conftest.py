"""The vendor clients against the sandbox on loopback: real HTTP, no database.

Each test gets the sandbox emptied and every connection pointing at it (the
``sandbox`` fixture), and API clients whose waits are recorded, not slept, so
a test can assert what the client waited for without taking that long.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from include.onboarding import runtime
from include.onboarding.clients.http import ApiClient

Waits = list[float]


@pytest.fixture
def waits() -> Waits:
    """Every wait the clients of this test asked for, in seconds."""
    return []


@pytest.fixture
def client_for(sandbox: Any, waits: Waits) -> Callable[[str], ApiClient]:
    """An :class:`ApiClient` for a connection id, as the runs build it, with its waits recorded."""

    def make(conn_id: str) -> ApiClient:
        return ApiClient(
            conn_id, system=runtime.SYSTEMS.get(conn_id, conn_id), max_attempts=4, timeout=5, sleep=waits.append
        )

    return make


def fault(sandbox: Any, system: str, **plan: Any) -> None:
    """Schedule faults for the next requests to ``system``."""
    from sandbox.faults import FaultPlan

    sandbox.state.set_faults(system, FaultPlan(**plan))
