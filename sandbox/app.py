"""The sandbox web app: simulated third-party systems plus an admin API.

Vendor endpoints keep each vendor's real paths, so an Airflow connection
pointed at the sandbox instead of the vendor is the only difference between a
demo and production.  Everything that is not part of a vendor API lives under
``/_sandbox`` (health, reset, seeding, fault scheduling, request log, ledger)
and is never faulted or logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox import billing, crm, provisioning, slack, ticketing
from sandbox.customers import BEHAVIOURS
from sandbox.faults import FaultInjector, FaultSpec
from sandbox.state import DEFAULT_START, SandboxState
from sandbox.systems import ErrorKind, SandboxSystem, VendorError, system_for

SYSTEMS: tuple[SandboxSystem, ...] = (
    crm.SYSTEM,
    ticketing.SYSTEM,
    billing.SYSTEM,
    provisioning.SYSTEM,
    slack.SYSTEM,
)
"""Every simulated system; a new system is one module exporting a ``SandboxSystem``."""

_KIND_BY_STATUS = {401: ErrorKind.AUTHENTICATION, 404: ErrorKind.NOT_FOUND, 429: ErrorKind.RATE_LIMIT}


class ResetRequest(BaseModel):
    """Body of ``POST /_sandbox/reset``; an empty body gives an empty sandbox."""

    seed: int = 7
    orders: int = Field(default=0, ge=0, le=20_000)
    bad_ratio: float = Field(default=0.0, ge=0.0, le=1.0)
    start: date = DEFAULT_START


class BehaviourBody(BaseModel):
    """Body of ``POST /_sandbox/customers/behaviour``: one customer's behaviour, or everyone's (no email)."""

    behaviour: str
    email: str | None = None


class CustomerSettings(BaseModel):
    """Body of ``POST /_sandbox/customers/settings``."""

    slow_seconds: float = Field(ge=0)


def create_app(state: SandboxState | None = None, systems: Sequence[SandboxSystem] = SYSTEMS) -> FastAPI:
    """Build the app around ``state`` (a fresh, empty one by default)."""
    app = FastAPI(title="Onboarding sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json")
    app.state.sandbox = state if state is not None else SandboxState()
    app.state.systems = tuple(systems)
    app.middleware("http")(FaultInjector(app.state.sandbox, app.state.systems))
    for system in systems:
        app.include_router(system.router)
        if system.admin_router is not None:
            app.include_router(system.admin_router, prefix=f"/_sandbox/{system.name}")
    app.include_router(_admin_router())
    app.include_router(_people_router())
    _install_error_handlers(app)
    return app


def _state(request: Request) -> SandboxState:
    """The state of the app serving the request."""
    state: SandboxState = request.app.state.sandbox
    return state


def _systems(request: Request) -> tuple[SandboxSystem, ...]:
    """The systems of the app serving the request."""
    systems: tuple[SandboxSystem, ...] = request.app.state.systems
    return systems


StateDep = Annotated[SandboxState, Depends(_state)]
SystemsDep = Annotated[tuple[SandboxSystem, ...], Depends(_systems)]


def _admin_router() -> APIRouter:
    """Sandbox-only endpoints shared by all systems."""
    admin = APIRouter(prefix="/_sandbox")

    @admin.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    @admin.post("/reset")
    def reset(state: StateDep, body: ResetRequest | None = None) -> dict[str, Any]:
        body = body or ResetRequest()
        seeded = state.reset(seed=body.seed, orders=body.orders, bad_ratio=body.bad_ratio, start=body.start)
        return {"ok": True, "deals": len(seeded)}

    @admin.post("/faults")
    def schedule_faults(spec: FaultSpec, state: StateDep, systems: SystemsDep) -> dict[str, Any]:
        _known(spec.system, systems)
        state.set_faults(spec.system, spec.to_plan())
        return state.fault_plans()

    @admin.get("/faults")
    def list_faults(state: StateDep) -> dict[str, Any]:
        return state.fault_plans()

    @admin.delete("/faults")
    def clear_faults(state: StateDep, systems: SystemsDep, system: str | None = None) -> dict[str, Any]:
        if system is not None:
            _known(system, systems)
        state.clear_faults(system)
        return state.fault_plans()

    @admin.get("/requests")
    def requests_log(state: StateDep, system: Annotated[str | None, Query()] = None) -> list[dict[str, Any]]:
        return state.requests(system)

    @admin.get("/ledger")
    def ledger(state: StateDep, systems: SystemsDep) -> dict[str, Any]:
        ledgers = state.ledger()
        return {system.name: ledgers[system.name] for system in systems}

    return admin


def _people_router() -> APIRouter:
    """The customers' side: the mailbox the SMTP server fills, and how the simulated customers behave."""
    people = APIRouter(prefix="/_sandbox")

    @people.get("/mail")
    def mail_server(state: StateDep) -> dict[str, Any]:
        return {"smtp_port": state.smtp_port, "messages": len(state.mailbox.messages())}

    @people.get("/mail/messages")
    def mail_messages(state: StateDep, to: Annotated[str | None, Query()] = None) -> list[dict[str, Any]]:
        return [m.as_json() for m in state.mailbox.messages(to)]

    @people.post("/customers/behaviour")
    def customer_behaviour(body: BehaviourBody, state: StateDep) -> dict[str, Any]:
        if body.behaviour not in BEHAVIOURS:
            raise HTTPException(400, f"unknown behaviour {body.behaviour!r}; known: {', '.join(BEHAVIOURS)}")
        return state.customers.set_behaviour(body.behaviour, body.email)

    @people.post("/customers/settings")
    def customer_settings(body: CustomerSettings, state: StateDep) -> dict[str, Any]:
        state.customers.slow_seconds = body.slow_seconds
        return {"slow_seconds": state.customers.slow_seconds}

    @people.get("/customers/ledger")
    def customer_ledger(state: StateDep) -> list[dict[str, Any]]:
        return state.customers.ledger()

    return people


def _known(name: str, systems: Sequence[SandboxSystem]) -> None:
    """Refuse fault plans for systems that do not exist (a typo would never fire)."""
    names = [system.name for system in systems]
    if name not in names:
        raise HTTPException(status_code=400, detail=f"unknown system {name!r}; known: {', '.join(names)}")


def _install_error_handlers(app: FastAPI) -> None:
    """Answer errors on vendor paths in the vendor's shape, FastAPI's elsewhere."""

    async def on_vendor_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, VendorError)
        system = system_for(request.url.path, app.state.systems)
        if system is None:
            return JSONResponse({"detail": exc.message or exc.kind.value}, exc.status_code, exc.headers)
        return system.error_response(exc, request.url.path)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        system = system_for(request.url.path, app.state.systems)
        if system is None:
            return await request_validation_exception_handler(request, exc)
        return system.error_response(VendorError(400, ErrorKind.VALIDATION, _describe(exc)), request.url.path)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        system = system_for(request.url.path, app.state.systems)
        if system is None:
            return await http_exception_handler(request, exc)
        kind = _KIND_BY_STATUS.get(exc.status_code, ErrorKind.VALIDATION)
        if exc.status_code >= 500:
            kind = ErrorKind.INTERNAL
        return system.error_response(VendorError(exc.status_code, kind, str(exc.detail)), request.url.path)

    app.add_exception_handler(VendorError, on_vendor_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


def _describe(exc: RequestValidationError) -> str:
    """One readable line from pydantic's error list, as HubSpot gives one message."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return "Invalid input JSON: " + "; ".join(problems)
