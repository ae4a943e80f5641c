"""In-memory state of the sandbox: what the simulated systems hold and saw.

One ``SandboxState`` is shared by every simulated system of one app, and by the
tests driving it from Python, so all access goes through a lock: uvicorn
serves requests on worker threads while a test may be seeding deals or reading
the request log at the same moment.

The CRM's deals live here; every other system keeps its data in a store
defined by its own module (``state.ticketing``, ``state.billing``,
``state.provisioning``, ``state.slack``; ``state.mailbox`` and ``state.customers``), sharing this lock
and clock.  A reset replaces them all.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from sandbox.billing import BillingStore
from sandbox.customers import Customers
from sandbox.faults import FaultKind, FaultPlan
from sandbox.generator import generate_orders, iso_z
from sandbox.mail import Mailbox
from sandbox.provisioning import ProvisioningStore
from sandbox.slack import SlackStore
from sandbox.ticketing import TicketingStore

DEFAULT_START = date(2026, 10, 1)
"""First business day of generated orders when a reset does not say."""

FIRST_DEAL_ID = 18_000_000_001
"""HubSpot deal ids are large integers; start in that range so ids look real."""

SYSTEM_MANAGED = frozenset({"hs_object_id", "hs_lastmodifieddate"})
"""Properties the CRM sets itself; values sent by a client are ignored."""


def ms_to_iso(ms: int) -> str:
    """Milliseconds since the epoch to HubSpot's ISO form (``...T14:03:00.000Z``)."""
    return iso_z(datetime.fromtimestamp(ms / 1000, tz=timezone.utc))


def parse_timestamp(value: str) -> datetime | None:
    """Parse what HubSpot accepts for a date or datetime; ``None`` if unparsable.

    Accepts milliseconds since the epoch (``"1790000000000"``), ISO datetimes
    (with ``Z`` or an offset; naive ones are UTC) and plain dates (midnight UTC).
    """
    text = value.strip()
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def to_property_value(value: object) -> str | None:
    """Coerce a client value to what HubSpot stores: a string, or ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_NOT_RAW: Any = object()


@dataclass
class Deal:
    """One CRM deal; ``properties`` holds HubSpot's string values.

    ``raw``, when set, is what reads and searches return for this deal instead
    of its JSON, exactly as seeded (see :meth:`SandboxState.seed_raw_deal`);
    ``properties`` then only decide which searches find it and in what order.
    """

    id: str
    properties: dict[str, str | None]
    archived: bool = False
    raw: Any = _NOT_RAW

    def to_json(self, only: Iterable[str] | None = None) -> Any:
        """The deal as HubSpot returns it, with all or only the named properties (or its raw record)."""
        if self.raw is not _NOT_RAW:
            return copy.deepcopy(self.raw)
        names = list(self.properties) if only is None else list(only)
        return {
            "id": self.id,
            "properties": {name: self.properties.get(name) for name in names},
            "createdAt": self.properties.get("createdate"),
            "updatedAt": self.properties.get("hs_lastmodifieddate"),
            "archived": self.archived,
        }


@dataclass
class RequestRecord:
    """One request a simulated system received, for tests to inspect.

    ``monotonic`` comes from this process's ``time.monotonic()``, so a test
    running the server in-process can measure gaps (e.g. that a client honoured
    ``Retry-After``) without wall-clock jitter.
    """

    system: str
    method: str
    path: str
    at: str
    monotonic: float
    fault: FaultKind | None
    status: int | None = None
    content_type: str | None = None
    accept: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as the admin API lists it."""
        return {
            "system": self.system,
            "at": self.at,
            "monotonic": self.monotonic,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "fault": self.fault.value if self.fault else None,
            "content_type": self.content_type,
            "accept": self.accept,
        }


@dataclass
class _Store:
    """Everything a reset wipes, kept together so a reset is one assignment."""

    ticketing: TicketingStore
    billing: BillingStore
    provisioning: ProvisioningStore
    slack: SlackStore
    deals: dict[str, Deal] = field(default_factory=dict)
    faults: dict[str, FaultPlan] = field(default_factory=dict)
    requests: list[RequestRecord] = field(default_factory=list)
    next_id: int = FIRST_DEAL_ID
    last_modified_ms: int = 0


class SandboxState:
    """Thread-safe store of deals, fault plans and request logs.

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
            ticketing=TicketingStore(lock, clock),
            billing=BillingStore(lock, clock),
            provisioning=ProvisioningStore(lock, clock),
            slack=SlackStore(lock, clock),
        )

    # -- systems ---------------------------------------------------------------

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
                "crm": self.crm_ledger(),
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
        """Create a deal, or merge ``properties`` into deal ``deal_id`` if it exists.

        Like HubSpot, the CRM stamps ``hs_lastmodifieddate`` itself, strictly
        increasing so incremental-sync tests never see two writes at the same
        millisecond.  ``createdate`` may be given (HubSpot allows back-dating
        on import); it defaults to now on create.  Raises ``ValueError`` for an
        unparsable ``createdate``.
        """
        values = {k: to_property_value(v) for k, v in properties.items() if k not in SYSTEM_MANAGED}
        if values.get("createdate") is not None:
            values["createdate"] = _normalized_time(values["createdate"] or "")
        with self._lock:
            deal = self._store.deals.get(deal_id) if deal_id else None
            if deal is None:
                deal = self._create(deal_id)
            deal.raw = _NOT_RAW  # an edit in the CRM's UI replaces a seeded raw record
            deal.properties.update(values)
            now = ms_to_iso(self._next_modified_ms())
            deal.properties["hs_lastmodifieddate"] = now
            if deal.properties.get("createdate") is None:
                deal.properties["createdate"] = now
            json: dict[str, Any] = deal.to_json()
            return json

    def seed_raw_deal(self, record: Any, deal_id: str | None = None, dealstage: str = "closedwon") -> dict[str, Any]:
        """Store a record that searches and reads return verbatim, whatever it holds.

        For tests of what a client does with records no well-behaved CRM sends
        (control characters, wrong types, absurd dates, not even an object), as
        a broken export or a proxy in between could.  The deal is found by
        searches as a deal in ``dealstage`` modified now; the record itself is
        never checked or changed.  Returns the deal's id and that modification
        time.
        """
        with self._lock:
            deal = self._store.deals.get(deal_id) if deal_id else None
            if deal is None:
                deal = self._create(deal_id)
            now = ms_to_iso(self._next_modified_ms())
            deal.properties.update({"dealstage": dealstage, "hs_lastmodifieddate": now})
            deal.properties.setdefault("createdate", now)
            deal.raw = copy.deepcopy(record)
            return {"id": deal.id, "hs_lastmodifieddate": now}

    def get_deal(self, deal_id: str) -> Deal | None:
        """A copy of one deal, or ``None``."""
        with self._lock:
            deal = self._store.deals.get(deal_id)
            return _copy(deal) if deal else None

    def deals(self) -> list[Deal]:
        """Copies of all deals, safe to filter and sort outside the lock."""
        with self._lock:
            return [_copy(deal) for deal in self._store.deals.values()]

    def _create(self, deal_id: str | None) -> Deal:
        """Register an empty deal under ``deal_id`` or the next free id."""
        store = self._store
        if deal_id is None:
            while str(store.next_id) in store.deals:
                store.next_id += 1
            deal_id = str(store.next_id)
            store.next_id += 1
        deal = Deal(id=deal_id, properties={"hs_object_id": deal_id})
        store.deals[deal_id] = deal
        return deal

    def _next_modified_ms(self) -> int:
        """Now in ms, bumped past the previous stamp so stamps never repeat."""
        now = int(self._clock() * 1000)
        stamp = max(now, self._store.last_modified_ms + 1)
        self._store.last_modified_ms = stamp
        return stamp

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

    # -- ledger --------------------------------------------------------------

    def crm_ledger(self) -> dict[str, Any]:
        """What the CRM holds: deal counts by stage and the defects seeded."""
        stages: dict[str, int] = {}
        defects: dict[str, int] = {}
        with self._lock:
            for deal in self._store.deals.values():
                stage = deal.properties.get("dealstage") or "(none)"
                stages[stage] = stages.get(stage, 0) + 1
                defect = deal.properties.get("sandbox_defect")
                if defect:
                    defects[defect] = defects.get(defect, 0) + 1
            total = len(self._store.deals)
        return {"deals": total, "closedwon": stages.get("closedwon", 0), "stages": stages, "defects": defects}


def _normalized_time(value: str) -> str:
    """A client-supplied timestamp in HubSpot's ISO form; ``ValueError`` if unparsable."""
    parsed = parse_timestamp(value)
    if parsed is None:
        raise ValueError(f"createdate {value!r} is not a date")
    return iso_z(parsed)


def _copy(deal: Deal) -> Deal:
    """Detach a deal from the store so callers cannot mutate it unlocked."""
    return Deal(id=deal.id, properties=dict(deal.properties), archived=deal.archived, raw=deal.raw)
