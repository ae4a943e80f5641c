"""The onboarding board over 50,000 open onboardings: its account list and an account's page, p95
latency side by side with the plain SQL behind each.

Seeds ``BENCH_ONBOARDINGS`` (default 50,000) open onboardings as the escalation-pass benchmark does
(the same spread over tiers, regions and stages, with checklists), and gives them what the board
shows: about 3% blocked at the readiness gate, a billing profile for every account past the gate
(one in twenty failed), an escalation on one in five, a customer email on every other one, a
submission for every checklist item received, and an audit trail of ``EVENTS_PER_ACCOUNT`` (12)
events each (600,000 in all).  Then, in a fresh interpreter:

* the first page view while every board row is still to be measured: what deploying migration 0011,
  or a changed configuration, costs once;
* ``BENCH_BOARD_REQUESTS`` (200) views of the list, cycling through the first pages, deeper pages
  and each filter, through the board's app in process (FastAPI's test client: routing, the store,
  the clock refresh, the measured clocks of the page's accounts, the template), and as many views
  of random accounts' pages;
* the plain SQL behind each, as many times: the list's page and counts queries for the same
  filters; an account page's queries (the onboarding, its audit trail, checklist and submissions,
  approvals, setup steps, escalations and email).

Reported: p50, p95 and the slowest of each, milliseconds.  Airflow's authentication is left out
(the child replaces the app's dependency): it checks a token, the same for every Airflow page.
Target: p95 under 300 ms for both pages.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from typing import Any

from bench.common import fresh_database, measure_child, scratch_server, write_results

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
EVENTS_PER_ACCOUNT = 12
LIST_VIEWS = (
    "/", "/?page=2", "/?blocked=1", "/?at_risk=1", "/?tier=smb&stage=collect_inputs",
    "/?owner=priya.shah@example.com", "/?tier=enterprise&at_risk=1&page=2", "/?page=40",
)  # fmt: skip

_EXTRAS = """
UPDATE onboarding.onboardings SET blocked_reason = 'critical input ''signed_dpa'' (Signed data processing agreement)'
    || ' is missing' WHERE id %% 33 = 0 AND stage IN ('collect_inputs', 'approvals');
INSERT INTO onboarding.setup_steps (onboarding_id, step_key, kind, status, idempotency_key, external_id, attempts,
                                    last_error, started_at, completed_at, updated_at)
SELECT id, 'billing_profile', 'stripe_customer', CASE WHEN id %% 20 = 0 THEN 'failed' ELSE 'done' END,
       onboarding_key || ':billing_profile', CASE WHEN id %% 20 = 0 THEN NULL ELSE 'cus_' || id END, 1,
       CASE WHEN id %% 20 = 0 THEN 'billing_api POST /v1/customers: refused with 400: invalid email' END,
       stage_entered_at, CASE WHEN id %% 20 <> 0 THEN stage_entered_at END, stage_entered_at
FROM onboarding.onboardings WHERE stage IN ('setup', 'provisioning', 'customer_communication', 'handoff');
INSERT INTO onboarding.escalations (onboarding_id, subject, stage, kind, level, notify_email, reason, breach_at,
                                    raised_at, delivery_status, dedupe_key)
SELECT id, onboarding_key, stage, 'sla_breach', 1, stage_owner_email, stage || ' ran past its SLA',
       stage_entered_at, stage_entered_at, 'delivered', 'bench:' || id
FROM onboarding.onboardings WHERE id %% 5 = 0;
INSERT INTO onboarding.outbox (onboarding_id, kind, to_email, subject, body_text, body_html, status, queued_at,
                               sent_at, dedupe_key)
SELECT id, 'invitation', primary_contact_email, 'Your onboarding checklist', 'Please send us ...',
       '<p>Please send us ...</p>', 'sent', signed_at, signed_at, 'bench-mail:' || id
FROM onboarding.onboardings WHERE id %% 2 = 0;
INSERT INTO onboarding.submissions (onboarding_id, item_key, submission_id, submitted_at, value, verdict, recorded_at)
SELECT onboarding_id, item_key, 'bench-' || id, verified_at, '"accepted value"', 'verified', verified_at
FROM onboarding.checklist_items WHERE status = 'verified';
INSERT INTO onboarding.events (occurred_at, onboarding_id, subject, event_type, stage, stage_owner, actor, details)
SELECT o.signed_at + g * interval '3 hours', o.id, o.onboarding_key,
       (ARRAY['onboarding.created', 'stage.entered', 'checklist.planned', 'checklist.requested', 'mail.sent',
              'input.rejected', 'input.rerequested', 'input.verified', 'escalation.raised',
              'escalation.delivered', 'stage.entered', 'input.verified'])[g],
       o.stage, o.stage_owner_email, CASE WHEN g %% 4 = 0 THEN o.primary_contact_email ELSE 'system:bench' END,
       CASE g WHEN 3 THEN '{"items": [{"key": "billing_contact_email", "critical": true}], "approvals": []}'::jsonb
              WHEN 6 THEN '{"item": "billing_contact_email", "critical": true, "reason": "not an email"}'::jsonb
              WHEN 9 THEN '{"kind": "sla_breach", "level": 1, "reason": "ran past its SLA"}'::jsonb
              ELSE '{"item": "billing_contact_email", "critical": true}'::jsonb END
FROM onboarding.onboardings o CROSS JOIN generate_series(1, %(per)s) g;
ANALYZE;
"""

_CHILD = """
import json, os, random, time
import numpy as np
from fastapi.testclient import TestClient
from include.board import filters, queries
from include.board.app import create_app
from include.onboarding.config import load_config
from include.onboarding.store import Store, connect_dsn

url, views, requests = {url!r}, {views!r}, {requests!r}
app = create_app(database_url=url)
for dependency in app.router.dependencies:  # Airflow's authentication: not part of the figure
    app.dependency_overrides[dependency.dependency] = lambda: None
client = TestClient(app)
config, store = load_config(), Store(connect_dsn(url))
now = app.state.board.now()

def timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result

def stats(seconds):
    ms = np.asarray(seconds) * 1000.0
    return {{"n": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 1),
             "p95_ms": round(float(np.percentile(ms, 95)), 1), "max_ms": round(float(ms.max()), 1)}}

first, response = timed(lambda: client.get("/"))
assert response.status_code == 200, response.text[-2000:]
measured = store.scalar("SELECT count(*) FROM onboarding.board_accounts WHERE measured > 0")

def list_sql(path):
    chosen = filters.parse(dict(p.split("=") for p in path[2:].split("&")) if "?" in path else {{}}, config)
    page, counts, params = queries.list_sql(chosen, config.settings.board.page_size)
    params["now"] = now
    return lambda: (store.query(page, params), store.query(counts, params))

list_page, list_plain = [], []
for n in range(requests):
    path = views[n % len(views)]
    seconds, response = timed(lambda: client.get(path))
    assert response.status_code == 200, (path, response.status_code)
    list_page.append(seconds)
    list_plain.append(timed(list_sql(path))[0])

rng = random.Random(3)
total = store.scalar("SELECT count(*) FROM onboarding.onboardings")
account_page, account_plain = [], []
for _ in range(requests):
    key = f"bench-{{rng.randint(1, total)}}"
    seconds, response = timed(lambda: client.get(f"/accounts/{{key}}"))
    assert response.status_code == 200, (key, response.status_code)
    account_page.append(seconds)
    oid = store.scalar("SELECT id FROM onboarding.onboardings WHERE onboarding_key = %s", (key,))
    params = {{"key": key, "id": oid}}
    account_plain.append(timed(lambda: [store.query(sql, params) for sql in queries.ACCOUNT_SQL.values()])[0])

print(json.dumps({{
    "first_view_seconds": round(first, 2), "rows_measured_by_first_view": measured,
    "list_page": stats(list_page), "list_sql": stats(list_plain),
    "account_page": stats(account_page), "account_sql": stats(account_plain),
    "events_on_an_account_page": EVENTS,
}}))
"""


def seed(url: str, n: int) -> dict[str, Any]:
    """The escalation benchmark's open onboardings, then what the board shows of them (see the module doc)."""
    import time

    from bench.escalation_pass import seed as seed_open
    from include.onboarding.store import connect_dsn

    seeded = seed_open(url, n)
    started = time.perf_counter()
    with connect_dsn(url) as conn:
        conn.execute(_EXTRAS.replace("%%", "%").replace("%(per)s", str(EVENTS_PER_ACCOUNT)).encode())
        events = conn.execute("SELECT count(*) FROM onboarding.events").fetchone()
    seeded |= {"events": events[0] if events else 0, "extras_seconds": round(time.perf_counter() - started, 2)}
    return seeded


def run() -> dict[str, Any]:
    n = int(os.environ.get("BENCH_ONBOARDINGS", "50000"))
    requests = int(os.environ.get("BENCH_BOARD_REQUESTS", "200"))
    with scratch_server() as server, tempfile.TemporaryDirectory(prefix="bench-board-airflow-") as home:
        url = fresh_database(server, "bench_board")
        seeded = seed(url, n)
        code = _CHILD.format(url=url, views=LIST_VIEWS, requests=requests).replace("EVENTS", str(EVENTS_PER_ACCOUNT))
        env = {"ONBOARDING_CLOCK": f"fixed:{NOW.isoformat()}", "AIRFLOW_HOME": home}
        measured = measure_child(code, env)
    result = {
        "seeded": seeded,
        **measured,
        "list_ratio_p95": round(measured["list_page"]["p95_ms"] / max(measured["list_sql"]["p95_ms"], 0.1), 1),
        "account_ratio_p95": round(measured["account_page"]["p95_ms"] / max(measured["account_sql"]["p95_ms"], 0.1), 1),
        "target": "p95 under 300 ms for the list and for an account's page, 50,000 open onboardings",
    }
    write_results("board", result)
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
