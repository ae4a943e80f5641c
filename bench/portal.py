"""The customer portal under load, against a bare FastAPI route, and a submission waking its sensor.

**Accounts.**  ``BENCH_PORTAL_CUSTOMERS`` (default 50) signed orders go into the
sandbox CRM in four kinds (SMB in EMEA, enterprise in EMEA and in North America,
partner-led in EMEA, in turn), and ``BENCH_PORTAL_TRIGGERS`` (default 20) more
SMB accounts in EMEA.  The real intake picks them up, each account enters
``collect_inputs`` and its checklist is planned (:func:`lifecycle.plan`), and
each primary contact gets a magic link (:func:`links.issue_link`), as the
invitation carries.  Every account has four items a customer types (email
addresses, a domain, a VAT number or EIN, a URL); its documents are left alone.

**The portal** runs as it is deployed: ``python -m include.portal`` in its own
process (uvicorn, access log on), on the scratch database.  **The floor** is a
FastAPI app with one route, ``GET /bare``, returning a small HTML page from a
plain ``def`` (as the portal's pages are: run in the same thread pool), served
by uvicorn in its own process with the same options.

**Load.**  Each simulated customer is a thread with its own keep-alive
connection and cookie, as a browser has.  After one unmeasured page view each
(connections, templates and the database connections of the portal's thread
pool warm up), all start together and each does ``BENCH_PORTAL_ROUNDS``
(default 8) rounds of: view the checklist page, then submit one item through
the page's form (``multipart/form-data`` with the page's CSRF token) and follow
the 303 to the page showing the verdict.  Each item is sent wrong first (a
malformed email, ``GB123`` as a VAT number...) and right in the next round, so
both verdicts are judged and every verdict is read back from the page.  The
floor gets the same concurrency and the same number of requests.  A fixed
number of requests, not a fixed time: nothing is counted past the last one.

Reported per kind of request (page view; submit as a browser sees it, the POST
with its 303 and the page after it; the POST alone; the bare route): count,
errors (a wrong status or verdict, a broken connection), p50, p95 and max in
milliseconds, the rate the whole phase ran at, and the CPU time per request of
the server process, of PostgreSQL and of the load generator (steadier than
latency on a shared machine).  Targets: p95 submit under 150 ms and within 3x
of the bare route's p95, on 2 cores.  The customers never pause between
requests, so this is a saturation test: a request's latency is mostly its wait
behind the others for the CPU.  The same is then measured with ``ALONE``
further customers coming one at a time (and the bare route with one client):
the latency with no queue in front.

**Submission to sensor.**  The trigger accounts have every item but their
billing contact verified.  A separate process runs one
:class:`ChecklistItemTrigger` per account on the billing contact, on one
asyncio loop as the triggerer does, with the slow poll set to an hour: only the
portal's ``NOTIFY`` can wake them.  Once every trigger listens, the last open
item of each account is submitted through the portal, one account at a time,
and the time from sending the POST to the trigger's event (both read from the
system clock) is the figure.  Target: p95 under 2 s.

The load generator runs in this process, the portal and the floor each in their
own: on 2 cores they compete for the CPU with PostgreSQL and with each other,
as they would on a small server; the load average before and after each phase
is recorded with the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import math
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.common import ROOT, fresh_database, measure_child, scratch_server, write_results

SECRET = "bench-portal-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
HOST = "127.0.0.1"
TARGET_SUBMIT_P95_MS = 150.0
TARGET_RATIO_TO_BARE = 3.0
TARGET_SENSOR_P95_SECONDS = 2.0
KINDS = (("smb", "EMEA", "commercial"), ("enterprise", "EMEA", "strategic"), ("enterprise", "NA", "large"),
         ("partner", "EMEA", "channel"))  # fmt: skip
TYPED_ITEMS = ("email", "domain", "url", "vat_id", "tax_id")
"""Item types a customer types into the page (the load leaves documents and SAML metadata alone)."""
ALONE = 5
"""Accounts whose customers come one at a time, after the crowd: the latency with no queue in front."""
LAST_ITEM = "billing_contact_email"
"""The item the sensor accounts leave open until the portal verifies it."""
# From profiling the portal: cProfile on a single-threaded loop, thread CPU timed around the store calls,
# the route functions and the template, and CPU per request per process under load.
WHERE_TIME_GOES = (
    "Per round (page view, POST, page after the 303) the portal runs 14 statements: 2 per page (the link, its "
    "revocation and the account in one query; the checklist with its documents in another), 10 per POST, of "
    "which 8 are the judging every channel shares (checklist.judge_submission: a status look-up, then BEGIN, the "
    "item locked, the submission, the item, the audit event, NOTIFY, COMMIT). Each statement costs the portal "
    "~0.25 ms of CPU in psycopg and PostgreSQL ~0.1-0.2 ms, so the store is about half of a request; rendering "
    "the checklist ~0.2 ms, validating a value ~0.25 ms; uvicorn, routing, form parsing and the hand-off to the "
    "thread pool ~0.5-1 ms on the event loop; in all ~3 ms of portal CPU per request under load. The bare route "
    "costs ~0.5 ms in all. Reading the account and the link apart, the checklist and its documents apart, and "
    "the headers through Starlette's BaseHTTPMiddleware (an extra task per request) cost ~1.5 ms more a request."
)
_CSRF = re.compile(rb'name="csrf_token" value="([0-9a-f]+)"')
BARE_PAGE = "<!doctype html><title>bare</title><p>A small page from a bare FastAPI route.</p>"


# --------------------------------------------------------------------------- accounts


def _deal(n: int, tier: str, region: str, segment: str) -> dict[str, Any]:
    """A signed order in HubSpot's property format."""
    domain = f"portalbench{n}.example"
    return {
        "dealname": f"Portal Bench {n} - Platform", "dealstage": "closedwon", "pipeline": "default",
        "closedate": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"), "amount": "9000.00",
        "deal_currency_code": "USD", "order_number": f"SO-PB-{n:05d}", "onboarding_tier": tier,
        "company_name": f"Portal Bench {n}", "company_domain": domain, "region": region, "segment": segment,
        "primary_contact_name": "Dana Reyes", "primary_contact_email": f"dana.reyes@{domain}",
        "partner_name": "Harbor Channel Partners" if tier == "partner" else None,
    }  # fmt: skip


def prepare(url: str, load_keys: list[str], sensor_keys: list[str], secret: str) -> dict[str, Any]:
    """Pick the orders up with the real intake, plan each checklist and issue each contact's link.

    Runs in a child process whose environment points the ``crm_api`` connection at the sandbox.
    The sensor accounts get every item but :data:`LAST_ITEM` verified through
    :func:`checklist.judge_submission`, the way every channel records a verdict.
    """
    from include.onboarding import intake, lifecycle, runtime, state
    from include.onboarding.clock import SystemClock
    from include.onboarding.config import Stage
    from include.onboarding.store import Store, connect_dsn

    config, clock = runtime.config(), SystemClock()
    store = Store(connect_dsn(url))
    batch = f"bench-portal-{uuid.uuid4().hex[:8]}"
    intake.pull_orders(store, runtime.crm_client(config), config, batch, clock)
    processed = intake.process_batch(store, config, batch, clock)
    intake.commit_batch(store, config, batch, clock)
    missing = sorted(set(load_keys + sensor_keys) - set(processed.created_keys))
    if missing:
        raise RuntimeError(f"the intake did not create onboardings {missing[:5]} ({processed.counts()})")
    accounts = {}
    for key in load_keys + sensor_keys:
        now = clock.now()
        state.advance(store, config, key, Stage.COLLECT_INPUTS, now, "bench", "checklist planned")
        lifecycle.plan(store, config, key, now, "bench")
        accounts[key] = _invite(store, config, key, secret.encode(), now)
    for key in sensor_keys:
        _verify_all_but(store, config, key, LAST_ITEM)
    return {"load": [accounts[k] for k in load_keys], "sensor": [accounts[k] for k in sensor_keys]}


def _invite(store: Any, config: Any, key: str, secret: bytes, now: datetime) -> dict[str, Any]:
    from include.onboarding import lifecycle
    from include.portal import links

    ob = lifecycle.load(store, key)
    with store.transaction() as cur:
        link = links.issue_link(
            cur, config, secret, onboarding_id=ob.id, onboarding_key=key, region=ob.region,
            contact_email=ob.primary_contact_email, contact_name=ob.primary_contact_name, scope=links.CHECKLIST,
            purpose="invitation", issued_by="bench", now=now,
        )  # fmt: skip
    items = store.query(
        "SELECT item_key, item_type FROM onboarding.checklist_items WHERE onboarding_id = %s ORDER BY id", (ob.id,)
    )
    return {
        "key": key, "path": urlsplit(link.url).path, "domain": ob.account_domain, "contact": ob.primary_contact_email,
        "items": [(r["item_key"], r["item_type"]) for r in items if r["item_type"] in TYPED_ITEMS],
    }  # fmt: skip


def _verify_all_but(store: Any, config: Any, key: str, open_item: str) -> None:
    from include.onboarding import checklist, lifecycle
    from include.onboarding.validators import AccountContext, Submission

    ob = lifecycle.load(store, key)
    context = AccountContext(region=ob.region, country=None, company_domain=ob.account_domain)
    planned = {r["item_key"] for r in store.query(
        "SELECT item_key FROM onboarding.checklist_items WHERE onboarding_id = %s", (ob.id,))}  # fmt: skip
    for item in lifecycle.tier_of(config, ob).checklist:
        if item.key == open_item or item.key not in planned:
            continue
        value = _answer(item.key, item.type.value, ob.account_domain, ob.primary_contact_email, True)
        now = datetime.now(timezone.utc)
        checklist.judge_submission(
            store, ob, item, Submission(item_key=item.key, value=value), submission_id=f"bench-{item.key}",
            submitted_at=now, submitted_by=ob.primary_contact_email, summary={"value": value}, account=context,
            now=now,
        )  # fmt: skip
    left = store.query(
        "SELECT item_key FROM onboarding.checklist_items WHERE onboarding_id = %s AND status <> 'verified'", (ob.id,)
    )
    if [r["item_key"] for r in left] != [open_item]:
        raise RuntimeError(f"onboarding {key}: expected only {open_item} open, found {left}")


def _answer(item_key: str, item_type: str, domain: str, contact: str, valid: bool) -> str:
    """What a customer types for the item: the simulated customers' own right and wrong answers."""
    from sandbox.form_values import Account, answer

    account = Account(name=domain.split(".")[0].title(), domain=domain, contact_email=contact)
    return answer({"key": item_key, "type": item_type}, account, valid, f"{contact}:{item_key}:{valid}").value or ""


_PREPARE_CHILD = """
import json, time
from bench.portal import prepare
started = time.perf_counter()
out = prepare({url!r}, {load!r}, {sensor!r}, {secret!r})
out["seconds"] = round(time.perf_counter() - started, 3)
print(json.dumps(out))
"""


def seed(url: str, customers: int, sensors: int, tmp: Path) -> dict[str, Any]:
    """Sign the orders in the sandbox CRM and prepare the accounts in a child process."""
    from localstack.stack import sandbox_connections
    from sandbox.server import SandboxServer
    from sandbox.state import SandboxState

    state = SandboxState()
    state.reset(orders=0)
    kinds = [KINDS[i % len(KINDS)] for i in range(customers)] + [KINDS[0]] * sensors
    deal_ids = [state.upsert_deal(_deal(n + 1, *kind))["id"] for n, kind in enumerate(kinds)]
    keys = [f"hubspot-{d}" for d in deal_ids]
    with SandboxServer(state) as sandbox:
        env = {**sandbox_connections(sandbox.port), **_airflow_env(tmp)}
        code = _PREPARE_CHILD.format(url=url, load=keys[:customers], sensor=keys[customers:], secret=SECRET)
        return measure_child(code, env)


# --------------------------------------------------------------------------- servers


def _airflow_env(tmp: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(tmp / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }


def bare_app() -> Any:
    """The floor: FastAPI with one small page, a plain ``def`` run in the thread pool like the portal's pages."""
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/bare", response_class=HTMLResponse)
    def bare() -> str:
        return BARE_PAGE

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_bare(port: int) -> None:
    """Serve :func:`bare_app` the way ``python -m include.portal`` serves the portal."""
    import uvicorn

    uvicorn.run(bare_app(), host=HOST, port=port, proxy_headers=True, log_level="info")


@contextlib.contextmanager
def served(name: str, command: list[str], env: dict[str, str], log_dir: Path) -> Iterator[tuple[str, int, int]]:
    """Start a server process on a free loopback port, wait for ``/healthz``, stop it (by its pid) afterwards."""
    from localstack.postgres import free_port

    port = free_port()
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [part.replace("{port}", str(port)) for part in command], cwd=ROOT,
            env={**os.environ, **{k: v.replace("{port}", str(port)) for k, v in env.items()}},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_healthy(name, port, process, log_path)
        yield HOST, port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_healthy(name: str, port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not answer /healthz on {HOST}:{port}:\n{log_path.read_text()[-4000:]}")


# --------------------------------------------------------------------------- the load


class RequestFailed(Exception):
    """A request that a customer would call broken: wrong status, no form, wrong verdict, connection lost."""


class Browser:
    """One customer's browser: one keep-alive connection and the portal's cookie."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.cookie: str | None = None
        self.conn = http.client.HTTPConnection(host, port, timeout=60)

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, str | None, bytes]:
        headers = {"User-Agent": "portal-bench", "Accept": "text/html"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if content_type:
            headers["Content-Type"] = content_type
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            raise RequestFailed(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        cookie = response.getheader("set-cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, response.getheader("location"), data

    def close(self) -> None:
        self.conn.close()


def multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    """A form body as a browser sends a ``multipart/form-data`` form."""
    boundary = f"----portalbench{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + f"--{boundary}--\r\n").encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Timings:
    """Milliseconds per kind of request, and what went wrong."""

    ms: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, ms: float) -> None:
        with self.lock:
            self.ms.setdefault(kind, []).append(ms)

    def fail(self, kind: str, why: str) -> None:
        with self.lock:
            self.errors.setdefault(kind, []).append(why)

    def verdict(self, verdict: str) -> None:
        with self.lock:
            self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1


def _timed(
    timings: Timings, kind: str, call: Callable[[], tuple[int, str | None, bytes]]
) -> tuple[int, str | None, bytes]:
    started = time.perf_counter()
    result = call()
    timings.add(kind, (time.perf_counter() - started) * 1000)
    return result


def _page(browser: Browser, path: str, timings: Timings | None, kind: str = "page_view") -> tuple[bytes, bytes]:
    """View the checklist; the page and its CSRF token."""
    status, _, body = (
        _timed(timings, kind, lambda: browser.request("GET", path)) if timings else browser.request("GET", path)
    )
    found = _CSRF.search(body)
    if status != 200 or not found:
        raise RequestFailed(f"GET {path}: {status}, {'a' if found else 'no'} CSRF token")
    return body, found.group(1)


def _submit(browser: Browser, path: str, csrf: bytes, item: str, value: str, timings: Timings) -> str:
    """Post one item as the page's form does and follow the 303; the verdict the page then shows."""
    body, content_type = multipart({"csrf_token": csrf.decode(), "value": value})
    started = time.perf_counter()
    status, location, _ = _timed(
        timings, "submit_post", lambda: browser.request("POST", f"{path}/items/{item}", body, content_type)
    )
    if status != 303 or not location:
        raise RequestFailed(f"POST {path}/items/{item}: {status}, expected 303")
    page, _ = _page(browser, location.split("#", 1)[0], timings, "submit_redirected_page")
    timings.add("submit", (time.perf_counter() - started) * 1000)
    shown = re.search(rf'data-key="{re.escape(item)}"[^>]*data-status="(\w+)"'.encode(), page)
    return shown.group(1).decode() if shown else "missing"


def _customer(account: dict[str, Any], host: str, port: int, rounds: int, start: threading.Barrier | None,
              timings: Timings) -> None:  # fmt: skip
    """One customer: a first look, then ``rounds`` of view the page, send an item (wrong, then right).

    With ``start``, the first look comes before everyone starts together; without, just before the rounds.
    """
    browser = Browser(host, port)
    path = account["path"]
    plan = []
    for n in range(rounds):
        key, kind = account["items"][(n // 2) % len(account["items"])]
        valid = n % 2 == 1
        plan.append((key, valid, _answer(key, kind, account["domain"], account["contact"], valid)))
    try:
        _page(browser, path, None)  # warm-up, not measured
    except RequestFailed as exc:
        timings.fail("warm_up", str(exc))
    if start is not None:
        start.wait()
    for key, valid, value in plan:
        try:
            _, csrf = _page(browser, path, timings)
            verdict = _submit(browser, path, csrf, key, value, timings)
        except RequestFailed as exc:
            timings.fail("round", str(exc))
            continue
        timings.verdict(verdict)
        if verdict != ("verified" if valid else "rejected"):
            timings.fail("verdict", f"{account['key']}/{key}: sent {'right' if valid else 'wrong'}, shown {verdict}")
    browser.close()


def _customers_in_turn(accounts: list[dict[str, Any]], host: str, port: int, rounds: int,
                       start: threading.Barrier, timings: Timings) -> None:  # fmt: skip
    """Customers one after another, never two at once: the portal's latency without a queue."""
    start.wait()
    for account in accounts:
        _customer(account, host, port, rounds, None, timings)


def _bare_client(host: str, port: int, requests: int, start: threading.Barrier, timings: Timings) -> None:
    browser = Browser(host, port)
    try:
        browser.request("GET", "/bare")  # warm-up, not measured
    except RequestFailed as exc:
        timings.fail("warm_up", str(exc))
    start.wait()
    for _ in range(requests):
        try:
            status, _, body = _timed(timings, "bare", lambda: browser.request("GET", "/bare"))
        except RequestFailed as exc:
            timings.fail("bare", str(exc))
            continue
        if status != 200 or body.decode() != BARE_PAGE:
            timings.fail("bare", f"GET /bare: {status}")
    browser.close()


class CpuMeter:
    """CPU seconds spent by the server process, the database server and this process (the load generator).

    CPU time per request is steadier than latency on a shared machine, and tells where the time goes.
    The database server is measured only when it runs on this machine (the embedded one does).
    """

    def __init__(self, server_pid: int, database_url: str) -> None:
        import psutil
        import psycopg

        self.server = psutil.Process(server_pid)
        self.postmaster: Any = None
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            try:
                self.postmaster = psutil.Process(row[0]).parent() if row else None
            except psutil.Error:
                self.postmaster = None  # a server elsewhere

    def read(self) -> dict[str, float | None]:
        import psutil

        mine = os.times()
        server = self.server.cpu_times()
        database = None
        if self.postmaster is not None:
            try:
                own = self.postmaster.cpu_times()  # children_*: backends that ended
                database = own.user + own.system + own.children_user + own.children_system
                for child in self.postmaster.children():
                    with contextlib.suppress(psutil.Error):
                        times = child.cpu_times()
                        database += times.user + times.system
            except psutil.Error:
                database = None
        return {"server": server.user + server.system, "database": database, "load_generator": mine.user + mine.system}

    @staticmethod
    def per_request(
        before: dict[str, float | None], after: dict[str, float | None], requests: int
    ) -> dict[str, float | None]:
        """Milliseconds of CPU per request, per process."""
        out: dict[str, float | None] = {}
        for name, start in before.items():
            end = after[name]
            spent = end - start if end is not None and start is not None else None
            out[f"{name}_cpu_ms"] = round(spent * 1000 / max(requests, 1), 3) if spent is not None else None
        return out


def _phase(workers: list[Callable[[threading.Barrier], None]], meter: CpuMeter) -> dict[str, Any]:
    """Run the workers together from one barrier; the wall time from the barrier to the last one done."""
    start = threading.Barrier(len(workers) + 1)
    threads = [threading.Thread(target=w, args=(start,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    load_before = os.getloadavg()[0]
    start.wait()
    cpu_before = meter.read()
    began = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - began
    return {"seconds": round(seconds, 3), "load_average_1m_before": load_before,
            "load_average_1m_after": os.getloadavg()[0], "cpu": (cpu_before, meter.read())}  # fmt: skip


def summarise(ms: list[float], errors: int = 0) -> dict[str, Any]:
    """count, errors, p50, p95 and max (nearest rank), in milliseconds."""
    ordered = sorted(ms)

    def rank(p: float) -> float:
        return round(ordered[max(math.ceil(p * len(ordered)) - 1, 0)], 2) if ordered else float("nan")

    return {"count": len(ordered), "errors": errors, "p50_ms": rank(0.50), "p95_ms": rank(0.95),
            "max_ms": round(ordered[-1], 2) if ordered else float("nan")}  # fmt: skip


def load_portal(
    host: str, port: int, accounts: list[dict[str, Any]], rounds: int, meter: CpuMeter, in_turn: bool = False
) -> dict[str, Any]:
    timings = Timings()
    if in_turn:
        workers = [partial(_customers_in_turn, accounts, host, port, rounds, timings=timings)]
    else:
        workers = [partial(_customer, a, host, port, rounds, timings=timings) for a in accounts]
    phase = _phase(workers, meter)
    round_errors = len(timings.errors.get("round", [])) + len(timings.errors.get("verdict", []))
    requests = sum(len(timings.ms.get(k, [])) for k in ("page_view", "submit_post", "submit_redirected_page"))
    return {
        **phase,
        "cpu": CpuMeter.per_request(*phase["cpu"], requests),
        "customers": len(accounts),
        "concurrent_customers": 1 if in_turn else len(accounts),
        "rounds_each": rounds,
        "requests": requests,
        "requests_per_second": round(requests / phase["seconds"], 1),
        "page_view": summarise(timings.ms.get("page_view", []), round_errors),
        "submit": summarise(timings.ms.get("submit", []), round_errors),
        "submit_post": summarise(timings.ms.get("submit_post", [])),
        "submit_redirected_page": summarise(timings.ms.get("submit_redirected_page", [])),
        "verdicts": timings.verdicts,
        "errors": {k: v[:5] for k, v in timings.errors.items()},
        "error_count": sum(len(v) for v in timings.errors.values()),
    }


def load_bare(host: str, port: int, clients: int, requests: int, meter: CpuMeter) -> dict[str, Any]:
    timings = Timings()
    each, extra = divmod(requests, clients)
    workers = [partial(_bare_client, host, port, each + (i < extra), timings=timings) for i in range(clients)]
    phase = _phase(workers, meter)
    errors = len(timings.errors.get("bare", []))
    count = len(timings.ms.get("bare", []))
    return {**phase, "cpu": CpuMeter.per_request(*phase["cpu"], count), "clients": clients, "requests": count,
            "requests_per_second": round(count / phase["seconds"], 1),
            "bare": summarise(timings.ms.get("bare", []), errors),
            "errors": {k: v[:5] for k, v in timings.errors.items()}}  # fmt: skip


# --------------------------------------------------------------------------- submission to sensor


async def _watch(pairs: list[tuple[str, str]]) -> None:
    """The triggers of ``pairs`` on one loop; a JSON line when all listen and one per event (system clock)."""
    from include.onboarding.triggers import ChecklistItemTrigger

    async def one(trigger: ChecklistItemTrigger) -> None:
        async for event in trigger.run():
            fired_at = time.time()
            print(json.dumps({"key": trigger.onboarding_key, "fired_at": fired_at, "payload": event.payload}),
                  flush=True)  # fmt: skip
            return

    triggers = [ChecklistItemTrigger(onboarding_key=k, item_key=i, poll_seconds=3600.0) for k, i in pairs]
    tasks = [asyncio.create_task(one(t)) for t in triggers]
    keys = {k for k, _ in pairs}
    listening: set[str] = set()
    while not keys <= listening:
        if any(t.done() for t in tasks):
            break  # fired before anything was sent: the line it printed says why
        await asyncio.sleep(0.1)
        # Triggers that start together may each open a listener; every one of them dispatches.
        listening = {k for listener in _listeners() for k in listener.waiters}
    await asyncio.sleep(0.5)  # every trigger has done its first look and waits
    print(json.dumps({"ready": len(triggers), "listen_connections": len(_listeners())}), flush=True)
    await asyncio.gather(*tasks)


def _listeners() -> list[Any]:
    """The live listeners of this loop: the registered one and any a concurrent start opened besides."""
    import gc

    from include.onboarding.triggers import _Listener

    return [o for o in gc.get_objects() if isinstance(o, _Listener) and o.task is not None and not o.task.done()]


def watch(pairs_json: str) -> None:
    """Entry point of the trigger process: ``python -c "from bench.portal import watch; watch(...)"``."""
    asyncio.run(_watch([tuple(p) for p in json.loads(pairs_json)]))  # type: ignore[misc]


def _lines(stream: Any, out: queue.Queue[dict[str, Any]]) -> None:
    for line in stream:
        if line.startswith("{"):
            out.put(json.loads(line))


def sensor_latency(host: str, port: int, url: str, accounts: list[dict[str, Any]], tmp: Path) -> dict[str, Any]:
    """From sending the POST that verifies an account's last open item to its trigger's event."""
    from localstack.stack import postgres_connection_json

    pairs = json.dumps([(a["key"], LAST_ITEM) for a in accounts])
    env = {**os.environ, **_airflow_env(tmp), "AIRFLOW_CONN_ONBOARDING_DB": postgres_connection_json(url)}
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    with (tmp / "triggers.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", f"from bench.portal import watch; watch({pairs!r})"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
        )  # fmt: skip
    threading.Thread(target=_lines, args=(process.stdout, events), daemon=True).start()
    try:
        ready = events.get(timeout=90)
        if "ready" not in ready:
            raise RuntimeError(f"a trigger fired before anything was submitted: {ready}")
        samples, post_ms = [], []
        for account in accounts:
            browser = Browser(host, port)
            _, csrf = _page(browser, account["path"], None)
            body, content_type = multipart({"csrf_token": csrf.decode(), "value": _last_value(account)})
            sent_at = time.time()
            status, _, _ = browser.request("POST", f"{account['path']}/items/{LAST_ITEM}", body, content_type)
            post_ms.append((time.time() - sent_at) * 1000)
            browser.close()
            if status != 303:
                raise RuntimeError(f"{account['key']}: the portal answered {status} to the last item")
            event = events.get(timeout=30)
            if event.get("key") != account["key"] or event["payload"].get("why") != "the item is verified":
                raise RuntimeError(f"{account['key']}: unexpected trigger event {event}")
            samples.append(event["fired_at"] - sent_at)
    except queue.Empty:
        raise RuntimeError(f"no trigger event in time:\n{(tmp / 'triggers.log').read_text()[-4000:]}") from None
    finally:
        process.terminate()
        process.wait(timeout=15)
    return {"accounts": len(accounts), "poll_seconds": 3600.0, "listen_connections": ready["listen_connections"],
            "submit_to_trigger": summarise([s * 1000 for s in samples]),
            "post": summarise(post_ms)}  # fmt: skip


def _last_value(account: dict[str, Any]) -> str:
    return _answer(LAST_ITEM, "email", account["domain"], account["contact"], True)


# --------------------------------------------------------------------------- the run


def run() -> dict[str, Any]:
    customers = int(os.environ.get("BENCH_PORTAL_CUSTOMERS", "50"))
    rounds = int(os.environ.get("BENCH_PORTAL_ROUNDS", "8"))
    sensors = int(os.environ.get("BENCH_PORTAL_TRIGGERS", "20"))
    load_at_start = os.getloadavg()
    with scratch_server() as server, tempfile.TemporaryDirectory(prefix="onboarding-portal-bench-") as tmp_name:
        tmp = Path(tmp_name)
        url = fresh_database(server, "bench_portal")
        seeded = seed(url, customers + ALONE, sensors, tmp)
        alone, crowd = seeded["load"][:ALONE], seeded["load"][ALONE:]
        portal_env = {
            **_airflow_env(tmp), "ONBOARDING_DATABASE_URL": url, "ONBOARDING_PORTAL_SECRET": SECRET,
            "ONBOARDING_PORTAL_STORAGE": (tmp / "documents").as_uri(), "ONBOARDING_PORTAL_URL": f"http://{HOST}:{{port}}",
        }  # fmt: skip
        portal_cmd = [sys.executable, "-m", "include.portal", "--host", HOST, "--port", "{port}"]
        bare_cmd = [sys.executable, "-c", "from bench.portal import serve_bare; serve_bare({port})"]
        with (
            served("portal", portal_cmd, portal_env, tmp) as (host, port, portal_pid),
            served("bare", bare_cmd, _airflow_env(tmp), tmp) as (bare_host, bare_port, bare_pid),
        ):
            portal_meter, bare_meter = CpuMeter(portal_pid, url), CpuMeter(bare_pid, url)
            portal = load_portal(host, port, crowd, rounds, portal_meter)
            bare = load_bare(bare_host, bare_port, len(crowd), portal["requests"], bare_meter)
            solo = load_portal(host, port, alone, rounds, portal_meter, in_turn=True)
            solo_bare = load_bare(bare_host, bare_port, 1, solo["requests"], bare_meter)
            sensor = sensor_latency(host, port, url, seeded["sensor"], tmp)
    result = _result(seeded, portal, bare, sensor)
    result["alone"] = {"portal": solo, "bare_route": solo_bare}
    result["load_average_at_start"] = load_at_start
    write_results("portal", result)
    return result


def _result(
    seeded: dict[str, Any], portal: dict[str, Any], bare: dict[str, Any], sensor: dict[str, Any]
) -> dict[str, Any]:
    bare_p95 = bare["bare"]["p95_ms"]
    return {
        "seeded": {"load_accounts": len(seeded["load"]), "sensor_accounts": len(seeded["sensor"]),
                   "prepare_seconds": seeded["seconds"], "cores": os.cpu_count()},
        "portal": portal,
        "bare_route": bare,
        "ratio_submit_p95_to_bare_p95": round(portal["submit"]["p95_ms"] / bare_p95, 1),
        "ratio_submit_post_p95_to_bare_p95": round(portal["submit_post"]["p95_ms"] / bare_p95, 1),
        "ratio_page_view_p95_to_bare_p95": round(portal["page_view"]["p95_ms"] / bare_p95, 1),
        "sensor": sensor,
        "where_time_goes": WHERE_TIME_GOES,
        "targets": {
            "submit_p95_ms": TARGET_SUBMIT_P95_MS,
            "submit_p95_to_bare_p95": TARGET_RATIO_TO_BARE,
            "submit_to_trigger_p95_seconds": TARGET_SENSOR_P95_SECONDS,
        },
    }  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
