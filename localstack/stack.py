"""The local stack: embedded PostgreSQL, the sandbox, and Airflow pointed at both.

State lives in ``.local/`` (``ONBOARDING_LOCAL_DIR`` to move it): the database
cluster, Airflow's home and the sandbox's pid file.  Starting twice reuses what
is running; :func:`stop` stops every process the stack started, by process
group, so nothing is left behind.

On the CeleryExecutor (``make demo CELERY=1``, :func:`use_celery`) the stack also
starts the embedded broker (:mod:`localstack.broker`) and Celery workers, each
in its own process group under its own Celery hostname; :func:`stop` stops them
and the broker too.  ``ONBOARDING_BROKER_URL`` points at a broker of your own
instead (then none is started).

External PostgreSQL: set ``ONBOARDING_DATABASE_URL`` (a libpq URL of the
onboarding database) or ``AIRFLOW_CONN_ONBOARDING_DB`` (an Airflow connection,
URI or JSON) and no embedded server is started.  Airflow's own metadata then
goes to ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` if set, otherwise to a database
called ``airflow`` on the same server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psutil

from localstack import interrupts, processes
from localstack.broker import EmbeddedBroker
from localstack.postgres import EmbeddedPostgres, free_port

if TYPE_CHECKING:
    from localstack.airflow_api import AirflowApi

ROOT = Path(__file__).resolve().parents[1]
SANDBOX_TOKEN = "sandbox-token"
STACK_ENV = "ONBOARDING_STACK_DIR"
"""Set, to the local directory, in the environment of every process the stack starts.

Whatever such a process spawns inherits it, so :func:`stop` finds and stops what a pid
file does not lead to: a process that left its parent's session and lost its parent,
or one started just as the starter was killed.  A process that retitles itself (the
api-server, the LocalExecutor's workers) overwrites what the system shows of its
environment; those are found through their parents, sessions and process groups."""


def local_dir() -> Path:
    return Path(os.environ.get("ONBOARDING_LOCAL_DIR") or ROOT / ".local").resolve()


@dataclass(frozen=True)
class Databases:
    onboarding_url: str
    airflow_sqlalchemy_url: str
    embedded: bool


def _url_from_airflow_conn(value: str) -> str:
    """Turn an ``AIRFLOW_CONN_*`` value (URI or JSON) into a libpq URL."""
    if value.lstrip().startswith("{"):
        data = json.loads(value)
        login = quote(data.get("login") or "", safe="")
        password = quote(data.get("password") or "", safe="")
        auth = f"{login}:{password}@" if password else (f"{login}@" if login else "")
        port = f":{data['port']}" if data.get("port") else ""
        return f"postgresql://{auth}{data.get('host') or 'localhost'}{port}/{data.get('schema') or 'postgres'}"
    parts = urlsplit(value)
    return urlunsplit(("postgresql",) + tuple(parts)[1:])


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def _sqlalchemy(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql+psycopg",) + tuple(parts)[1:])


def postgres_connection_json(url: str) -> str:
    """An ``AIRFLOW_CONN_*`` value (JSON) for the PostgreSQL database at a libpq URL."""
    parts = urlsplit(url)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": parts.hostname,
            "port": parts.port or 5432,
            "login": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "schema": parts.path.lstrip("/"),
        }
    )


def ensure_databases(fresh: bool = False) -> Databases:
    """Start the embedded server unless an external one is configured; create the databases.

    ``fresh`` first stops the sandbox and Airflow a previous run left running (a demo
    killed outright leaves them up, still connected) and empties the embedded server's
    databases, so a demo starts from the same state as its freshly started sandbox.
    An external server is never emptied.
    """
    import psycopg

    if fresh:
        stop(keep_database=True)

    external = os.environ.get("ONBOARDING_DATABASE_URL")
    if not external and os.environ.get("AIRFLOW_CONN_ONBOARDING_DB"):
        external = _url_from_airflow_conn(os.environ["AIRFLOW_CONN_ONBOARDING_DB"])
    if external:
        airflow_url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
        if not airflow_url:
            airflow_db = _with_database(external, "airflow")
            _create_database(_with_database(external, "postgres"), "airflow")
            airflow_url = _sqlalchemy(airflow_db)
        with psycopg.connect(external, connect_timeout=10):
            pass
        return Databases(external, airflow_url, embedded=False)
    pg = EmbeddedPostgres(local_dir() / "postgres")
    pg.start()
    for name in ("onboarding", "airflow"):
        if fresh:
            pg.drop_database(name)
        pg.ensure_database(name)
    return Databases(pg.dsn("onboarding"), _sqlalchemy(pg.dsn("airflow")), embedded=True)


def _create_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"'.encode())


def airflow_env(dbs: Databases, sandbox_port: int | None) -> dict[str, str]:
    """Environment for Airflow processes of the local stack."""
    home = local_dir() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = child_env()
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": dbs.airflow_sqlalchemy_url,
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_ONBOARDING_DB": postgres_connection_json(dbs.onboarding_url),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
    )
    env.setdefault("ONBOARDING_PORTAL_SECRET", _portal_secret())
    env.setdefault("ONBOARDING_PORTAL_STORAGE", str(local_dir() / "documents"))
    if sandbox_port is not None:
        for name, value in sandbox_connections(sandbox_port).items():
            env.setdefault(name, value)  # a connection set by the user wins over the sandbox
    return env


def _portal_secret() -> str:
    """The key magic links are signed with: made once per local stack, kept between runs."""
    import secrets

    path = local_dir() / "portal_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def sandbox_connections(port: int) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` values pointing every external system at the sandbox on ``port``."""
    from include.onboarding.config import load_config
    from include.onboarding.connections import REQUIRED_CONNECTIONS

    http = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http"}
    conns = {
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps({**http, "password": SANDBOX_TOKEN})
        for conn_id, conn_type in REQUIRED_CONNECTIONS.items()
        if conn_type == "http"
    }
    # Jira Cloud authenticates with an account email and an API token (basic auth).
    conns["AIRFLOW_CONN_TICKETING_API"] = json.dumps(
        {**http, "login": "onboarding-bot@example.com", "password": SANDBOX_TOKEN}
    )
    # Stripe secret keys look like sk_test_...; the sandbox checks the shape, as Stripe does.
    conns["AIRFLOW_CONN_BILLING_API"] = json.dumps({**http, "password": f"sk_test_{SANDBOX_TOKEN}"})
    smtp: Any = sandbox_call(port, "GET", "/_sandbox/mail")
    if smtp.get("smtp_port"):
        conns["AIRFLOW_CONN_CUSTOMER_MAIL"] = json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp["smtp_port"],
                "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0, "timeout": 5},
            }
        )
    slack_ids = {p.slack_connection for p in load_config().settings.people if p.slack_connection}
    for conn_id in sorted(slack_ids):
        conns[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
            {
                "conn_type": "slackwebhook",
                "host": f"http://127.0.0.1:{port}/services",
                "password": f"T0SANDBOX/B0SANDBOX/{conn_id}",
            }
        )
    return conns


# --------------------------------------------------------------------------- processes


def _pid_file(name: str) -> Path:
    return local_dir() / f"{name}.pid"


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (or this process's environment) marked as the stack's: see :data:`STACK_ENV`.

    Bytecode is kept, under the local directory rather than in the checkout, even where the
    shell says not to write it (``PYTHONDONTWRITEBYTECODE``): every task process imports the
    package, and a deployed worker compiles it once, not once per task."""
    base = {**(os.environ if env is None else env)}
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    base.setdefault("PYTHONPYCACHEPREFIX", str(local_dir() / "pycache"))
    return {**base, STACK_ENV: str(local_dir())}


def _alive(pid: int) -> bool:
    try:
        # A process that exited but was not reaped (a zombie) is not running.
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _leader(name: str) -> psutil.Process | None:
    """The process in ``name``'s pid file if it is still the one the stack started."""
    path = _pid_file(name)
    try:
        text, written = path.read_text().strip(), path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        proc = psutil.Process(int(text))
        # A process that started after the pid file was written took over a pid left by an
        # earlier run (a demo killed with SIGKILL, a reboot): not ours.  The slack covers the
        # clocks' granularity.
        return proc if proc.create_time() <= written + 2 else None
    except (ValueError, psutil.Error):
        return None


def _families(leaders: dict[str, psutil.Process]) -> list[psutil.Process]:
    """The leaders still running, their descendants, and whatever is in their process groups or sessions.

    Each leader started its own session, so a process it spawned stays in that session
    (and is found) even after its parent has exited and it was handed to init.
    """
    ids = {proc.pid for proc in leaders.values()}
    found: dict[int, psutil.Process] = {}
    for proc in leaders.values():
        with contextlib.suppress(psutil.Error):
            found.update((c.pid, c) for c in proc.children(recursive=True))  # checks the pid is not reused
            found[proc.pid] = proc
    for pid in psutil.pids() if ids else []:
        if pid in found or pid in ids:  # a leader's pid not found above now belongs to someone else
            continue
        with contextlib.suppress(OSError, psutil.Error):
            if os.getsid(pid) in ids or os.getpgid(pid) in ids:
                found[pid] = psutil.Process(pid)
    return list(found.values())


def stop_process_groups(names: Iterable[str], timeout: float = 8) -> list[str]:
    """Stop processes the stack started, each with everything it spawned; return the names that were running.

    Everything is collected before it is signalled (a process whose parent exits is
    handed to init and is no longer a descendant): SIGTERM to all at once, up to
    ``timeout`` seconds to exit, then SIGKILL to whatever is left, including anything
    spawned meanwhile.  The pid files go last, so that a stop cut short can be repeated.
    """
    names = list(names)
    leaders = {name: proc for name in names if (proc := _leader(name)) is not None}
    running = [name for name, proc in leaders.items() if not processes.gone(proc)]
    family = _families(leaders)
    processes.send(family, signal.SIGTERM)
    left = processes.wait_gone(family, timeout)
    processes.kill({p.pid: p for p in [*left, *_families(leaders)]}.values())
    for name in names:
        _pid_file(name).unlink(missing_ok=True)
    return running


def stop_process_group(name: str, timeout: float = 8) -> bool:
    """Stop a process the stack started, with everything it spawned.  True if one was running."""
    return bool(stop_process_groups([name], timeout))


def stack_processes(also: Iterable[psutil.Process] = ()) -> list[psutil.Process]:
    """Every process still running with this stack's mark in its environment (see :data:`STACK_ENV`)."""
    mine = str(local_dir())
    me = psutil.Process()
    skip = {me.pid, *(p.pid for p in me.parents())}
    found = {p.pid: p for p in also if p.pid not in skip}
    for proc in psutil.process_iter():
        if proc.pid in skip or proc.pid in found:
            continue
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(STACK_ENV) == mine:
                found[proc.pid] = proc
    return list(found.values())


def sweep(own_descendants: bool = False, timeout: float = 3) -> list[psutil.Process]:
    """Stop what the pid files did not lead to: processes marked as the stack's (and, if asked,
    this process's own descendants).  Returns what was found running."""
    also = psutil.Process().children(recursive=True) if own_descendants else []
    found = stack_processes(also)
    processes.terminate(found, timeout)
    return found


def start_sandbox(orders: int, seed: int, bad_ratio: float) -> tuple[int, subprocess.Popen[bytes]]:
    """Start the sandbox in its own process group and wait until it answers."""
    stop_process_group("sandbox")
    port = free_port()
    log = open(local_dir() / "sandbox.log", "ab")  # noqa: SIM115 - handed to the child process
    with interrupts.deferred():  # a signal in between would leave a process no pid file leads to
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port),
                "--seed", str(seed), "--orders", str(orders), "--bad-ratio", str(bad_ratio), "--token", SANDBOX_TOKEN,
                "--smtp-port", "0",
            ],
            cwd=ROOT,
            env=child_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        _pid_file("sandbox").write_text(str(proc.pid))
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/health", timeout=2):
                return port, proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start; see {local_dir() / 'sandbox.log'}") from None
            time.sleep(0.2)


def start_portal(env: dict[str, str]) -> str:
    """Start the customer portal in its own process group on a free port; return its address once it answers.

    ``env`` gains ``ONBOARDING_PORTAL_URL``, so the links the engine mails point at this portal.
    """
    stop_process_group("portal")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env["ONBOARDING_PORTAL_URL"] = url
    log = open(local_dir() / "portal.log", "ab")  # noqa: SIM115 - handed to the child process
    with interrupts.deferred():  # a signal in between would leave a process no pid file leads to
        proc = subprocess.Popen(
            [sys.executable, "-m", "include.portal", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=child_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _pid_file("portal").write_text(str(proc.pid))
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the portal did not start; see {local_dir() / 'portal.log'}") from None
            time.sleep(0.2)


def sandbox_call(port: int, method: str, path: str, body: object | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def stop(keep_database: bool = False, own_descendants: bool = False) -> list[str]:
    """Stop Airflow (its Celery workers too), the portal, the sandbox, the embedded broker and,
    unless asked to keep it, the embedded PostgreSQL.

    Each with everything it spawned, then anything else marked as the stack's
    (:data:`STACK_ENV`); ``own_descendants`` also stops whatever this process itself
    started and is still running.  Returns the names of what was running.
    """
    stopped = stop_process_groups(
        [*worker_names(), *(f"airflow-{c}" for c in reversed(AIRFLOW_COMPONENTS)), "portal", "sandbox"]
    )
    if strays := sweep(own_descendants):
        stopped.append(f"{len(strays)} other process{'es' if len(strays) > 1 else ''}")
    # After Airflow: a scheduler still running would only log that the broker is gone.
    if EmbeddedBroker(local_dir() / "broker").stop():
        stopped.append("broker")
    if not keep_database and EmbeddedPostgres(local_dir() / "postgres").stop():
        stopped.append("postgres")
    return stopped


# --------------------------------------------------------------------------- Airflow services

AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
"""What ``airflow standalone`` starts; each runs in its own process group here."""


def airflow_service_env(env: dict[str, str], api_port: int) -> dict[str, str]:
    """Settings the four components must share: where the API is, the token secret, and the users.

    The users are the admin, one per approver (see :mod:`localstack.approvers`) and the one the runs
    edit their notes as, each with a password written to Airflow's password file beforehand.
    """
    import secrets

    from include.onboarding.config import load_config
    from localstack import approvers

    secret_file = local_dir() / "airflow" / "jwt_secret"
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(secrets.token_urlsafe(32))
        secret_file.chmod(0o600)
    base = f"http://127.0.0.1:{api_port}"
    users = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS") or approvers.users_setting(load_config())
    # Known passwords for the approvers and the runs' user, written before Airflow starts (it keeps them).
    known = approvers.seed_passwords(Path(env["AIRFLOW_HOME"]), [u.split(":")[0] for u in users.split(",")][1:])
    out = {
        **env,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secret_file.read_text().strip(),
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": users,
    }
    if approvers.RUNS_USER in known:  # the tier runs keep their notes current through the REST API
        out.setdefault("AIRFLOW_CONN_AIRFLOW_API", approvers.runs_connection(base, known[approvers.RUNS_USER]))
    return out


def start_airflow(env: dict[str, str], components: tuple[str, ...] = AIRFLOW_COMPONENTS) -> None:
    """Start Airflow's components, each in its own process group with its own log."""
    logs = local_dir() / "airflow" / "services"
    logs.mkdir(parents=True, exist_ok=True)
    stop_process_groups(f"airflow-{component}" for component in components)
    for component in components:
        log = open(logs / f"{component}.log", "ab")  # noqa: SIM115 - handed to the child process
        with interrupts.deferred():  # a signal in between would leave a process no pid file leads to
            proc = subprocess.Popen(
                [sys.executable, "-m", "airflow", component],
                env=child_env(env),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            _pid_file(f"airflow-{component}").write_text(str(proc.pid))


def wait_for_airflow(env: dict[str, str], timeout: float = 180) -> dict[str, Any]:
    """Wait until the API answers and the scheduler, dag-processor and triggerer report healthy."""
    url = f"{env['AIRFLOW__API__BASE_URL']}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        for component in AIRFLOW_COMPONENTS:
            pid_file = _pid_file(f"airflow-{component}")
            if not pid_file.exists() or not _alive(int(pid_file.read_text())):
                log = local_dir() / "airflow" / "services" / f"{component}.log"
                raise RuntimeError(f"airflow {component} exited; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                health = json.loads(response.read())
        except OSError:
            time.sleep(1)
            continue
        parts = ("scheduler", "triggerer", "dag_processor")
        if all((health.get(p) or {}).get("status") == "healthy" for p in parts):
            return health
        time.sleep(1)
    raise RuntimeError(f"Airflow did not become healthy within {timeout:.0f}s: {health}")


def bring_up_airflow(
    env: dict[str, str], dag_ids: set[str], workers: int = 0, worker_concurrency: int = 4
) -> AirflowApi:
    """Migrate Airflow's database, start its components, wait until healthy and ``dag_ids`` are loaded.

    On the CeleryExecutor (see :func:`use_celery`) also starts ``workers`` Celery workers and waits
    until each answers.  Returns a REST client logged in as the simple auth manager's ``admin``.
    """
    from localstack.airflow_api import AirflowApi, admin_password

    airflow_cli(env, "db", "migrate")
    start_airflow(env)
    if workers and env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor":
        hostnames = start_workers(env, workers, worker_concurrency)
        wait_for_workers(env["AIRFLOW__CELERY__BROKER_URL"], hostnames)
    wait_for_airflow(env)
    api = AirflowApi(env["AIRFLOW__API__BASE_URL"], "admin", admin_password(Path(env["AIRFLOW_HOME"])))
    api.wait_for_dags(dag_ids)
    return api


def stop_airflow() -> list[str]:
    return stop_process_groups([*worker_names(), *(f"airflow-{c}" for c in reversed(AIRFLOW_COMPONENTS))])


# --------------------------------------------------------------------------- CeleryExecutor

WORKER_PREFIX = "airflow-worker-"


def ensure_broker() -> str:
    """The Celery broker's URL: ``ONBOARDING_BROKER_URL`` if set, else the embedded one, started if need be."""
    external = os.environ.get("ONBOARDING_BROKER_URL")
    if external:
        return external
    broker = EmbeddedBroker(local_dir() / "broker")
    broker.start(env=child_env())
    return broker.url


def use_celery(env: dict[str, str], dbs: Databases, broker_url: str) -> dict[str, str]:
    """``env`` switched to the CeleryExecutor: the broker, and Celery's results in Airflow's own database.

    Set on every component (the scheduler sends, the workers receive, both read the results).
    """
    parts = urlsplit(dbs.airflow_sqlalchemy_url)
    return {
        **env,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + urlunsplit(("postgresql+psycopg",) + tuple(parts)[1:]),
    }


def worker_names() -> list[str]:
    """The pid-file names of the Celery workers the stack started (``airflow-worker-<n>``)."""
    return sorted(p.stem for p in local_dir().glob(f"{WORKER_PREFIX}*.pid"))


def start_workers(env: dict[str, str], count: int, concurrency: int) -> list[str]:
    """Start ``count`` Celery workers, each in its own process group and log, as ``worker-<n>@<host>``.

    Returns their Celery hostnames.  Several workers on one machine each need a hostname of their
    own, as they would on several machines; they share the log folder, so none serves logs
    (Airflow reads a finished task's log from the file).
    """
    logs = local_dir() / "airflow" / "services"
    logs.mkdir(parents=True, exist_ok=True)
    stop_process_groups(worker_names())
    hostnames = []
    for n in range(1, count + 1):
        hostname = worker_hostname(n)
        log = open(logs / f"worker-{n}.log", "ab")  # noqa: SIM115 - handed to the child process
        with interrupts.deferred():  # a signal in between would leave a process no pid file leads to
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "airflow", "celery", "worker", "--celery-hostname", hostname,
                    "--concurrency", str(concurrency), "--skip-serve-logs",
                ],
                env=child_env(env), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            _pid_file(f"{WORKER_PREFIX}{n}").write_text(str(proc.pid))
        hostnames.append(hostname)
    return hostnames


def worker_hostname(n: int) -> str:
    """The Celery hostname of the stack's ``n``-th worker."""
    import socket

    return f"worker-{n}@{socket.gethostname()}"


def worker_pid(hostname: str) -> int:
    """The pid of the worker the stack started as ``hostname`` (``worker-<n>@...``)."""
    n = hostname.split("@")[0].removeprefix("worker-")
    return int(_pid_file(f"{WORKER_PREFIX}{n}").read_text())


def wait_for_workers(broker_url: str, hostnames: list[str], timeout: float = 120) -> None:
    """Wait until every worker answers a ping through the broker (so it consumes its queue)."""
    from celery import Celery

    app = Celery(broker=broker_url)
    deadline = time.monotonic() + timeout
    answered: set[str] = set()
    try:
        while time.monotonic() < deadline:
            for hostname in hostnames:
                if not _alive(worker_pid(hostname)):
                    n = hostname.split("@")[0]
                    raise RuntimeError(f"celery {n} exited; see {local_dir() / 'airflow' / 'services' / n}.log")
            answered = {name for reply in app.control.ping(timeout=2) for name in reply}
            if answered >= set(hostnames):
                return
            time.sleep(1)
    finally:
        app.close()
    raise RuntimeError(f"Celery workers did not answer within {timeout:.0f}s: {sorted(set(hostnames) - answered)}")


def airflow_cli(env: dict[str, str], *args: str) -> None:
    """Run one ``airflow`` command; its output goes to .local/airflow-cli.log, shown if it fails."""
    log = local_dir() / "airflow-cli.log"
    with open(log, "ab") as out:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=child_env(env), cwd=ROOT, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise SystemExit(f"airflow {' '.join(args)} failed (exit {result.returncode}); log: {log}\n{tail}")
