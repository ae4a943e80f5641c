"""The local stack: the embedded PostgreSQL survives a second start untouched,
and stopping leaves no process behind."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from localstack import stack
from localstack.postgres import EmbeddedPostgres


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE  # an unreaped exit is not alive
    except psutil.NoSuchProcess:
        return False


def _postmaster_pid(pg: EmbeddedPostgres) -> int:
    return int((pg.data / "postmaster.pid").read_text().split()[0])


def test_starting_twice_reuses_the_server_and_keeps_data(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")
    try:
        port = pg.start()
        pid = _postmaster_pid(pg)
        pg.ensure_database("onboarding")
        with psycopg.connect(pg.dsn("onboarding"), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
            conn.execute("INSERT INTO kept VALUES (42)")

        assert EmbeddedPostgres(tmp_path / "pg").start() == port  # a second starter finds it running
        assert _postmaster_pid(pg) == pid
        pg.stop()
        assert not _alive(pid)

        pg.start()  # after a stop, the same cluster comes back with its data
        with psycopg.connect(pg.dsn("onboarding")) as conn:
            assert conn.execute("SELECT n FROM kept").fetchone() == (42,)
    finally:
        pg.stop()
    assert not pg.is_running()


def test_stop_ends_the_sandbox_and_postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARDING_LOCAL_DIR", str(tmp_path))
    monkeypatch.delenv("ONBOARDING_DATABASE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_ONBOARDING_DB", raising=False)
    dbs = stack.ensure_databases()
    pg = EmbeddedPostgres(tmp_path / "postgres")
    pg_pid = _postmaster_pid(pg)
    port, proc = stack.start_sandbox(orders=5, seed=1, bad_ratio=0.0)
    assert stack.sandbox_call(port, "GET", "/_sandbox/health") == {"ok": True}
    assert dbs.embedded and dbs.onboarding_url.endswith("/onboarding")

    assert sorted(stack.stop()) == ["postgres", "sandbox"]

    assert proc.wait(timeout=10) is not None
    assert not _alive(pg_pid)
    assert stack.stop() == []  # stopping again is harmless


@pytest.mark.unit
def test_ui_mode_holds_the_approvals_of_the_last_two_prompt_customers_for_a_person() -> None:
    from datetime import datetime, timezone

    from localstack.month_demo import BEHAVIOURS, contacts_to_hold

    at = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)
    deals = [(at, {"dealstage": "closedwon", "primary_contact_email": f"C{i}@example.com"}) for i in range(25)]
    deals.insert(3, (at, {"dealstage": "negotiation", "primary_contact_email": "talking@example.com"}))
    prompt = [i for i in range(25) if BEHAVIOURS[i % len(BEHAVIOURS)] == "prompt"]
    # Signed orders are dealt behaviours in order; a deal still in negotiation is not one of them.
    assert contacts_to_hold(deals) == {f"c{prompt[-1]}@example.com", f"c{prompt[-2]}@example.com"}
    assert contacts_to_hold(deals, count=0) == set()
