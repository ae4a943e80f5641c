"""The portal's FastAPI app: server-rendered pages, one account per magic link.

Routes (every page works without JavaScript; nothing links to Airflow)::

    GET  /healthz                          200 when the store answers, 503 otherwise
    GET  /l/{token}                        the account's checklist (or the items forwarded to this contact)
    POST /l/{token}/items/{item_key}       submit one item: judged in the request, then 303 back to the page
    POST /l/{token}/forward                forward chosen items to a colleague (a link scoped to them, by email)
    GET  /l/{token}/timeline               what happened, from the customer-visible part of the audit trail
    GET  /l/{token}/documents/{id}         a file this account uploaded

Everything a page shows is read through the account the verified token names;
ids in a URL (item keys, document ids) are looked up within that account only,
so a valid link never shows another account's data.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.background import BackgroundTask
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from include.onboarding import checklist, lifecycle, mail
from include.onboarding.clock import Clock, default_clock
from include.onboarding.config import ChecklistItem, InputType, OnboardingConfig, load_config
from include.onboarding.constants import is_settled
from include.onboarding.events import EventType
from include.onboarding.store import SCHEMA, Event, Store, connect, connect_dsn, migrate
from include.onboarding.validators import MEGABYTE, AccountContext, DocumentMeta, Submission
from include.onboarding.validators.emails import BadAddress, normalised_address
from include.portal import documents, links, security, timeline

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
_TYPE_NAMES = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel (.xlsx)",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word (.docx)",
    "text/csv": "CSV",
    "text/plain": "text",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "application/zip": "ZIP",
}
_STATUS_TEXT = {
    "missing": "Waiting for you",
    "received": "Received, being checked",
    "verified": "Verified",
    "rejected": "Not accepted",
    "waived": "Not needed",
}


class Stores:
    """One store connection per worker thread: the pages are synchronous and run in a thread pool."""

    def __init__(self, database_url: str | None) -> None:
        self.database_url = database_url
        self._local = threading.local()
        self._migrated = False
        self._lock = threading.Lock()

    def get(self) -> Store:
        store: Store | None = getattr(self._local, "store", None)
        if store is None or store.conn.closed or store.conn.broken:
            conn = connect_dsn(self.database_url) if self.database_url else connect()
            with self._lock:
                if not self._migrated:
                    migrate(conn)
                    self._migrated = True
            store = Store(conn)
            self._local.store = store
        return store


@dataclass
class Portal:
    """What the pages need: configuration, the store, the signing secret, the clock, the file storage."""

    config: OnboardingConfig
    stores: Stores
    secret: bytes
    clock: Clock
    storage_root: Any
    limiter: security.BadTokenLimiter
    deliver_mail: bool = True
    secure_cookies: bool = False
    _delivering: threading.Lock = field(default_factory=threading.Lock)

    @property
    def store(self) -> Store:
        return self.stores.get()

    def now(self) -> datetime:
        return self.clock.now()

    def deliver(self) -> None:
        """Send pending customer mail now (after a forward), one pass at a time; never raises."""
        if not self._delivering.acquire(blocking=False):
            return  # a pass is already sending; it or the next one takes this mail
        try:
            mail.deliver_pending(self.store, self.config, self.now())
        except Exception:
            log.warning("portal: delivering customer mail failed; it stays queued", exc_info=True)
        finally:
            self._delivering.release()


def create_app(
    *,
    config: OnboardingConfig | None = None,
    database_url: str | None = None,
    secret: bytes | None = None,
    clock: Clock | None = None,
    storage_root: str | None = None,
    deliver_mail: bool = True,
) -> FastAPI:
    """The portal as an ASGI app.  Every argument defaults to the configuration and environment."""
    cfg = config or load_config()
    settings = cfg.settings.portal
    if storage_root is not None:
        from airflow.sdk import ObjectStoragePath

        root: Any = ObjectStoragePath(storage_root)
    else:
        root = documents.storage_root(settings)
    portal = Portal(
        config=cfg,
        stores=Stores(database_url),
        secret=secret if secret is not None else links.load_secret(settings),
        clock=clock or default_clock(),
        storage_root=root,
        limiter=security.BadTokenLimiter(settings.bad_tokens_per_window, settings.bad_token_window_seconds),
        deliver_mail=deliver_mail,
        secure_cookies=links.base_url(cfg).startswith("https://"),
    )
    app = FastAPI(title="Onboarding portal", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.portal = portal
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")  # autoescapes .html: customer text is text
    _routes(app, portal, templates)

    app.add_middleware(
        _Guard,
        limit=int(settings.max_upload_mb * MEGABYTE + 64 * 1024),
        too_large=templates.get_template("message.html").render(
            title="File too large",
            message=f"That upload is over {settings.max_upload_mb:g} MB, the most this page accepts. "
            "Please go back and send a smaller file.",
        ),
    )
    return app


_SECURITY_HEADERS = (
    ("Referrer-Policy", "no-referrer"),  # the link is the key: never pass it on
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
    ("Cache-Control", "no-store"),
)


class _Guard:
    """Security headers on every response (unless a page set its own); a POST over the upload limit gets 413 unread.

    Plain ASGI, not ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` runs every
    request in an extra task behind a memory stream, a cost each page paid for five headers.
    """

    def __init__(self, app: ASGIApp, *, limit: int, too_large: str) -> None:
        self.app = app
        self.limit = limit
        self.too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        if scope["method"] == "POST" and self._over_limit(scope):
            await HTMLResponse(self.too_large, status_code=413)(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)

    def _over_limit(self, scope: Scope) -> bool:
        length = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        return length.isdigit() and int(length) > self.limit


# --------------------------------------------------------------------------- pages


@dataclass
class ItemView:
    key: str
    label: str
    help: str | None
    type: str
    critical: bool
    status: str
    status_text: str
    reason: str | None
    value: Any
    choices: list[str]
    accept: str
    max_mb: float | None
    accepted_types: str
    documents: list[dict[str, Any]]

    @property
    def open(self) -> bool:
        return not is_settled(self.status)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _routes(app: FastAPI, portal: Portal, templates: Jinja2Templates) -> None:  # noqa: C901 - one closure per route
    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        cookie = request.cookies.get(security.CSRF_COOKIE) or security.new_csrf_cookie()
        token = context.get("token")
        context["csrf"] = security.csrf_token(portal.secret, cookie, token) if token else ""
        response = templates.TemplateResponse(request, name, context, status_code=status)
        if request.cookies.get(security.CSRF_COOKIE) != cookie:
            response.set_cookie(
                security.CSRF_COOKIE, cookie, httponly=True, samesite="strict", secure=portal.secure_cookies
            )
        return response

    def message(request: Request, title: str, text: str, status: int, **extra: Any) -> HTMLResponse:
        return page(request, "message.html", status, title=title, message=text, **extra)

    def bad_link(request: Request, error: links.BadLink) -> HTMLResponse:
        portal.limiter.record(_client(request))
        owner = None
        if error.onboarding_key is not None:
            try:
                ob = lifecycle.load(portal.store, error.onboarding_key)
                owner = _person(portal.config, ob.owner_email)
            except lifecycle.OnboardingNotFound:
                owner = None
        heading = {"expired": "This link has expired", "revoked": "This link no longer works"}.get(
            error.why, "This link is not valid"
        )
        return page(
            request, "invalid_link.html", 403 if error.why != "expired" else 410, title=heading, owner=owner,
            support=portal.config.settings.portal.support_email,
        )  # fmt: skip

    def access(request: Request, token: str) -> tuple[links.Access, lifecycle.Onboarding] | HTMLResponse:
        if portal.limiter.blocked(_client(request)):
            return message(
                request, "Too many attempts",
                "Too many links that do not work were opened from your network. Please wait a few minutes, "
                "then use the most recent link from your email.", 429,
            )  # fmt: skip
        try:
            return links.open_account(portal.store, portal.secret, token, portal.now())
        except links.BadLink as error:
            return bad_link(request, error)

    @app.get("/healthz", response_model=None)
    def healthz() -> JSONResponse:
        try:
            portal.store.scalar("SELECT 1")
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "store": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        return message(
            request, "Onboarding portal",
            "Open the personal link from your onboarding email to see your checklist.", 200,
        )  # fmt: skip

    @app.get("/l/{token}", response_class=HTMLResponse)
    def checklist_page(request: Request, token: str) -> Any:
        # ?done=<item key> (the verdict to show) and ?forwarded=1 are read as they are: declared as
        # parameters, FastAPI's checks of two optional strings took ~0.1 ms of CPU from every view.
        done, forwarded = request.query_params.get("done"), request.query_params.get("forwarded")
        opened = access(request, token)
        if isinstance(opened, HTMLResponse):
            return opened
        found, ob = opened
        items = _items(portal, ob, found)
        just_done = next((i for i in items if i.key == done), None)
        return page(
            request, "checklist.html", token=token, account=ob, owner=_person(portal.config, ob.owner_email),
            items=items, just_done=just_done, forwarded=forwarded, access=found,
            outstanding=sum(1 for i in items if i.open and i.critical),
        )  # fmt: skip

    @app.post("/l/{token}/items/{item_key}", response_model=None)
    def submit(
        request: Request,
        token: str,
        item_key: str,
        csrf_token: Annotated[str, Form()] = "",
        value: Annotated[str | None, Form()] = None,
        document: Annotated[UploadFile | None, File()] = None,
    ) -> Response:
        opened = access(request, token)
        if isinstance(opened, HTMLResponse):
            return opened
        found, ob = opened
        if not security.csrf_ok(portal.secret, request.cookies.get(security.CSRF_COOKIE), token, csrf_token):
            return message(request, "Please try again", _CSRF_TEXT, 403, token=token)
        item = _checklist_item(portal, ob, found, item_key)
        if item is None:
            return message(
                request, "Not on your checklist",
                "That item is not on this checklist, so nothing was recorded. Please use the forms on your page.",
                404, token=token,
            )  # fmt: skip
        refused = _submit(portal, ob, item, found, value, document)
        if refused is not None:
            return message(request, "Not accepted", refused, 413, token=token)
        return RedirectResponse(f"/l/{token}?done={quote(item.key)}#item-{item.key}", status_code=303)

    @app.post("/l/{token}/forward", response_model=None)
    def forward(
        request: Request,
        token: str,
        csrf_token: Annotated[str, Form()] = "",
        name: Annotated[str, Form()] = "",
        email: Annotated[str, Form()] = "",
        items: Annotated[list[str] | None, Form()] = None,
    ) -> Response:
        opened = access(request, token)
        if isinstance(opened, HTMLResponse):
            return opened
        found, ob = opened
        if not security.csrf_ok(portal.secret, request.cookies.get(security.CSRF_COOKIE), token, csrf_token):
            return message(request, "Please try again", _CSRF_TEXT, 403, token=token)
        problem = _forward(portal, ob, found, name, email, items or [])
        if problem is not None:
            return message(request, "Not forwarded", problem, 400, token=token)
        task = BackgroundTask(portal.deliver) if portal.deliver_mail else None
        return RedirectResponse(f"/l/{token}?forwarded=1#forward", status_code=303, background=task)

    @app.get("/l/{token}/timeline", response_class=HTMLResponse)
    def timeline_page(request: Request, token: str) -> Any:
        opened = access(request, token)
        if isinstance(opened, HTMLResponse):
            return opened
        found, ob = opened
        labels = {i.key: i.label for i in _items(portal, ob, found)}
        entries = timeline.timeline(portal.store, ob.id, labels, found.items)
        return page(
            request, "timeline.html", token=token, account=ob, owner=_person(portal.config, ob.owner_email),
            entries=list(reversed(entries)), access=found,
        )  # fmt: skip

    @app.get("/l/{token}/documents/{document_id}", response_model=None)
    def document_file(request: Request, token: str, document_id: int) -> Response:
        opened = access(request, token)
        if isinstance(opened, HTMLResponse):
            return opened
        found, _ = opened
        rows = portal.store.query(
            f"""SELECT item_key, filename, content_type, storage_url FROM {SCHEMA}.documents
                WHERE id = %s AND onboarding_id = %s""",
            (document_id, found.onboarding_id),
        )
        if not rows or not found.allows(rows[0]["item_key"]):
            return message(request, "Not found", "There is no such file on this checklist.", 404, token=token)
        doc = rows[0]
        return Response(
            documents.read(doc["storage_url"]),
            media_type=doc["content_type"],
            headers={"Content-Disposition": f'attachment; filename="{documents.safe_name(doc["filename"])}"'},
        )


_CSRF_TEXT = (
    "This form was open too long or came from another page, so nothing was recorded. "
    "Please reload your checklist and send it again."
)


# --------------------------------------------------------------------------- reading


def _person(config: OnboardingConfig, email: str) -> dict[str, str]:
    person = config.settings.people_by_email.get(email)
    return {"name": person.name if person else email, "email": email}


def _tier_items(portal: Portal, ob: lifecycle.Onboarding) -> dict[str, ChecklistItem]:
    try:
        tier = lifecycle.tier_of(portal.config, ob)
    except lifecycle.TierRemoved:
        return {}
    return {i.key: i for i in tier.checklist}


def _items(portal: Portal, ob: lifecycle.Onboarding, access: links.Access) -> list[ItemView]:
    configured = _tier_items(portal, ob)
    rows, docs = _checklist_rows(portal.store, ob.id)
    views = []
    for row in rows:
        if not access.allows(row["item_key"]):
            continue
        item = configured.get(row["item_key"])
        rules = item.document if item is not None else None
        views.append(
            ItemView(
                key=row["item_key"],
                label=row["label"],
                help=item.help if item else None,
                type=row["item_type"],
                critical=row["critical"],
                status=row["status"],
                status_text=_STATUS_TEXT.get(row["status"], row["status"]),
                reason=row["rejection_reason"] if row["status"] == "rejected" else None,
                value=row["value"] if is_settled(row["status"]) else None,
                choices=list(item.choices or []) if item else [],
                accept=",".join(rules.content_types) if rules else "",
                max_mb=rules.max_mb if rules else None,
                accepted_types=", ".join(_TYPE_NAMES.get(c, c) for c in rules.content_types) if rules else "",
                documents=docs.get(row["item_key"], []),
            )
        )
    return views


def _checklist_rows(store: Store, onboarding_id: int) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The account's checklist items in order, and each item's documents: one query, as every page needs both."""
    rows: list[dict[str, Any]] = []
    docs: dict[str, list[dict[str, Any]]] = {}
    for r in store.query(
        f"""SELECT c.item_key, c.label, c.item_type, c.critical, c.status, c.rejection_reason, c.value,
                   d.id AS doc_id, d.item_key AS doc_item_key, d.filename AS doc_filename,
                   d.content_type AS doc_content_type, d.size_bytes AS doc_size_bytes, d.uploaded_at AS doc_uploaded_at
            FROM {SCHEMA}.checklist_items c
            LEFT JOIN {SCHEMA}.documents d ON d.onboarding_id = c.onboarding_id AND d.item_key = c.item_key
            WHERE c.onboarding_id = %s ORDER BY c.id, d.id""",
        (onboarding_id,),
    ):
        if not rows or rows[-1]["item_key"] != r["item_key"]:
            rows.append({k: v for k, v in r.items() if not k.startswith("doc_")})
        if r["doc_id"] is not None:
            docs.setdefault(r["item_key"], []).append({k[4:]: v for k, v in r.items() if k.startswith("doc_")})
    return rows, docs


def _checklist_item(
    portal: Portal, ob: lifecycle.Onboarding, access: links.Access, item_key: str
) -> ChecklistItem | None:
    """The item when it is on this account's checklist and within the link's scope; None otherwise."""
    if not access.allows(item_key):
        return None
    planned = portal.store.scalar(
        f"SELECT count(*) FROM {SCHEMA}.checklist_items WHERE onboarding_id = %s AND item_key = %s",
        (ob.id, item_key),
    )
    if not planned:
        return None
    return _tier_items(portal, ob).get(item_key)


# --------------------------------------------------------------------------- writing


def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = upload.file.read(limit + 1)
    return data if isinstance(data, bytes) else bytes(data)


def _submit(
    portal: Portal,
    ob: lifecycle.Onboarding,
    item: ChecklistItem,
    access: links.Access,
    value: str | None,
    upload: UploadFile | None,
) -> str | None:
    """Judge and record one submission; a reason when it was refused before judging (too large to read)."""
    limit = int(portal.config.settings.portal.max_upload_mb * MEGABYTE)
    has_file = upload is not None and bool(upload.filename)
    data = _read_upload(upload, limit) if upload is not None and has_file else None
    if data is not None and len(data) > limit:
        return (
            f"{upload.filename if upload else 'The file'} is over {portal.config.settings.portal.max_upload_mb:g} MB,"
            " the most this page accepts. Please upload a smaller file."
        )
    now = portal.now()
    submission_id = f"portal-{uuid.uuid4().hex}"
    filename = (upload.filename or "") if upload is not None else ""
    stored_url: str | None = None
    meta: DocumentMeta | None = None
    if item.type is InputType.SAML_METADATA and data is not None and not (value or "").strip():
        value = data.decode("utf-8", errors="replace")  # an exported metadata file: judged as its text
        data = None
    if item.type is InputType.DOCUMENT and data is not None:
        meta = DocumentMeta(
            filename=filename,
            content_type=documents.sniff(data, filename),
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        stored_url = documents.store(portal.storage_root, ob.key, item.key, submission_id, filename, data)
    elif data is not None:
        meta = DocumentMeta(filename=filename, content_type=documents.sniff(data, filename), size_bytes=len(data))
    submission = Submission(item_key=item.key, value=value if meta is None else None, document=meta)
    summary = {
        "value": value[:200] if isinstance(value, str) and meta is None else None,
        "document": {"filename": filename[:255], "content_type": meta.content_type, "size_bytes": meta.size_bytes}
        if meta
        else None,
    }
    judgement = checklist.judge_submission(
        portal.store, ob, item, submission,
        submission_id=submission_id, submitted_at=now, submitted_by=access.contact_email, summary=summary,
        account=AccountContext(region=ob.region, country=None, company_domain=ob.account_domain), now=now,
    )  # fmt: skip
    if stored_url is not None and meta is not None:
        if judgement.outcome == "verified" and judgement.first:
            _record_document(portal.store, ob, item, submission_id, meta, stored_url, access.contact_email, now)
        else:  # only accepted files are kept
            _discard(stored_url)
    return None


def _discard(url: str) -> None:
    from airflow.sdk import ObjectStoragePath

    try:
        ObjectStoragePath(url).unlink()
    except OSError:
        log.warning("portal: could not remove refused upload %s", url, exc_info=True)


def _record_document(
    store: Store,
    ob: lifecycle.Onboarding,
    item: ChecklistItem,
    submission_id: str,
    meta: DocumentMeta,
    url: str,
    by: str,
    now: datetime,
) -> None:
    with store.transaction() as cur:
        cur.execute(
            f"""INSERT INTO {SCHEMA}.documents (onboarding_id, item_key, submission_id, filename, content_type,
                    size_bytes, sha256, storage_url, uploaded_by, uploaded_at)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (onboarding_id, submission_id) DO NOTHING""",
            (ob.id, item.key, submission_id, meta.filename[:255], meta.content_type, meta.size_bytes, meta.sha256,
             url, by, now),
        )  # fmt: skip
        Store.record_events(
            cur,
            [
                Event(
                    subject=ob.key, onboarding_id=ob.id, event_type=EventType.DOCUMENT_STORED, actor=f"customer:{by}",
                    occurred_at=now, stage=ob.stage.value, stage_owner=ob.stage_owner_email,
                    details={"item": item.key, "submission_id": submission_id, "filename": meta.filename[:255],
                             "content_type": meta.content_type, "size_bytes": meta.size_bytes, "sha256": meta.sha256},
                    dedupe_key=f"document.stored:{ob.key}:{submission_id}",
                )
            ],
        )  # fmt: skip


def _forward(
    portal: Portal, ob: lifecycle.Onboarding, access: links.Access, name: str, email: str, chosen: list[str]
) -> str | None:
    """Forward items to a colleague; a reason for the customer when it cannot be done."""
    if access.items is not None:
        return "Items forwarded to you cannot be forwarded again; ask the person who sent them to you."
    name = " ".join(name.split())[:200]
    if not name:
        return "Please give your colleague's name."
    checked = normalised_address(email.strip())
    if isinstance(checked, BadAddress):
        return f"{email.strip()[:100]!r} is not an email address we can write to: {checked.reason}"
    address = checked.lower()
    views = {i.key: i for i in _items(portal, ob, access)}
    keys = sorted(set(chosen))
    unknown = [k for k in keys if k not in views]
    if not keys or unknown:
        return "Please choose one or more items from your checklist to forward."
    now = portal.now()
    with portal.store.transaction() as cur:
        link = links.issue_link(
            cur, portal.config, portal.secret, onboarding_id=ob.id, onboarding_key=ob.key, region=ob.region,
            contact_email=address, contact_name=name, scope=links.items_scope(keys), purpose="forward",
            issued_by=f"customer:{access.contact_email}", now=now,
        )  # fmt: skip
        cur.execute(
            f"""INSERT INTO {SCHEMA}.portal_forwards (onboarding_id, from_email, to_email, to_name, items, link_id,
                    created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (ob.id, access.contact_email, address, name, keys, link.link_id, now),
        )
        row = cur.fetchone()
        if row is None:
            raise RuntimeError(f"onboarding {ob.key}: the forward to {address} was not recorded")
        forward_id = int(row["id"])
        Store.record_events(
            cur,
            [
                Event(
                    subject=ob.key, onboarding_id=ob.id, event_type=EventType.PORTAL_FORWARDED,
                    actor=f"customer:{access.contact_email}", occurred_at=now, stage=ob.stage.value,
                    stage_owner=ob.stage_owner_email,
                    details={"forward_id": forward_id, "items": keys, "to": address, "to_name": name,
                             "link_id": link.link_id},
                    dedupe_key=f"portal.forwarded:{ob.key}:{forward_id}",
                )
            ],
        )  # fmt: skip
        mail.queue_forward(
            cur, portal.config, ob, forward_id=forward_id, from_email=access.contact_email, to_email=address,
            to_name=name, labels=[views[k].label for k in keys], link_url=link.url, now=now,
        )  # fmt: skip
    return None
