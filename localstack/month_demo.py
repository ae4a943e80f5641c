"""``make demo``: a month of signed orders onboarded by Airflow's own scheduler, in minutes.

What runs is what a deployment runs: PostgreSQL (embedded unless configured),
the sandbox standing in for the CRM, Jira, Stripe, the SCIM
provisioning API and Slack, and Airflow's api-server, scheduler, dag-processor
and triggerer with the LocalExecutor (``--celery``: the CeleryExecutor, an
embedded broker and two Celery workers).  Nothing is called by hand: the intake
picks orders up on its schedule and starts one run per account, the runs wait
on the customers in the triggerer, the escalation pass runs on its schedule.

Business time is accelerated (``ONBOARDING_CLOCK=accelerated:...``, the same
value for every process, the sandbox included): the CRM receives each order at
its signing time, simulated customers answer promptly, slowly, wrongly first,
partly or never, an ops person approves what waits in Airflow's Required
Actions (logged in as each approver, through the REST API), the reporting DAG
refreshes the metric tables as events come in, and SLAs, targets and
escalations are all reckoned in business time.  Airflow's own
waits (schedules, poke intervals, timeouts, Deadline Alerts) are divided by
the same factor.

The demo ends when every account is live or escalated and nothing has moved
for a while, then prints the outcome, the reaction latencies, the metric
tables and the ledger check, and stops everything it started (``--ui`` keeps
the stack up so the grid can be looked at; ``make stop`` stops it).
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from include.onboarding.clock import AcceleratedClock
from localstack import interrupts, stack
from localstack.postgres import free_port

# The simulated customers' spread of behaviours, dealt out in signing order.
BEHAVIOURS = (
    (["prompt"] * 9) + (["slow"] * 4) + (["invalid_then_correct"] * 3) + ["silent", "partial", "forwarding", "prompt"]
)


def behaviour_of(signed: int) -> str:
    """The behaviour of the customer of the ``signed``-th signed order (from 0), dealt out in signing order."""
    return BEHAVIOURS[signed % len(BEHAVIOURS)]


TIER_DAGS = ("onboarding_enterprise", "onboarding_smb", "onboarding_partner")
DEMO_FAULTS = {
    "billing": {"server_error": 3},
    "ticketing": {"lost_after_commit": 1},
    "provisioning": {"dropped_after_commit": 1},
}
RUNNING_DAGS = ("onboarding_intake", *TIER_DAGS, "onboarding_escalations", "onboarding_reporting")
"""Unpaused for the month; the reporting DAG runs on the ``onboarding_events`` asset as the work goes on."""
APPROVAL_COMMENT = "Approved in the demo by the role holder"
DEMO_PILOT = {
    "name": "North America and EMEA, every tier",
    "exclude": [{"region": ["APAC"]}],
    "minimum_accounts": 5,
}
"""The demo's pilot: two regions with every tier and path in them; APAC orders stay out of pilot for now."""
BASELINE_ACCOUNTS_PER_ORDER = 2
"""Past onboardings in the demo's baseline export per order of the run (at least 40)."""


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)


@dataclass
class Options:
    orders: int
    seed: int
    bad_ratio: float
    start: date
    business_days: int
    speed: float
    ui: bool
    parallelism: int
    max_minutes: float
    quiet_business_hours: float
    celery_workers: int = 0
    """0: the LocalExecutor; otherwise the CeleryExecutor with this many workers and the embedded broker."""


SHORT = {"orders": 20, "business_days": 2, "max_minutes": 9.0, "speed": 2880.0}
"""The default demo: every kind of account and event in a few business days, within ten minutes on 2 cores."""
MONTH = {"orders": 200, "business_days": 21, "max_minutes": 60.0, "speed": 1440.0}
"""``--month``: a month of signed orders at a company's typical volume."""

STARTUP_SECONDS = 90.0
"""Migrating Airflow's database and starting its components, measured on 2 cores."""
TASK_SECONDS_PER_ORDER = 9.0
"""Wall time the 2-core machine spends on one onboarding's ~19 task instances (at ~0.34 s of CPU each, busy)."""


def options(args: argparse.Namespace) -> Options:
    preset = MONTH if args.month else SHORT
    return Options(
        orders=args.orders if args.orders is not None else int(preset["orders"]),
        seed=args.seed,
        bad_ratio=args.bad_ratio,
        start=args.start,
        business_days=args.business_days if args.business_days is not None else int(preset["business_days"]),
        speed=args.speed if args.speed is not None else float(preset["speed"]),
        ui=args.ui,
        parallelism=args.parallelism,
        max_minutes=args.max_minutes if args.max_minutes is not None else float(preset["max_minutes"]),
        quiet_business_hours=args.quiet_hours,
        celery_workers=args.workers if args.celery else 0,
    )


def expected_seconds(opts: Options) -> float:
    """How long the month should take here: its business span at this speed, or the task work, whichever is
    longer, plus start-up and the reports."""
    span_days = opts.business_days * 7 / 5 + 6  # signing, then about a week for the slowest customers to finish
    business = span_days * 86400 / opts.speed
    work = opts.orders * TASK_SECONDS_PER_ORDER
    return STARTUP_SECONDS + max(business, work) + 45


def _orders(opts: Options) -> list[tuple[datetime, dict[str, Any]]]:
    """The month's deals with the time each reaches the CRM (its signing time), in order."""
    from sandbox.generator import generate_orders

    deals = generate_orders(
        opts.orders, seed=opts.seed, start=opts.start, bad_ratio=opts.bad_ratio, business_days=opts.business_days
    )
    timed: list[tuple[datetime, dict[str, Any]]] = []
    last = datetime.combine(opts.start, datetime.min.time(), timezone.utc)
    for props in deals:
        if props.get("dealstage") != "closedwon":
            timed.append((last, props))  # a deal still in negotiation: its close date is only expected
            continue
        try:
            at = datetime.fromisoformat(str(props.get("closedate") or "").replace("Z", "+00:00"))
            at = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
        except ValueError:
            at = last  # a garbled close date: it reached the CRM after the one before it
        last = max(last, at)
        timed.append((last, props))
    return timed


class Feeder:
    """Puts each deal into the sandbox CRM once business time reaches its signing time."""

    def __init__(self, port: int, deals: list[tuple[datetime, dict[str, Any]]]) -> None:
        self.port, self.deals, self.fed, self.signed = port, deals, 0, 0

    def feed_due(self, now: datetime) -> None:
        while self.fed < len(self.deals) and self.deals[self.fed][0] <= now:
            _, props = self.deals[self.fed]
            stack.sandbox_call(self.port, "POST", "/_sandbox/crm/deals", {"properties": props})
            if props.get("dealstage") == "closedwon":
                behaviour = behaviour_of(self.signed)
                contact = str(props.get("primary_contact_email") or "")
                if contact:  # the customer reads their mail and answers in the portal as this behaviour says
                    stack.sandbox_call(
                        self.port, "POST", "/_sandbox/customers/behaviour", {"email": contact, "behaviour": behaviour}
                    )
                self.signed += 1
            self.fed += 1

    @property
    def done(self) -> bool:
        return self.fed == len(self.deals)


def start_approver(
    api: Any, airflow_home: Any, stop: threading.Event, hold: Callable[[dict[str, Any]], bool] | None = None
) -> threading.Thread:
    """The ops person: approves what waits in Required Actions, logged in as the approver it is assigned to,
    except the requests ``hold`` leaves for a person."""
    from localstack import approvers

    thread = threading.Thread(
        target=approvers.approve_pending,
        args=(api, airflow_home, stop, APPROVAL_COMMENT),
        kwargs={"hold": hold},
        name="approver",
        daemon=True,
    )
    thread.start()
    return thread


HELD_FOR_PEOPLE = 2
"""With ``--ui``, how many accounts' approvals the demo's ops person leaves waiting for you."""


def contacts_to_hold(deals: list[tuple[datetime, dict[str, Any]]], count: int = HELD_FOR_PEOPLE) -> set[str]:
    """The primary contacts of the last ``count`` signed orders whose customers answer promptly: their accounts
    reach the approvals soonest before the month ends, and wait there for a person in ``--ui`` mode."""
    prompt = []
    signed = 0
    for _, props in deals:
        if props.get("dealstage") != "closedwon":
            continue
        if behaviour_of(signed) == "prompt" and props.get("primary_contact_email"):
            prompt.append(str(props["primary_contact_email"]).lower())
        signed += 1
    return set(prompt[-count:]) if count else set()


def held_request(onboarding_url: str, contacts: set[str]) -> Callable[[dict[str, Any]], bool]:
    """Whether an approval request waiting in Airflow belongs to one of ``contacts``' accounts."""
    from include.onboarding.store import Store, connect_dsn

    known: dict[str, bool] = {}

    def hold(detail: dict[str, Any]) -> bool:
        run_id = str(detail["task_instance"]["dag_run_id"])
        if run_id not in known:
            with connect_dsn(onboarding_url) as conn:
                email = Store(conn).scalar(
                    "SELECT lower(primary_contact_email) FROM onboarding.onboardings WHERE onboarding_key = %s",
                    (run_id.removeprefix("onboarding__"),),
                )
            known[run_id] = email in contacts
        return known[run_id]

    return hold


def print_logins(base_url: str, admin_password: str, airflow_home: Any) -> None:
    """Who can log into the UI: the admin, and each approver (Browse -> Required Actions)."""
    from include.onboarding.config import load_config
    from localstack import approvers

    known = approvers.passwords(airflow_home)
    _say(f"The Airflow UI stays up: {base_url}  (user admin, password {admin_password})")
    _say("Approvers answer in Browse -> Required Actions; each logs in as themself:")
    for a in approvers.approvers(load_config()):
        print(f"      {a.user:<32} {known.get(a.user, '?'):<20} {a.name} ({', '.join(a.roles)})", flush=True)


def _progress(onboarding_url: str) -> dict[str, Any]:
    from include.onboarding.store import Store, connect_dsn

    with connect_dsn(onboarding_url) as conn:
        row = Store(conn).query(
            """SELECT count(*) AS onboardings,
                      count(*) FILTER (WHERE o.status = 'live') AS live,
                      count(*) FILTER (WHERE o.status = 'open') AS open,
                      count(*) FILTER (WHERE o.status = 'open' AND EXISTS (
                          SELECT 1 FROM onboarding.escalations e
                          WHERE e.onboarding_id = o.id AND e.resolved_at IS NULL)) AS escalated,
                      (SELECT count(*) FROM onboarding.quarantined_orders q WHERE q.status = 'open') AS quarantined,
                      (SELECT count(*) FROM onboarding.out_of_pilot_orders p WHERE p.taken_at IS NULL)
                        AS out_of_pilot,
                      (SELECT max(e.occurred_at) FROM onboarding.events e
                        WHERE e.onboarding_id IS NOT NULL AND e.event_type NOT LIKE 'escalation.%%') AS last_progress
               FROM onboarding.onboardings o"""
        )[0]
    return dict(row)


def run(opts: Options) -> None:
    # Ctrl-C, SIGTERM or SIGHUP at any moment: unwind to the finally clause below, which stops it all.
    guard = interrupts.install("everything the demo started")
    started = time.monotonic()
    sandbox_port: int | None = None
    dbs = None
    stop_approver = threading.Event()
    keep_up = False
    try:
        minutes = expected_seconds(opts) / 60
        _say(
            f"{opts.orders} signed orders over {opts.business_days} business days at {opts.speed:g}x: expect about"
            f" {minutes:.0f} minutes on 2 cores (at most {opts.max_minutes:.0f} for the month); Ctrl-C stops it all"
        )
        _say("Starting PostgreSQL")
        dbs = stack.ensure_databases(fresh=True)
        from include.onboarding.store import connect_dsn, migrate

        with connect_dsn(dbs.onboarding_url) as conn:
            migrate(conn)
        import os

        # The demo runs a pilot: a copy of the configuration with its scope, for every process.
        os.environ["ONBOARDING_CONFIG_DIR"] = str(demo_config(stack.local_dir()))
        _say(f"Pilot: {DEMO_PILOT['name']} (settings.yaml pilot:); APAC orders stay out of pilot")
        imported = import_demo_baseline(dbs.onboarding_url, opts, stack.local_dir())
        _say(
            f"Baseline: {imported.loaded + imported.unchanged} past onboardings imported from"
            f" {stack.local_dir() / 'baseline.csv'} (time to first value 2-4 weeks, a status email a day)"
        )
        # Business time starts the Sunday before the first signing day, so Airflow has started
        # by the time the first order is signed on Monday.
        first = opts.start
        business_start = datetime.combine(first - timedelta(days=1), datetime.min.time(), timezone.utc).replace(hour=12)
        wall_start = datetime.now(timezone.utc) + timedelta(seconds=40)
        clock = AcceleratedClock(business_start, wall_start, opts.speed)
        _say(
            f"Business clock: {business_start:%a %d %b %Y %H:%M} UTC at {wall_start:%H:%M:%S} wall time, "
            f"{opts.speed:g}x faster (one business day every {86400 / opts.speed:.0f} s)"
        )
        deals = _orders(opts)
        signed = sum(1 for _, p in deals if p.get("dealstage") == "closedwon")
        _say(
            f"Starting the sandbox; {signed} orders will be signed from {deals[0][0]:%d %b} to {deals[-1][0]:%d %b}"
            f" (about {opts.bad_ratio:.0%} malformed), plus {len(deals) - signed} deals still in negotiation"
        )
        os.environ["ONBOARDING_CLOCK"] = clock.spec()  # the sandbox reads the same clock
        sandbox_port, _ = stack.start_sandbox(0, opts.seed, 0.0)
        stack.sandbox_call(sandbox_port, "POST", "/_sandbox/customers/settings", {"slow_seconds": 3 * 86400})
        stack.sandbox_call(sandbox_port, "POST", "/_sandbox/provisioning/settings", {"provision_seconds": 4 * 3600})
        # The outside world misbehaves: Stripe fails a few requests, Jira loses an answer after creating the
        # issue while its search lags, the provisioning API cuts a connection after committing.
        for system, faults in DEMO_FAULTS.items():
            stack.sandbox_call(sandbox_port, "POST", "/_sandbox/faults", {"system": system, **faults})
        stack.sandbox_call(sandbox_port, "POST", "/_sandbox/ticketing/settings", {"search_delay_seconds": 1800})
        api_port = free_port()
        env = stack.airflow_service_env(stack.airflow_env(dbs, sandbox_port), api_port)
        if opts.celery_workers:
            _say(f"Starting the Celery broker (Valkey, the Redis protocol) for {opts.celery_workers} workers")
            env = stack.use_celery(env, dbs, stack.ensure_broker())
        env.update(
            {
                "ONBOARDING_CLOCK": clock.spec(),
                "ONBOARDING_INTAKE_SCHEDULE": "every 20s",
                "ONBOARDING_ESCALATION_SCHEDULE": "every 30s",
                "ONBOARDING_REPORTS_DIR": str(stack.local_dir() / "reports"),
                "AIRFLOW__CORE__PARALLELISM": str(opts.parallelism),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "300",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            }
        )
        env["ONBOARDING_DATABASE_URL"] = dbs.onboarding_url
        env["ONBOARDING_CONFIG_DIR"] = os.environ["ONBOARDING_CONFIG_DIR"]
        portal_url = stack.start_portal(env)
        _say(f"The customer portal is up on {portal_url}; customers get their links by email (the sandbox's SMTP)")
        workers = f", {opts.celery_workers} Celery workers" if opts.celery_workers else ""
        _say(
            f"Starting Airflow (api-server on http://127.0.0.1:{api_port}, scheduler, dag-processor,"
            f" triggerer{workers})"
        )
        api = stack.bring_up_airflow(
            env,
            {*RUNNING_DAGS, "onboarding_reporting"},
            workers=opts.celery_workers,
            # The parallelism split between the workers (each at least 2), as the LocalExecutor would use it.
            worker_concurrency=max(2, -(-opts.parallelism // max(opts.celery_workers, 1))),
        )
        home = stack.local_dir() / "airflow"
        for dag_id in RUNNING_DAGS:
            api.set_paused(dag_id, False)
        _say(f"Airflow is up after {time.monotonic() - started:.0f}s; the month begins")
        held = contacts_to_hold(deals) if opts.ui else set()
        start_approver(api, home, stop_approver, held_request(dbs.onboarding_url, held) if held else None)
        _run_month(opts, clock, Feeder(sandbox_port, deals), dbs.onboarding_url, started)
        stop_approver.set()
        business_now = clock.now()
        state = final_report(api, business_now)
        print()
        outcome(dbs.onboarding_url, sandbox_port, clock)
        if state != "success":
            print(f"The reporting run ended {state}; see the Airflow logs in {home / 'logs'}")
        print_before_after(dbs.onboarding_url, business_now.date())
        print_reports(dbs.onboarding_url, business_now.date(), stack.local_dir() / "reports")
        _say(f"Done in {time.monotonic() - started:.0f}s")
        if opts.ui:
            keep_up = True
            print()
            hand_over_to_people(env, clock, dbs.onboarding_url, held)
            _say("Each onboarding_<tier> DAG has one run per account; `make stop` stops everything")
    finally:
        guard.cleaning = True  # first, and no call before it: signals from here on cannot cut the cleanup short
        stop_approver.set()
        if not keep_up or guard.signum is not None:
            stopped = stack.stop(keep_database=dbs is not None and not dbs.embedded, own_descendants=True)
            with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
                if guard.signum is not None:
                    _say(f"Interrupted ({guard.name}): stopped {', '.join(stopped) or 'nothing, none was running yet'}")
                elif stopped:
                    _say(f"Stopped: {', '.join(stopped)}")
        guard.exit_if_interrupted()


def final_report(api: Any, business_now: datetime) -> str:
    """Pause the onboarding DAGs, then one more reporting run for the last business day; return its state.

    The reporting DAG ran on its asset all month; this run reports as of the end of the demo.
    """
    for dag_id in RUNNING_DAGS:
        if dag_id != "onboarding_reporting":
            api.set_paused(dag_id, True)
    runs = api.call("GET", "/dags/onboarding_reporting/dagRuns?limit=1000")["dag_runs"]
    refreshed = sum(1 for r in runs if r["state"] == "success")
    _say(f"Reporting: {refreshed} runs of onboarding_reporting during the month; one more for the last day")
    report_run = api.trigger(
        "onboarding_reporting",
        run_id=f"demo__{business_now:%Y%m%dT%H%M%S}",
        conf={"report_date": business_now.date().isoformat()},
    )
    state = api.wait_for_run("onboarding_reporting", report_run)
    api.set_paused("onboarding_reporting", True)
    return state


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def _run_month(opts: Options, clock: AcceleratedClock, feeder: Feeder, onboarding_url: str, started: float) -> None:
    """Feed the CRM as business time passes; return once every account is live or escalated and all is quiet.

    An account waiting on a silent customer counts as settled once it has been
    escalated to its owner (the customer was chased, the owner told): the demo
    does not wait for a customer who will not answer.
    """
    from localstack.progress import MonthProgress

    deadline = time.monotonic() + opts.max_minutes * 60
    quiet = timedelta(hours=opts.quiet_business_hours)
    signed_total = sum(1 for _, p in feeder.deals if p.get("dealstage") == "closedwon")
    state: dict[str, Any] | None = None
    month_began, first_live = time.monotonic(), 0.0
    with MonthProgress(signed_total) as progress:
        while True:
            now = clock.now()
            feeder.feed_due(now)
            state = _progress(onboarding_url)
            progress.update(now, feeder.signed, state)
            if state["live"] and not first_live:
                first_live = time.monotonic()
                progress.note(
                    f"==> The first account is live on {now:%a %d %b %H:%M}, "
                    f"{_minutes(first_live - month_began)} into the month ({_minutes(first_live - started)} in all)"
                )
            settled = state["open"] == state["escalated"]
            still = state["last_progress"] is None or now - state["last_progress"] > quiet
            if feeder.done and state["onboardings"] and settled and still:
                break
            if time.monotonic() > deadline:
                state = None
                break
            time.sleep(1)
    if state is None:
        _say(f"Stopping after {opts.max_minutes:.0f} minutes with accounts still moving (--max-minutes)")
    else:
        _say(f"Every account is live or escalated, and nothing has moved since {state['last_progress']:%a %d %b %H:%M}")


def stay_up_for_people(
    env: dict[str, str], clock: AcceleratedClock, hold: Callable[[dict[str, Any]], bool]
) -> tuple[Any, list[dict[str, Any]]]:
    """Restart Airflow and the portal on a clock that runs in real time from where the month ended, unpause
    the DAGs, and ask the held approvals again, so they wait (for days, not seconds) in Required Actions.

    Returns the REST client and the approval requests waiting for a person."""
    from include.onboarding.clock import AcceleratedClock as Clock
    from localstack import approvers

    env["ONBOARDING_CLOCK"] = Clock(clock.now(), datetime.now(timezone.utc), 1.0).spec()
    stack.stop_airflow()
    stack.start_portal(env)  # its address goes into the links the engine mails from now on
    api = stack.bring_up_airflow(env, set(RUNNING_DAGS))
    for dag_id in RUNNING_DAGS:
        api.set_paused(dag_id, False)
    held = [d for d in approvers.pending(api) if hold(d)]
    for detail in held:  # asked under the month's fast clock, they would expire within minutes
        ti = detail["task_instance"]
        api.call(
            "POST",
            f"/dags/{ti['dag_id']}/clearTaskInstances",
            {"dry_run": False, "dag_run_id": ti["dag_run_id"], "task_ids": [ti["task_id"]],
             "include_downstream": False, "only_failed": False, "reset_dag_runs": True},
        )  # fmt: skip
    tries = {_request_id(d): d["task_instance"]["try_number"] for d in held}
    deadline = time.monotonic() + 120
    while True:
        waiting = [
            d for d in approvers.pending(api) if d["task_instance"]["try_number"] > tries.get(_request_id(d), 1e9)
        ]
        if len(waiting) == len(tries) or time.monotonic() > deadline:
            return api, waiting
        time.sleep(1)


def _request_id(detail: dict[str, Any]) -> tuple[str, str, str]:
    ti = detail["task_instance"]
    return ti["dag_id"], ti["dag_run_id"], ti["task_id"]


def hand_over_to_people(env: dict[str, str], clock: AcceleratedClock, onboarding_url: str, held: set[str]) -> None:
    """``--ui``: leave Airflow, the board and the portal up for a person, and say where to look."""
    from pathlib import Path

    _say("Restarting Airflow and the portal on a clock that runs in real time from where the month ended")
    api, waiting = stay_up_for_people(env, clock, held_request(onboarding_url, held))
    print_logins(env["AIRFLOW__API__BASE_URL"], api.password, Path(env["AIRFLOW_HOME"]))
    if waiting:
        _say(f"Waiting for you in Browse -> Required Actions ({len(waiting)}):")
        for detail in waiting:
            assigned = ", ".join(u["id"] for u in detail.get("assigned_users") or [])
            print(f"      {detail['subject']}  (assigned to {assigned})", flush=True)
    _say(f"The onboarding board: {env['AIRFLOW__API__BASE_URL']}/plugin/onboarding-board (Browse menu)")
    link = portal_link_for_people(env, onboarding_url)
    if link:
        _say(f"The customer portal stays up: {link[1]}  ({link[0]}'s link, valid for days)")


def portal_link_for_people(env: dict[str, str], onboarding_url: str) -> tuple[str, str] | None:
    """A fresh link to one account (a waiting one if any), so a person can open the portal in a browser."""
    import psycopg
    from psycopg.rows import dict_row

    from include.onboarding import lifecycle
    from include.onboarding.clock import parse_clock
    from include.onboarding.config import load_config
    from include.onboarding.store import Store
    from include.portal import links

    config = load_config()
    now = parse_clock(env["ONBOARDING_CLOCK"]).now()
    with psycopg.connect(onboarding_url, row_factory=dict_row) as conn:
        store = Store(conn)
        rows = store.query(
            "SELECT onboarding_key FROM onboarding.onboardings ORDER BY (status = 'open') DESC, id LIMIT 1"
        )
        if not rows:
            return None
        ob = lifecycle.load(store, rows[0]["onboarding_key"])
        secret = env["ONBOARDING_PORTAL_SECRET"].encode()
        with store.transaction() as cur:
            link = links.issue_link(
                cur, config, secret, onboarding_id=ob.id, onboarding_key=ob.key, region=ob.region,
                contact_email=ob.primary_contact_email, contact_name=ob.primary_contact_name, scope=links.CHECKLIST,
                purpose="invitation", issued_by="system:demo", now=now,
            )  # fmt: skip
    return ob.account_name, link.url.replace(links.base_url(config), env["ONBOARDING_PORTAL_URL"])


def outcome(onboarding_url: str, sandbox_port: int, clock: AcceleratedClock) -> None:
    """Live / waiting / escalated with reasons, reaction latencies, Slack, and the ledger check."""
    from tabulate import tabulate

    from include.onboarding.store import Store, connect_dsn

    with connect_dsn(onboarding_url) as conn:
        store = Store(conn)
        accounts = store.query(
            """SELECT o.onboarding_key, o.account_name, o.tier, o.status, o.stage, o.stage_owner_email,
                      o.blocked_reason, o.activation_target, o.live_at, o.signed_at,
                      (SELECT string_agg(DISTINCT e.kind || CASE WHEN e.level > 1 THEN ' L' || e.level ELSE '' END,
                                         ', ') FROM onboarding.escalations e
                        WHERE e.onboarding_id = o.id AND e.resolved_at IS NULL) AS escalations,
                      (SELECT e.reason FROM onboarding.escalations e
                        WHERE e.onboarding_id = o.id AND e.resolved_at IS NULL
                        ORDER BY e.level DESC, e.raised_at DESC LIMIT 1) AS why
               FROM onboarding.onboardings o ORDER BY o.status, o.tier, o.onboarding_key"""
        )
        quarantined = store.query(
            """SELECT crm_deal_id, reasons FROM onboarding.quarantined_orders WHERE status = 'open'
               ORDER BY crm_deal_id"""
        )
        latencies = reaction_latencies(store)
        kinds = store.query(
            """SELECT kind, count(*) AS n, count(*) FILTER (WHERE delivery_status = 'delivered') AS delivered
               FROM onboarding.escalations GROUP BY kind ORDER BY kind"""
        )
    live = [a for a in accounts if a["status"] == "live"]
    waiting = [a for a in accounts if a["status"] == "open"]
    escalated = [a for a in waiting if a["escalations"]]
    on_time = sum(1 for a in live if a["live_at"].date() <= a["activation_target"])
    print(f"Outcome: {len(accounts)} onboardings: {len(live)} live ({on_time} by their activation target), "
          f"{len(waiting)} waiting, of which {len(escalated)} escalated to a named owner; "
          f"{len(quarantined)} orders quarantined (bad CRM data, each escalated to the ops lead)")  # fmt: skip
    if waiting:
        print()
        print(
            tabulate(
                [
                    (a["onboarding_key"], a["tier"], a["stage"], a["stage_owner_email"], a["escalations"] or "-",
                     (a["blocked_reason"] or a["why"] or "in progress")[:90])
                    for a in waiting
                ],
                headers=["waiting", "tier", "stage", "owner", "escalated", "why"],
            )
        )  # fmt: skip
    if quarantined:
        reasons = Counter(r["field"] for q in quarantined for r in q["reasons"])
        print(f"\nQuarantine reasons: {', '.join(f'{field} {n}' for field, n in reasons.most_common())}")
    print("\nEscalations raised: " + ", ".join(f"{k['kind']} {k['n']} ({k['delivered']} delivered)" for k in kinds))
    messages: Any = stack.sandbox_call(sandbox_port, "GET", "/_sandbox/slack/messages")
    print(f"Slack messages posted: {len(messages)}")
    print_customer_side(onboarding_url, sandbox_port)
    requests: Any = stack.sandbox_call(sandbox_port, "GET", "/_sandbox/requests")
    faults = Counter(f"{r['system']} {r['fault']}" for r in requests if r.get("fault"))
    if faults:
        print("Faults the outside world served (retried or looked up, never duplicated): "
              + ", ".join(f"{what} x{n}" for what, n in sorted(faults.items())))  # fmt: skip
    print("\nReaction latencies (business clock; wall-clock seconds in brackets at this speed):")
    rows = []
    for name, values in latencies.items():
        if not values:
            rows.append((name, 0, "-", "-", "-"))
            continue
        values = sorted(values)

        def show(seconds: float) -> str:
            return f"{_human(seconds)} [{seconds / clock.factor:.1f} s]"

        rows.append((name, len(values), show(values[len(values) // 2]), show(values[int(len(values) * 0.9)]),
                     show(values[-1])))  # fmt: skip
    print(tabulate(rows, headers=["", "accounts", "median", "p90", "max"]))
    print()
    ledger_check(onboarding_url, sandbox_port)


def print_customer_side(onboarding_url: str, sandbox_port: int) -> None:
    """Email sent to customers by kind, and what the simulated customers did in the portal."""
    import psycopg

    with psycopg.connect(onboarding_url) as conn:
        kinds = conn.execute(
            """SELECT kind, count(*), count(*) FILTER (WHERE status = 'sent')
               FROM onboarding.outbox GROUP BY kind ORDER BY kind"""
        ).fetchall()
    sent = {kind: (n, delivered) for kind, n, delivered in kinds}
    reminders = sent.get("reminder", (0, 0))[0]
    print(
        "Customer email: "
        + (", ".join(f"{kind} {n} ({delivered} delivered)" for kind, (n, delivered) in sent.items()) or "none")
        + f"; reminders sent: {reminders}"
    )
    actions: Any = stack.sandbox_call(sandbox_port, "GET", "/_sandbox/customers/ledger")
    did = Counter(a["action"] for a in actions)
    verdicts = Counter(a.get("verdict") for a in actions if a["action"] == "submitted")
    print(
        f"In the portal, customers opened {did['opened']} links, sent {did['submitted']} items"
        f" ({', '.join(f'{v} {n}' for v, n in verdicts.most_common())}) and forwarded {did['forwarded']}"
    )


def _human(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def reaction_latencies(store: Any) -> dict[str, list[float]]:
    """Signed -> onboarding created; last critical input verified -> first setup call; breach -> posted."""
    created = store.query(
        """SELECT extract(epoch FROM created_at - signed_at) AS s FROM onboarding.onboardings"""
    )  # fmt: skip
    to_setup = store.query(
        """SELECT extract(epoch FROM min(s.started_at) - (
                      SELECT max(c.verified_at) FROM onboarding.checklist_items c
                       WHERE c.onboarding_id = s.onboarding_id AND c.critical)) AS s
           FROM onboarding.setup_steps s WHERE s.started_at IS NOT NULL GROUP BY s.onboarding_id"""
    )
    posted = store.query(
        """SELECT extract(epoch FROM delivered_at - breach_at) AS s FROM onboarding.escalations
           WHERE kind = 'sla_breach' AND delivered_at IS NOT NULL AND breach_at IS NOT NULL"""
    )
    return {
        "signed order -> onboarding created": [float(r["s"]) for r in created if r["s"] is not None],
        "last input verified -> first setup call": [float(r["s"]) for r in to_setup if r["s"] is not None],
        "SLA breach -> escalation posted": [float(r["s"]) for r in posted if r["s"] is not None],
    }


def ledger_problems(store: Any, ledger: dict[str, Any]) -> tuple[Counter[str], list[str]]:
    """Check the sandbox's ledger against every setup step of every live account.

    Exactly one Jira issue per ticket step (by the step's label), one Stripe
    customer, one tenant and one SCIM user per account.  Returns what was found
    per kind and the problems (empty when exactly-once held).
    """
    from include.onboarding.setup_steps import jira_label

    steps = store.query(
        """SELECT o.onboarding_key, s.step_key, s.kind, s.idempotency_key, s.status
           FROM onboarding.setup_steps s JOIN onboarding.onboardings o ON o.id = s.onboarding_id
           WHERE o.status = 'live'"""
    )
    labels = Counter(label for issue in ledger["ticketing"]["issues"] for label in issue["labels"])
    customers = Counter(str(c.get("onboarding_key")) for c in ledger["billing"]["customers"])
    tenants = Counter(str(t.get("external_id")) for t in ledger["provisioning"]["tenants"])
    users = Counter(str(u.get("externalId")) for u in ledger["provisioning"]["users"])
    found: Counter[str] = Counter()
    problems = []
    for step in steps:
        key, kind = step["onboarding_key"], step["kind"]
        if kind in ("jira_issue", "jira_subtask"):
            n, what = labels[jira_label(step["idempotency_key"])], "Jira issues"
        elif kind == "stripe_customer":
            n, what = customers[key], "Stripe customers"
        elif kind == "tenant":
            n, what = tenants[key], "tenants"
        elif kind == "scim_user":
            n, what = users[step["idempotency_key"]], "SCIM users"
        else:
            continue
        found[what] += n
        if n != 1 and step["status"] != "skipped":
            problems.append(f"{key} {step['step_key']}: {n} {what}")
    return found, problems


def ledger_check(onboarding_url: str, sandbox_port: int) -> list[str]:
    """Print and return the exactly-once check of the sandbox's ledger."""
    from include.onboarding.store import Store, connect_dsn

    ledger: Any = stack.sandbox_call(sandbox_port, "GET", "/_sandbox/ledger")
    with connect_dsn(onboarding_url) as conn:
        store = Store(conn)
        live = store.scalar("SELECT count(*) FROM onboarding.onboardings WHERE status = 'live'")
        found, problems = ledger_problems(store, ledger)
    print(
        f"Sandbox ledger for {live} live accounts: "
        + ", ".join(f"{n} {what}" for what, n in sorted(found.items()))
        + (": exactly one per setup step." if not problems else ". PROBLEMS: " + "; ".join(problems))
    )
    return problems


def print_reports(onboarding_url: str, day: date, out: Any) -> None:
    """The tables leadership reads first, from the reporting run just made."""
    from tabulate import tabulate

    from include.onboarding import reporting
    from include.onboarding.store import Store, connect_dsn

    with connect_dsn(onboarding_url) as conn:
        store = Store(conn)
        summary = reporting.read(store, "time_to_value_summary", day)
        bottlenecks = reporting.read(store, "stage_bottlenecks", day)
        sla = reporting.read(store, "sla_attainment", day)
        blocked = reporting.read(store, "blocked_accounts", day)
    if summary.empty:
        print(f"No report was written for {day}.")
        return
    tiers = summary[(summary["dimension"].isin(["all", "tier"])) & (summary["unit"] == "business_days")]
    print("\nTime to value (business days; first value = setup complete):")
    print(tabulate(tiers[["value", "measure", "accounts", "median", "p75", "p90"]].values.tolist(),
                   headers=["tier", "measure", "accounts", "median", "p75", "p90"], floatfmt=".1f"))  # fmt: skip
    overall = bottlenecks[bottlenecks["tier"] == "all"].sort_values("rank")
    print("\nBottlenecks (business days in stage, all tiers):")
    print(tabulate(overall[["rank", "stage", "times_longest", "median_business_days", "p90_business_days",
                            "accounts_in_stage_now"]].values.tolist(),
                   headers=["rank", "stage", "longest for", "median", "p90", "there now"], floatfmt=".2f"))  # fmt: skip
    all_weeks = sla[(sla["tier"] == "all") & (sla["week"] == reporting.ALL_WEEKS)]
    print("\nSLA attainment (all tiers):")
    print(tabulate(all_weeks[["stage", "completed", "met", "attainment_pct"]].values.tolist(),
                   headers=["stage", "ended", "within SLA", "%"], floatfmt=".0f"))  # fmt: skip
    print(f"\nBlocked or escalated accounts in the report: {len(blocked)}")
    print(f"Summary page and charts: {out / day.isoformat() / 'summary.html'}")


def demo_config(root: Any) -> Any:
    """A copy of the shipped configuration under ``root/config`` with the demo's pilot scope; its path."""
    import shutil
    from pathlib import Path

    import yaml

    from include.onboarding.config import config_dir, load_config

    target = Path(root) / "config"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(config_dir(), target)
    settings_path = target / "settings.yaml"
    settings = yaml.safe_load(settings_path.read_text(encoding="utf-8"))
    settings["pilot"] = DEMO_PILOT
    settings_path.write_text(
        "# The demo's copy of include/config/settings.yaml, with its pilot scope.\n"
        + yaml.safe_dump(settings, sort_keys=False),
        encoding="utf-8",
    )
    load_config(target)  # a scope the configuration refuses fails here, before anything starts
    return target


def import_demo_baseline(onboarding_url: str, opts: Options, root: Any) -> Any:
    """Write the demo's baseline export (past onboardings like its customers, before the start) and import it."""
    from pathlib import Path

    from include.onboarding import baseline
    from include.onboarding.config import load_config
    from include.onboarding.store import Store, connect_dsn
    from sandbox.generator import baseline_csv, generate_baseline

    rows = generate_baseline(max(40, BASELINE_ACCOUNTS_PER_ORDER * opts.orders), seed=opts.seed, end=opts.start)
    path = Path(root) / "baseline.csv"
    path.write_text(baseline_csv(rows), encoding="utf-8")
    with connect_dsn(onboarding_url) as conn:
        result = baseline.import_file(Store(conn), load_config(), path, datetime.now(timezone.utc))
    if not result.ok:
        raise RuntimeError(f"the demo's baseline export has rows the import refused:\n{result.describe()}")
    return result


def print_before_after(onboarding_url: str, day: date) -> None:
    """The brief's before/after table for the demo's pilot, from the reporting run just made."""
    from tabulate import tabulate

    from include.onboarding import pilot_report, reporting
    from include.onboarding.report_pages import before_after_rows, describe_side
    from include.onboarding.store import Store, connect_dsn

    with connect_dsn(onboarding_url) as conn:
        store = Store(conn)
        table = reporting.read(store, "pilot_before_after", day)
        left_out = store.query(
            """SELECT tier, count(*) AS n FROM onboarding.out_of_pilot_orders WHERE taken_at IS NULL
               GROUP BY tier ORDER BY tier"""
        )
    out = sum(int(r["n"]) for r in left_out)
    tiers = ", ".join(f"{r['tier']} {r['n']}" for r in left_out)
    print(f"\nOut of pilot: {out} signed orders outside the pilot ({tiers or 'none'}): counted, not started")
    _, rows = before_after_rows(table)
    if rows.empty:
        print(f"No before/after table was written for {day}.")
        return
    print(
        f"\nBefore and after: {rows['scope_name'].iloc[0]} (business days on each region's calendar;"
        " first value = setup complete):"
    )
    print(
        tabulate(
            [
                (pilot_report.LABELS[r["metric"]], r["unit"], describe_side(r, "before"), describe_side(r, "after"))
                for r in rows.to_dict("records")
            ],
            headers=["measure", "unit", "before (baseline export)", "after (automation)"],
        )
    )
