"""Shared plumbing for the benchmarks: a scratch database, timing, and the results file."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"


@contextmanager
def scratch_server() -> Iterator[str]:
    """A PostgreSQL server URL (``BENCH_DATABASE_URL`` or a temporary embedded one)."""
    external = os.environ.get("BENCH_DATABASE_URL")
    if external:
        yield external
        return
    from localstack.postgres import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="onboarding-bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        pg.start()
        try:
            yield pg.dsn("postgres")
        finally:
            pg.stop()


def fresh_database(server_url: str, name: str) -> str:
    """Drop and create database ``name`` on the server, migrate it, and return its URL."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    from include.onboarding.store import connect_dsn, migrate

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    parts = urlsplit(server_url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    with connect_dsn(url) as conn:
        migrate(conn)
    return url


def measure_child(code: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; its last stdout line is JSON.  Adds its peak RSS."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{result.stderr[-4000:]}")
    out = json.loads(result.stdout.strip().splitlines()[-1])
    out["process_wall_seconds"] = round(wall, 3)
    return out


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_results(section: str, data: dict[str, Any]) -> None:
    """Merge one benchmark's figures into ``bench/results.json``."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[section] = data
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
