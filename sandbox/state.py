"""In-memory state of the sandbox: what the simulated systems hold and saw.

One ``SandboxState`` is shared by every simulated system of one app, and by the
tests driving it from Python, so all access goes through a lock: uvicorn
serves requests on worker threads while a test may be seeding deals or reading
the request log at the same moment.

Every system keeps its data in a store defined by its own module
(``state.crm``, ``state.ticketing``, ``state.billing``, ``state.provisioning``,
``state.slack``; ``state.mailbox`` and ``state.customers``), sharing this lock
and clock.  A reset replaces them all.  This module imports the systems' modules,
never the other way round.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from sandbox.billing import BillingStore
from sandbox.crm import CrmStore, Deal
from sandbox.customers import Customers
from sandbox.faults import FaultPlan, RequestRecord
from sandbox.generator import generate_orders
from sandbox.mail import Mailbox
from sandbox.provisioning import ProvisioningStore
from sandbox.slack import SlackStore
from sandbox.ticketing import TicketingStore

DEFAULT_START = date(2026, 10, 1)
"""First business day of generated orders when a reset does not say."""


@dataclass
class _Store:
    """Everything a reset wipes, kept together so a reset is one assignment."""

    crm: CrmStore
    ticketing: TicketingStore
    billing: BillingStore
    provisioning: ProvisioningStore
    slack: SlackStore
    faults: dict[str, FaultPlan] = field(default_factory=dict)
    requests: list[RequestRecord] = field(default_factory=list)


class SandboxState:
    """Thread-safe holder of every system's store, the fault plans and the request log.

    ``token``: when set, the only bearer token the vendor APIs accept
    (otherwise any non-empty token is).  ``clock``: seconds since the epoch,
    replaceable so tests can pin time.
    """

    def __init__(self, token: str | None = None, clock: Callable[[], float] = time.time) -> None:
        self.token = token
        self._clock = clock
        self._lock = threading.RLock()
        self._store = self._fresh_store()
        self._hang_epoch = 0
        self.mailbox = Mailbox()
        """Every email the sandbox's SMTP server received (the customers' inboxes)."""
        self.customers = Customers(self.mailbox, clock)
        """The simulated customers, acting on that mail through the portal."""
        self.smtp_port: int | None = None
        """Where the SMTP server listens, once one runs."""

    def _fresh_store(self) -> _Store:
        """Empty stores for every system, sharing this state's lock and clock."""
        lock, clock = self._lock, self._clock
        return _Store(
            crm=CrmStore(lock, clock),
            ticketing=TicketingStore(lock, clock),
            billing=BillingStore(lock, clock),
            provisioning=ProvisioningStore(lock, clock),
            slack=SlackStore(lock, clock),
        )

    # -- systems ---------------------------------------------------------------

    @property
    def crm(self) -> CrmStore:
        """HubSpot: deals."""
        return self._store.crm

    @property
    def ticketing(self) -> TicketingStore:
        """Jira: projects and issues."""
        return self._store.ticketing

    @property
    def billing(self) -> BillingStore:
        """Stripe: customers."""
        return self._store.billing

    @property
    def provisioning(self) -> ProvisioningStore:
        """The product: SCIM users, tenants, SSO connections."""
        return self._store.provisioning

    @property
    def slack(self) -> SlackStore:
        """Slack: messages posted to incoming webhooks."""
        return self._store.slack

    def ledger(self) -> dict[str, Any]:
        """What every system holds, as ``GET /_sandbox/ledger`` reports it."""
        with self._lock:
            return {
                "crm": self.crm.ledger(),
                "ticketing": self.ticketing.ledger(),
                "billing": self.billing.ledger(),
                "provisioning": self.provisioning.ledger(),
                "slack": self.slack.ledger(),
            }

    # -- lifecycle -----------------------------------------------------------

    def reset(
        self,
        seed: int = 7,
        orders: int = 0,
        bad_ratio: float = 0.0,
        start: date = DEFAULT_START,
    ) -> list[dict[str, Any]]:
        """Forget everything (every system's data and settings, faults, request log), then seed ``orders`` orders.

        Returns the seeded deals.  Hanging requests are released so a reset
        never waits on a fault injected before it.
        """
        generated = generate_orders(orders, seed=seed, start=start, bad_ratio=bad_ratio)
        with self._lock:
            self._store = self._fresh_store()
            self._hang_epoch += 1
            self.mailbox.clear()
            self.customers.reset()
            return [self.upsert_deal(props) for props in generated]

    # -- deals ---------------------------------------------------------------

    def upsert_deal(self, properties: Mapping[str, object], deal_id: str | None = None) -> dict[str, Any]:
        """Create a deal, or merge ``properties`` into deal ``deal_id`` (see :meth:`CrmStore.upsert_deal`)."""
        return self.crm.upsert_deal(properties, deal_id)

    def seed_raw_deal(self, record: Any, deal_id: str | None = None, dealstage: str = "closedwon") -> dict[str, Any]:
        """Store a record that searches and reads return verbatim (see :meth:`CrmStore.seed_raw_deal`)."""
        return self.crm.seed_raw_deal(record, deal_id, dealstage)

    def get_deal(self, deal_id: str) -> Deal | None:
        """A copy of one deal, or ``None``."""
        return self.crm.get_deal(deal_id)

    def deals(self) -> list[Deal]:
        """Copies of all deals, safe to filter and sort outside the lock."""
        return self.crm.deals()

    # -- faults --------------------------------------------------------------

    def set_faults(self, system: str, plan: FaultPlan) -> None:
        """Replace the fault plan of one system (it applies to its next requests)."""
        with self._lock:
            self._store.faults[system] = plan

    def clear_faults(self, system: str | None = None) -> None:
        """Drop the plan of one system, or of all; release requests left hanging."""
        with self._lock:
            if system is None:
                self._store.faults.clear()
            else:
                self._store.faults.pop(system, None)
            self._hang_epoch += 1

    def fault_plans(self) -> dict[str, dict[str, Any]]:
        """What is still scheduled, per system."""
        with self._lock:
            return {name: plan.to_json() for name, plan in self._store.faults.items()}

    def fault_plan(self, system: str) -> FaultPlan | None:
        """The live plan of one system (read under the lock by the fault layer)."""
        with self._lock:
            return self._store.faults.get(system)

    @property
    def hang_epoch(self) -> int:
        """Changes whenever hanging requests must give up (reset, faults cleared, stop)."""
        return self._hang_epoch

    def release_hangs(self) -> None:
        """End every request currently held by a ``timeout`` fault."""
        with self._lock:
            self._hang_epoch += 1

    # -- request log ---------------------------------------------------------

    def begin_request(
        self, system: str, method: str, path: str, content_type: str | None = None, accept: str | None = None
    ) -> RequestRecord:
        """Log an arriving request and decide, atomically, which fault it gets."""
        with self._lock:
            plan = self._store.faults.get(system)
            record = RequestRecord(
                system=system,
                method=method,
                path=path,
                at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                monotonic=time.monotonic(),
                fault=plan.take(method) if plan else None,
                content_type=content_type,
                accept=accept,
            )
            self._store.requests.append(record)
            return record

    def finish_request(self, record: RequestRecord, status: int) -> None:
        """Store the status the request was answered with."""
        with self._lock:
            record.status = status

    def requests(self, system: str | None = None) -> list[dict[str, Any]]:
        """The request log of one system (or all), oldest first."""
        with self._lock:
            return [r.to_json() for r in self._store.requests if system in (None, r.system)]
