"""The board's FastAPI app, mounted by the Airflow plugin at ``/board`` in the api-server.

Routes (server-rendered HTML; every page works without JavaScript)::

    GET /                          open accounts, most urgent first; filters tier, owner, stage, blocked, at_risk; paged
    GET /accounts/{onboarding_key} one account: SLA clock, where the days went, checklist with every submission and
                                   verdict, approvals, setup steps and links, escalations, customer mail, audit trail
    GET /quarantine                signed orders waiting in quarantine, each reason with how to fix it
    GET /runs/{dag_id}/{run_id}    the account a tier DAG's run carries (the tab on the run's page in Airflow)
    GET /static/{name}             the page's stylesheet, script and icon

Every route depends on Airflow's authentication (``requires_authenticated``):
the UI's session token (its cookie, same-origin inside the UI's frame) or a
bearer token.  Without one, the answer is 401 and a page that says where to
sign in; nothing about any account.  Before reading, a page re-measures the
SLA clocks whose accounts changed since (:func:`include.board.clocks.refresh`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import psycopg
from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from include.board import clocks, filters, queries
from include.board.stores import StorePool
from include.onboarding.clock import Clock, default_clock
from include.onboarding.config import OnboardingConfig, load_config
from include.onboarding.connections import ONBOARDING_DB

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
STATIC = {
    "board.css": "text/css",
    "board.js": "text/javascript",
    "board.svg": "image/svg+xml",
}
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Shown inside the Airflow UI's frame (same origin), never inside anyone else's.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'",
}


class Board:
    """What the pages need: configuration, store connections, the clock."""

    def __init__(
        self, config: OnboardingConfig | None = None, database_url: str | None = None, clock: Clock | None = None
    ) -> None:
        self._config = config
        self.pool = StorePool(database_url)
        self._clock = clock

    @cached_property
    def config(self) -> OnboardingConfig:
        return self._config or load_config()

    def now(self) -> Any:
        return (self._clock or default_clock()).now()


def authenticated() -> Callable[..., Any]:
    """Airflow's own check that the request carries a valid session or bearer token."""
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return requires_authenticated()


def create_app(
    *, config: OnboardingConfig | None = None, database_url: str | None = None, clock: Clock | None = None
) -> FastAPI:
    """The board as an ASGI app.  Arguments default to the configuration, the ``onboarding_db`` connection
    and ``ONBOARDING_CLOCK``; nothing is read before the first page view."""
    board = Board(config, database_url, clock)
    app = FastAPI(
        title="Onboarding board",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(authenticated())],
    )
    app.state.board = board
    templates = Jinja2Templates(directory=HERE / "templates")  # autoescapes .html: account names are text
    templates.env.filters["when"] = when
    _routes(app, board, templates)
    _errors(app, templates)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app


def _routes(app: FastAPI, board: Board, templates: Jinja2Templates) -> None:  # noqa: C901 - one closure per route
    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context |= {"root": request.scope.get("root_path", "").rstrip("/"), "config": board.config}
        return templates.TemplateResponse(request, name, context, status_code=status)

    @app.get("/", response_class=HTMLResponse)
    def accounts(request: Request) -> HTMLResponse:
        config = board.config
        chosen = filters.parse(request.query_params, config)
        now = board.now()
        with board.pool.store() as store:
            clocks.refresh(store, config, now)
            listing = queries.account_list(store, config, chosen, now)
        people = sorted(config.settings.people, key=lambda p: p.name)
        return page(
            request, "accounts.html", listing=listing, filters=chosen, people=people, tiers=config.tiers,
            stages=filters.OPEN_STAGES, now=now, title="Onboarding board",
        )  # fmt: skip

    @app.get("/accounts/{onboarding_key}", response_class=HTMLResponse)
    def account(request: Request, onboarding_key: str) -> HTMLResponse:
        return _account_page(request, onboarding_key, embedded=False)

    @app.get("/runs/{dag_id}/{run_id:path}", response_class=HTMLResponse)
    def run(request: Request, dag_id: str, run_id: str) -> HTMLResponse:
        onboarding_key = queries.onboarding_key_for_run(dag_id, run_id)
        if onboarding_key is None:
            return page(
                request, "message.html", title="Not an onboarding run",
                message=f"Run {run_id} of {dag_id} does not carry an account: onboarding runs are those of the"
                " onboarding_<tier> DAGs, with run ids onboarding__<onboarding key>.",
            )  # fmt: skip
        return _account_page(request, onboarding_key, embedded=True)

    def _account_page(request: Request, onboarding_key: str, embedded: bool) -> HTMLResponse:
        config, now = board.config, board.now()
        with board.pool.store() as store:
            clocks.refresh(store, config, now)
            found = queries.account(store, config, onboarding_key, now)
        if found is None:
            return page(
                request, "message.html", 404, title="No such account",
                message=f"There is no onboarding {onboarding_key!r} in the store. Keys look like hubspot-18000000001;"
                " the board's list has every open account.",
            )  # fmt: skip
        return page(request, "account.html", a=found, embedded=embedded, now=now, title=found.row["account_name"])

    @app.get("/quarantine", response_class=HTMLResponse)
    def quarantine(request: Request) -> HTMLResponse:
        with board.pool.store() as store:
            orders = queries.quarantine(store)
        return page(request, "quarantine.html", orders=orders, title="Quarantine")

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise StarletteHTTPException(404, f"no file {name!r}")
        return FileResponse(HERE / "static" / name, media_type=STATIC[name])


def _errors(app: FastAPI, templates: Jinja2Templates) -> None:
    @app.exception_handler(psycopg.OperationalError)
    async def _store_down(request: Request, exc: psycopg.OperationalError) -> Response:
        log.warning("board: the onboarding store is unreachable: %s", exc)
        return _message(
            request, templates, 503, "The onboarding store does not answer",
            f"The board reads the onboarding store through the Airflow connection {ONBOARDING_DB!r}, and it"
            f" could not be reached: {str(exc).strip()[:300]}. Check the connection and that the database is up.",
        )  # fmt: skip

    @app.exception_handler(filters.BadFilter)
    async def _bad_filter(request: Request, exc: filters.BadFilter) -> Response:
        return _message(request, templates, 400, "That filter cannot be used", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (401, 403):
            return _message(
                request, templates, exc.status_code, "Sign in to Airflow",
                f"The onboarding board is part of Airflow and shows its pages to signed-in users only ({exc.detail}).",
                login=True,
            )  # fmt: skip
        return _message(request, templates, exc.status_code, "Not here", str(exc.detail))


def when(value: Any) -> str:
    """An instant as people read it on the board: UTC, to the minute; empty for none."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def _message(
    request: Request, templates: Jinja2Templates, status: int, title: str, message: str, login: bool = False
) -> Response:
    context = {"root": request.scope.get("root_path", "").rstrip("/"), "title": title, "message": message}
    return templates.TemplateResponse(request, "message.html", context | {"login": login}, status_code=status)
