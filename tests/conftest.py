"""Shared test fixtures: a real PostgreSQL, a real Airflow metadata database and
the sandbox served over real HTTP on loopback.

PostgreSQL is started from the pip wheel once per session, unless
``TEST_DATABASE_URL`` points at a server (a role allowed to create databases),
and only when a test that is not marked ``unit`` runs: ``pytest -m unit``
never starts it.  Each test gets its own freshly migrated onboarding database,
cloned from a template, so tests never see each other's rows.

Airflow reads its configuration when first imported, so the environment is set
in ``pytest_configure``, before any test module imports Airflow: the embedded
server's port is chosen there, before the server is started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DB = "onboarding_test_template"
AIRFLOW_DB = "airflow_test"

_state: dict[str, Any] = {}


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _admin_url() -> str:
    return _with_database(_state["server_url"], "postgres")


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        raise pytest.UsageError("the suite shares one database server per session; run without xdist")
    tmp = Path(tempfile.mkdtemp(prefix="onboarding-tests-"))
    _state["tmp"] = tmp
    server_url = os.environ.get("TEST_DATABASE_URL")
    if server_url is None:
        from localstack.postgres import EmbeddedPostgres, free_port

        pg = EmbeddedPostgres(tmp / "pg")
        pg.root.mkdir(parents=True)
        pg.port_file.write_text(str(free_port()))  # the port the server will take when a test needs it
        _state["pg"] = pg
        server_url = pg.dsn("postgres")
    _state["server_url"] = server_url
    os.environ.update(_airflow_environment(tmp, server_url))


def _airflow_environment(tmp: Path, server_url: str) -> dict[str, str]:
    airflow_home = tmp / "airflow"
    airflow_home.mkdir(exist_ok=True)
    parts = urlsplit(_with_database(server_url, AIRFLOW_DB))
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": urlunsplit(("postgresql+psycopg",) + tuple(parts)[1:]),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        # Sensors look again every second, so a run's waits take seconds, not hours.
        "ONBOARDING_POKE_SECONDS": "1",
        "ONBOARDING_RETRY_DELAY_SECONDS": "1",
        "ONBOARDING_CACHE_DIR": str(tmp / "cache"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


LEFT_OUT_UNLESS_NAMED = ("stack", "distributed")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests marked ``stack`` or ``distributed`` unless the ``-m`` expression names them.

    They take minutes on two cores; ``make test-stack`` runs them after ``make test``.
    """
    named = config.getoption("markexpr") or ""
    markers = [m for m in LEFT_OUT_UNLESS_NAMED if m not in named]
    left_out = [item for item in items if any(item.get_closest_marker(m) for m in markers)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


def pytest_unconfigure(config: pytest.Config) -> None:
    airflow_settings = sys.modules.get("airflow.settings")
    if airflow_settings is not None:  # close Airflow's pool before its server goes away
        airflow_settings.dispose_orm()
    pg = _state.get("pg")
    if pg is not None:
        pg.stop()
    tmp = _state.get("tmp")
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- database


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The database server, started (embedded) and given the template and Airflow databases on first use."""
    pg = _state.get("pg")
    if pg is not None:
        chosen = _state["server_url"]
        pg.start()
        if pg.dsn("postgres") != chosen:  # the chosen port was taken meanwhile: the server took another
            if "airflow.settings" in sys.modules:
                raise RuntimeError(f"PostgreSQL could not take the port Airflow was configured with ({chosen})")
            _state["server_url"] = pg.dsn("postgres")
            os.environ.update(_airflow_environment(_state["tmp"], _state["server_url"]))

    import psycopg

    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        for name in (TEMPLATE_DB, AIRFLOW_DB):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
            conn.execute(f'CREATE DATABASE "{name}"'.encode())

    from include.onboarding.store import connect_dsn, migrate

    with connect_dsn(_with_database(_state["server_url"], TEMPLATE_DB)) as conn:
        migrate(conn)
    return str(_state["server_url"])


@pytest.fixture(autouse=True)
def _server_unless_unit(request: pytest.FixtureRequest) -> None:
    """Every test not marked ``unit`` may use the database server, so it is up before such a test starts."""
    if request.node.get_closest_marker("unit") is None:
        request.getfixturevalue("postgres_server")


@pytest.fixture
def database_url(postgres_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, migrated onboarding database, also exposed as connection ``onboarding_db``."""
    import psycopg

    name = f"onboarding_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"'.encode())
    url = _with_database(_state["server_url"], name)
    from localstack.stack import postgres_connection_json

    monkeypatch.setenv("AIRFLOW_CONN_ONBOARDING_DB", postgres_connection_json(url))
    yield url
    with psycopg.connect(_admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


@pytest.fixture
def store(database_url: str) -> Iterator[Any]:
    from include.onboarding.store import Store, connect_dsn

    conn = connect_dsn(database_url)
    yield Store(conn)
    conn.close()


# --------------------------------------------------------------------------- sandbox


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Any]:
    from sandbox.server import SandboxServer

    server = SandboxServer(mail=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The sandbox, emptied, with every external connection (the SMTP server too) pointing at it.

    Its simulated customers stay silent unless a test gives them a behaviour.
    """
    from localstack.stack import sandbox_connections

    sandbox_server.state.reset(orders=0)
    sandbox_server.state.customers.set_behaviour("silent")
    for name, value in sandbox_connections(sandbox_server.port).items():
        monkeypatch.setenv(name, value)
    return sandbox_server


def serve_portal(app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Serve a portal app under uvicorn on a free loopback port until the generator is closed.

    Yields its address, which is also ``ONBOARDING_PORTAL_URL`` meanwhile, so emailed links point at it.
    """
    import threading
    import time

    import uvicorn

    from localstack.postgres import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="portal", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the portal did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("ONBOARDING_PORTAL_URL", url)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


PORTAL_SECRET = "test-portal-secret-0123456789-abcdefghijklmnop"


@pytest.fixture
def portal(database_url: str, sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The customer portal under uvicorn on a free loopback port, on the test's database.

    The engine signs links with the same secret and points them at this address, so a
    simulated customer who reads the invitation lands here.
    """
    from include.portal.app import create_app

    monkeypatch.setenv("ONBOARDING_PORTAL_SECRET", PORTAL_SECRET)
    app = create_app(
        database_url=database_url, secret=PORTAL_SECRET.encode(), storage_root=(tmp_path / "docs").as_uri()
    )
    yield from serve_portal(app, monkeypatch)


# --------------------------------------------------------------------------- airflow


@pytest.fixture(scope="session")
def airflow_db(postgres_server: str) -> None:
    """Airflow's metadata database, migrated once per session (for ``dag.test()``)."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
