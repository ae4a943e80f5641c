"""Fault injection in front of every simulated system.

Real integrations fail in a handful of ways: rate limits with ``Retry-After``,
5xx errors, bodies cut off mid-document, well-formed answers missing a field
the vendor documents, slow answers, answers that never
come, and answers lost after the vendor committed the change (a gateway 502 or
a connection dropped once the handler has run).  The last kind is what makes a
blind re-send of a create without an idempotency key produce a duplicate.
The sandbox lets a test schedule exactly those, per system, for the next
requests, so retry and back-off logic is exercised deterministically.

Faults are applied by a middleware in front of the vendor routers, as a real
API gateway or rate limiter answers before the application (and before
authentication).  Which system a request belongs to, and how that vendor
renders an error, comes from the systems' descriptions (:mod:`sandbox.systems`).
The middleware also logs every vendor request (:class:`RequestRecord`), with the
fault it got, in the sandbox's state.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from fastapi import Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from sandbox.systems import ErrorKind, SandboxSystem, VendorError, system_for

HANG_POLL_SECONDS = 0.05
"""How often a hanging request checks whether it was released."""


class FaultKind(str, enum.Enum):
    """Which fault a request received (as listed in the request log)."""

    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    MALFORMED_JSON = "malformed_json"
    INCOMPLETE = "incomplete"
    SLOW = "slow"
    TIMEOUT = "timeout"
    LOST_AFTER_COMMIT = "lost_after_commit"
    DROPPED_AFTER_COMMIT = "dropped_after_commit"


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""Methods that change something; the after-commit faults apply only to them."""


@dataclass
class FaultPlan:
    """Faults scheduled for one system's next requests, consumed in order.

    First ``rate_limit`` 429s, then ``server_error`` 500s, then
    ``malformed_json`` truncated bodies, then ``incomplete`` genuine answers
    without ``incomplete_field`` (a dotted path such as ``id`` or
    ``issues.0.key``), then ``slow_count`` answers delayed by ``slow_ms``, then
    ``timeout`` requests held ``hang_seconds``.  Independently,
    ``rate_limit_every`` > 0 turns every Nth request (counted since the plan
    was set) into a 429 until the plan is cleared, for demos of a busy API.

    ``lost_after_commit``, ``dropped_after_commit`` and ``garbled_after_commit``
    apply to the next writes (POST, PUT, PATCH, DELETE) only, before any other
    fault: the handler runs and commits, then the client gets a gateway's 502, a
    connection cut in the middle of the answer, or a complete 200 whose body
    stops half-way.  Reads pass them by, so a client's look-up between two
    sends sees the truth.
    """

    rate_limit: int = 0
    retry_after: int = 1
    server_error: int = 0
    malformed_json: int = 0
    incomplete: int = 0
    incomplete_field: str = "id"
    slow_ms: int = 0
    slow_count: int = 0
    timeout: int = 0
    hang_seconds: float = 30.0
    rate_limit_every: int = 0
    lost_after_commit: int = 0
    dropped_after_commit: int = 0
    garbled_after_commit: int = 0
    seen: int = 0

    def take(self, method: str = "GET") -> FaultKind | None:
        """Consume the fault for the next request (call under the state lock)."""
        self.seen += 1
        if method.upper() in WRITE_METHODS:
            for counter, kind in (
                ("lost_after_commit", FaultKind.LOST_AFTER_COMMIT),
                ("dropped_after_commit", FaultKind.DROPPED_AFTER_COMMIT),
                ("garbled_after_commit", FaultKind.MALFORMED_JSON),
            ):
                if getattr(self, counter) > 0:
                    setattr(self, counter, getattr(self, counter) - 1)
                    return kind
        for counter, kind in (
            ("rate_limit", FaultKind.RATE_LIMIT),
            ("server_error", FaultKind.SERVER_ERROR),
            ("malformed_json", FaultKind.MALFORMED_JSON),
            ("incomplete", FaultKind.INCOMPLETE),
            ("slow_count", FaultKind.SLOW),
            ("timeout", FaultKind.TIMEOUT),
        ):
            if getattr(self, counter) > 0:
                setattr(self, counter, getattr(self, counter) - 1)
                return kind
        if self.rate_limit_every and self.seen % self.rate_limit_every == 0:
            return FaultKind.RATE_LIMIT
        return None

    def to_json(self) -> dict[str, Any]:
        """Remaining counts, as the admin API shows them."""
        return asdict(self)


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


class RequestLog(Protocol):
    """What the fault layer needs of the sandbox's state (``SandboxState``): the request log and the plans."""

    @property
    def hang_epoch(self) -> int:
        """Changes whenever hanging requests must give up."""
        ...

    def begin_request(
        self, system: str, method: str, path: str, content_type: str | None = None, accept: str | None = None
    ) -> RequestRecord:
        """Log an arriving request and decide, atomically, which fault it gets."""
        ...

    def finish_request(self, record: RequestRecord, status: int) -> None:
        """Store the status the request was answered with."""
        ...

    def fault_plan(self, system: str) -> FaultPlan | None:
        """The live plan of one system."""
        ...


class FaultSpec(BaseModel):
    """Body of ``POST /_sandbox/faults``; unknown keys are refused so typos show."""

    model_config = ConfigDict(extra="forbid")

    system: str
    rate_limit: int = Field(default=0, ge=0)
    retry_after: int = Field(default=1, ge=0)
    server_error: int = Field(default=0, ge=0)
    malformed_json: int = Field(default=0, ge=0)
    incomplete: int = Field(default=0, ge=0)
    incomplete_field: str = Field(default="id", min_length=1)
    slow_ms: int = Field(default=0, ge=0)
    slow_count: int = Field(default=0, ge=0)
    timeout: int = Field(default=0, ge=0)
    hang_seconds: float = Field(default=30.0, gt=0)
    rate_limit_every: int = Field(default=0, ge=0)
    lost_after_commit: int = Field(default=0, ge=0)
    dropped_after_commit: int = Field(default=0, ge=0)
    garbled_after_commit: int = Field(default=0, ge=0)

    def to_plan(self) -> FaultPlan:
        """The plan this spec schedules."""
        return FaultPlan(**self.model_dump(exclude={"system"}))


CallNext = Callable[[Request], Awaitable[Response]]


class FaultInjector:
    """HTTP middleware: logs every vendor request and applies its scheduled fault."""

    def __init__(self, state: RequestLog, systems: Sequence[SandboxSystem]) -> None:
        self.state = state
        self.systems = systems

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        """Entry point for ``app.middleware("http")``."""
        system = system_for(request.url.path, self.systems)
        if system is None:
            return await call_next(request)
        record = self.state.begin_request(
            system.name,
            request.method,
            request.url.path,
            request.headers.get("content-type"),
            request.headers.get("accept"),
        )
        status = 500
        try:
            response = await self._answer(system, record, request, call_next)
            status = response.status_code
            return response
        finally:
            self.state.finish_request(record, status)

    async def _answer(
        self, system: SandboxSystem, record: RequestRecord, request: Request, call_next: CallNext
    ) -> Response:
        """Apply the request's fault, if any, around the real handler."""
        plan = self.state.fault_plan(system.name) or FaultPlan()
        if record.fault is FaultKind.RATE_LIMIT:
            headers = {"Retry-After": str(plan.retry_after)}
            return system.error_response(VendorError(429, ErrorKind.RATE_LIMIT, headers=headers), request.url.path)
        if record.fault is FaultKind.SERVER_ERROR:
            return system.error_response(VendorError(500, ErrorKind.INTERNAL), request.url.path)
        if record.fault is FaultKind.SLOW:
            await asyncio.sleep(plan.slow_ms / 1000)
        if record.fault is FaultKind.TIMEOUT:
            await self._hang(plan.hang_seconds)
        response = await call_next(request)
        if record.fault is FaultKind.MALFORMED_JSON:
            return await _truncated(response)
        if record.fault is FaultKind.INCOMPLETE:
            return await _without(response, plan.incomplete_field)
        if record.fault is FaultKind.LOST_AFTER_COMMIT:
            await _drain(response)
            return PlainTextResponse("502 Bad Gateway: upstream closed the connection", status_code=502)
        if record.fault is FaultKind.DROPPED_AFTER_COMMIT:
            return await _cut_off(response)
        return response

    async def _hang(self, seconds: float) -> None:
        """Hold the request, but let a reset, a fault clear or a shutdown end it early."""
        epoch = self.state.hang_epoch
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline and self.state.hang_epoch == epoch:
            await asyncio.sleep(HANG_POLL_SECONDS)


async def _drain(response: Response) -> bytes:
    """The whole body of a streamed response (the handler has run once this returns)."""
    body = b""
    async for chunk in response.body_iterator:  # type: ignore[attr-defined]
        body += chunk if isinstance(chunk, bytes) else chunk.encode()
    return body


class _ConnectionCut(Exception):
    """Raised mid-answer so the server closes the connection, as a dying proxy does."""


async def _cut_off(response: Response) -> Response:
    """The genuine status and headers, then half the body, then the connection closes.

    The declared length is the full body's, so the client sees the answer stop
    short: in ``requests`` a ``ChunkedEncodingError`` ("IncompleteRead").
    """
    body = await _drain(response)

    async def half_then_cut() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        raise _ConnectionCut("sandbox fault: connection dropped after the vendor committed")

    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    headers["content-length"] = str(len(body))
    return StreamingResponse(half_then_cut(), status_code=response.status_code, headers=headers)


async def _without(response: Response, path: str) -> Response:
    """The genuine answer, status and headers, less the field at the dotted ``path``.

    What a vendor sends when its answer is well-formed JSON but not what its
    documentation promises (a create without its id, a search without its
    result list).  An answer that is not JSON, or has no such field, is sent as it is.
    """
    body = await _drain(response)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    try:
        document = json.loads(body)
    except ValueError:
        return Response(content=body, status_code=response.status_code, headers=headers)
    *parents, leaf = path.split(".")
    holder: Any = document
    for part in parents:
        holder = _child(holder, part)
    if isinstance(holder, dict):
        holder.pop(leaf, None)
    elif _child(holder, leaf) is not None:
        del holder[int(leaf)]
    return Response(content=json.dumps(document), status_code=response.status_code, headers=headers)


def _child(node: Any, part: str) -> Any:
    """``node[part]`` of a JSON object, or of an array when ``part`` is an index in it; else None."""
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return None


async def _truncated(response: Response) -> Response:
    """The genuine answer cut in half, sent as a successful JSON response.

    Cutting the real body (rather than sending canned garbage) reproduces what
    a dropped connection behind a proxy looks like: valid headers, status 200,
    a document that starts right and stops mid-way.
    """
    body = await _drain(response)
    cut = body[: max(1, len(body) // 2)]
    return Response(content=cut, status_code=200, media_type="application/json")
