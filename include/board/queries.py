"""What the board's pages read from the onboarding store.

The list is one indexed query over the accounts and their clocks
(:mod:`include.board.clocks`), sorted by urgency and paged, plus a handful of
queries for the page's accounts only (their checklists, escalations, failed
steps, and their stage clocks measured as the escalation pass measures them).
Nothing here reads every account's history, so a page costs the same with a
hundred open accounts or fifty thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from include.board import clocks, wording
from include.board.filters import Filters
from include.board.links import airflow_run, step_link
from include.onboarding import time_split
from include.onboarding.calendar import region_working_time
from include.onboarding.config import OnboardingConfig, Stage, StepKind
from include.onboarding.constants import SETTLED_SQL, ItemStatus, QuarantineStatus, StepStatus
from include.onboarding.names import onboarding_key_from_run_id, run_id_for, tier_from_dag_id
from include.onboarding.store import SCHEMA, Store

_PAST_SLA = "b.sla_due_at <= %(now)s"
_AT_RISK = "b.risk_from <= %(now)s"


def where(filters: Filters) -> tuple[str, dict[str, Any]]:
    """The SQL condition (over the board's rows ``b``) and parameters of ``filters``."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    if filters.tier:
        parts.append("b.tier = %(tier)s")
        params["tier"] = filters.tier
    if filters.stage:
        parts.append("b.stage = %(stage)s")
        params["stage"] = filters.stage
    if filters.owner:
        parts.append("(b.stage_owner_email = %(owner)s OR b.owner_email = %(owner)s)")
        params["owner"] = filters.owner
    if filters.blocked:
        parts.append("b.blocked")
    if filters.at_risk:
        parts.append(_AT_RISK)
    return " AND ".join(parts) or "true", params


def list_sql(filters: Filters, page_size: int) -> tuple[str, str, dict[str, Any]]:
    """(page query, counts query, parameters): the plain SQL behind the board's list.

    Both read the board's rows (``onboarding.board_accounts``, one per open
    account, kept current by :func:`include.board.clocks.refresh`); only the
    page's accounts are joined to their onboarding.
    """
    condition, params = where(filters)
    params |= {"limit": page_size, "offset": (filters.page - 1) * page_size}
    page = f"""
        SELECT o.id, o.onboarding_key, o.account_name, o.tier, o.region, o.stage, o.stage_owner_email, o.owner_email,
               o.activation_target, o.blocked_reason, o.run_id,
               b.sla_due_at, b.clock_started_at, b.clock_offset_seconds, b.risk_from
        FROM (SELECT * FROM {SCHEMA}.board_accounts b
              WHERE b.measured > 0 AND {condition}
              ORDER BY b.attention_at NULLS LAST, b.onboarding_id
              LIMIT %(limit)s OFFSET %(offset)s) b
        JOIN {SCHEMA}.onboardings o ON o.id = b.onboarding_id
        ORDER BY b.attention_at NULLS LAST, b.onboarding_id"""
    counts = f"""
        SELECT count(*) AS open, count(*) FILTER (WHERE {condition}) AS matching,
               count(*) FILTER (WHERE {_PAST_SLA}) AS past_sla, count(*) FILTER (WHERE {_AT_RISK}) AS at_risk,
               count(*) FILTER (WHERE b.blocked) AS blocked
        FROM {SCHEMA}.board_accounts b WHERE b.measured > 0"""
    return page, counts, params


# --------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class Clock:
    """An account's stage clock as the escalation pass measures it, in business days of its region."""

    elapsed: str
    sla: str
    percent: float | None
    stopped: bool
    """The customer has the checklist and the tier pauses the clock for it."""
    past_sla: bool
    at_risk: bool
    days_to_target: int | None
    planned: bool = True


@dataclass(frozen=True)
class Row:
    onboarding_key: str
    name: str
    tier: str
    region: str
    stage: str
    stage_owner: str
    stage_owner_name: str
    owner: str
    activation_target: date
    clock: Clock
    checklist: str
    critical_open: int
    blockers: list[str]
    escalations: list[str]


@dataclass(frozen=True)
class ListPage:
    rows: list[Row]
    matching: int
    open: int
    past_sla: int
    at_risk: int
    blocked: int
    page: int
    pages: int


def account_list(store: Store, config: OnboardingConfig, filters: Filters, now: datetime) -> ListPage:
    """One page of open accounts matching ``filters``, most urgent first."""
    size = config.settings.board.page_size
    page_sql, counts_sql, params = list_sql(filters, size)
    params["now"] = now
    rows = store.query(page_sql, params)
    counts = store.query(counts_sql, params)[0]
    ids = [int(r["id"]) for r in rows]
    details = _details(store, ids)
    shown = clocks.figures(rows, config, now)
    names = {p.email: p.name for p in config.settings.people}
    out = []
    for r in rows:
        d = details.get(int(r["id"]), {})
        out.append(
            Row(
                onboarding_key=r["onboarding_key"],
                name=r["account_name"],
                tier=r["tier"],
                region=r["region"],
                stage=r["stage"],
                stage_owner=r["stage_owner_email"],
                stage_owner_name=names.get(r["stage_owner_email"], r["stage_owner_email"]),
                owner=r["owner_email"],
                activation_target=r["activation_target"],
                clock=_clock(shown.get(int(r["id"])), r, now),
                checklist=d.get("checklist", "not planned"),
                critical_open=int(d.get("critical_open", 0)),
                blockers=[*([r["blocked_reason"]] if r["blocked_reason"] else []), *d.get("failed", [])],
                escalations=d.get("escalations", []),
            )
        )
    matching = int(counts["matching"])
    return ListPage(
        rows=out,
        matching=matching,
        open=int(counts["open"]),
        past_sla=int(counts["past_sla"]),
        at_risk=int(counts["at_risk"]),
        blocked=int(counts["blocked"]),
        page=filters.page,
        pages=max(1, -(-matching // size)),
    )


def _details(store: Store, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Checklist progress, open escalations and failed setup steps of the page's accounts."""
    out: dict[int, dict[str, Any]] = {i: {} for i in ids}
    if not ids:
        return out
    for r in store.query(
        f"""SELECT onboarding_id, count(*) AS items,
                   count(*) FILTER (WHERE status IN {SETTLED_SQL}) AS done,
                   count(*) FILTER (WHERE status = '{ItemStatus.REJECTED}') AS rejected,
                   count(*) FILTER (WHERE critical AND status NOT IN {SETTLED_SQL}) AS critical_open
            FROM {SCHEMA}.checklist_items WHERE onboarding_id = ANY(%s) GROUP BY onboarding_id""",
        (list(ids),),
    ):
        rejected = f", {r['rejected']} not accepted" if r["rejected"] else ""
        out[r["onboarding_id"]]["checklist"] = f"{r['done']}/{r['items']} verified{rejected}"
        out[r["onboarding_id"]]["critical_open"] = r["critical_open"]
    for r in store.query(
        f"""SELECT onboarding_id, kind, level FROM {SCHEMA}.escalations
            WHERE onboarding_id = ANY(%s) AND resolved_at IS NULL ORDER BY raised_at, id""",
        (list(ids),),
    ):
        out[r["onboarding_id"]].setdefault("escalations", []).append(wording.escalation(r["kind"], r["level"]))
    for r in store.query(
        f"""SELECT onboarding_id, step_key, last_error FROM {SCHEMA}.setup_steps
            WHERE onboarding_id = ANY(%s) AND status = '{StepStatus.FAILED}' ORDER BY id""",
        (list(ids),),
    ):
        out[r["onboarding_id"]].setdefault("failed", []).append(f"setup step {r['step_key']} failed: {r['last_error']}")
    return out


def _clock(m: dict[str, Any] | None, row: dict[str, Any], now: datetime) -> Clock:
    """The clock shown for one account (:func:`include.board.clocks.figures`); past SLA and at risk as the
    board's order and filters judge them."""
    due, risk = row.get("sla_due_at"), row.get("risk_from")
    past = due is not None and due <= now
    at_risk = risk is not None and risk <= now
    if m is None or not m.get("planned"):
        return Clock("?", "no SLA", None, False, past, at_risk, None, planned=False)
    in_hours = str(m["sla_text"]).endswith("hours")  # told in the unit its SLA is given in
    return Clock(
        elapsed=wording.days(m["elapsed_seconds"], 3600.0 if in_hours else m["day_seconds"]),
        sla=str(m["sla_text"]),
        percent=round(m["sla_percent"], 0),
        stopped=bool(m["stopped"]),
        past_sla=past,
        at_risk=at_risk,
        days_to_target=m["business_days_to_target"],
    )


# --------------------------------------------------------------------------- one account


@dataclass
class Account:
    row: dict[str, Any]
    tier_name: str
    stage_owner_name: str
    owner_name: str
    run_url: str
    clock: Clock | None
    items: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    escalations: list[dict[str, Any]]
    mail: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    split: list[dict[str, Any]] = field(default_factory=list)
    split_total: str = "0"
    split_until: str = "now"


ACCOUNT_SQL = {
    "onboarding": f"SELECT * FROM {SCHEMA}.onboardings WHERE onboarding_key = %(key)s",
    "board_row": f"""SELECT sla_due_at, clock_started_at, clock_offset_seconds, risk_from FROM {SCHEMA}.board_accounts
                     WHERE onboarding_id = %(id)s""",
    "events": f"""SELECT id, occurred_at, event_type, stage, stage_owner, actor, details FROM {SCHEMA}.events
                  WHERE subject = %(key)s OR onboarding_id = %(id)s ORDER BY occurred_at, id""",
    "items": f"SELECT * FROM {SCHEMA}.checklist_items WHERE onboarding_id = %(id)s ORDER BY id",
    "submissions": f"""SELECT item_key, submission_id, submitted_at, value, verdict, reason, recorded_at
                       FROM {SCHEMA}.submissions WHERE onboarding_id = %(id)s ORDER BY recorded_at, id""",
    "approvals": f"SELECT * FROM {SCHEMA}.approvals WHERE onboarding_id = %(id)s ORDER BY id",
    "steps": f"""SELECT step_key, kind, status, external_id, external_url, attempts, sends, last_error, started_at,
                        completed_at, depends_on
                 FROM {SCHEMA}.setup_steps WHERE onboarding_id = %(id)s ORDER BY id""",
    "escalations": f"SELECT * FROM {SCHEMA}.escalations WHERE onboarding_id = %(id)s ORDER BY raised_at, id",
    "mail": f"""SELECT id, kind, to_email, to_name, subject, status, attempts, last_error, queued_at, sent_at
                FROM {SCHEMA}.outbox WHERE onboarding_id = %(id)s ORDER BY queued_at, id""",
}
"""The plain SQL behind one account's page (the measured SLA clock aside), by what it reads."""


def account(store: Store, config: OnboardingConfig, onboarding_key: str, now: datetime) -> Account | None:
    """Everything the board shows about one account; None when there is no such account."""
    rows = store.query(ACCOUNT_SQL["onboarding"], {"key": onboarding_key})
    if not rows:
        return None
    row = rows[0]
    oid = int(row["id"])
    params: dict[str, Any] = {"key": onboarding_key, "id": oid}
    names = {p.email: p.name for p in config.settings.people}
    tier = config.tiers.get(row["tier"])
    clock = None
    stored = store.query(ACCOUNT_SQL["board_row"], params) if row["status"] == "open" else []
    if stored:
        current = row | stored[0]
        clock = _clock(clocks.figures([current], config, now).get(oid), current, now)
    events = store.query(ACCOUNT_SQL["events"], params)
    found = Account(
        row=row,
        tier_name=tier.display_name if tier else row["tier"],
        stage_owner_name=names.get(row["stage_owner_email"], row["stage_owner_email"]),
        owner_name=names.get(row["owner_email"], row["owner_email"]),
        run_url=airflow_run(config.settings, row["tier"], row["run_id"] or run_id_for(onboarding_key)),
        clock=clock,
        items=_items(store, params),
        approvals=store.query(ACCOUNT_SQL["approvals"], params),
        steps=_steps(store, config, row["tier"], params),
        escalations=store.query(ACCOUNT_SQL["escalations"], params),
        mail=store.query(ACCOUNT_SQL["mail"], params),
        timeline=[{**e, "text": wording.sentence(e["event_type"], e["details"])} for e in events],
    )
    _add_split(found, config, events, now)
    return found


def _items(store: Store, params: dict[str, Any]) -> list[dict[str, Any]]:
    items = store.query(ACCOUNT_SQL["items"], params)
    submissions = store.query(ACCOUNT_SQL["submissions"], params)
    for item in items:
        item["submissions"] = [s for s in submissions if s["item_key"] == item["item_key"]]
    return items


def _steps(store: Store, config: OnboardingConfig, tier_key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    tier = config.tiers.get(tier_key)
    specs = {s.key: s for s in tier.setup_steps} if tier else {}
    steps = store.query(ACCOUNT_SQL["steps"], params)
    for step in steps:
        spec = specs.get(step["step_key"])
        step["label"] = spec.label if spec else step["step_key"]
        conn = spec.http.connection if spec and spec.kind is StepKind.HTTP and spec.http else None
        step["link"] = step_link(step["kind"], step["external_id"], step["external_url"], conn)
    return steps


def _add_split(found: Account, config: OnboardingConfig, events: list[dict[str, Any]], now: datetime) -> None:
    """Where the account's days went, signing to live (or now), in business days of its region."""
    row = found.row
    region = config.settings.regions.get(row["region"])
    if region is None:
        return
    wt = region_working_time(region)
    end = row["live_at"] or now
    facts = [time_split.fact(e) for e in events if e["event_type"] in time_split.EVENT_TYPES]
    seconds = time_split.split(facts, row["signed_at"], end, wt)
    total = sum(seconds.values())
    found.split = [
        {
            "category": c,
            "label": time_split.LABELS[c],
            "days": wording.days(seconds[c], wt.day_seconds),
            "percent": round(100.0 * seconds[c] / total) if total else 0,
            "share": round(100.0 * seconds[c] / total, 2) if total else 0.0,
        }
        for c in time_split.CATEGORIES
    ]
    found.split_total = wording.days(total, wt.day_seconds)
    found.split_until = "live" if row["live_at"] else "now"


# --------------------------------------------------------------------------- quarantine and runs


def quarantine(store: Store) -> list[dict[str, Any]]:
    """Signed orders waiting in quarantine, longest waiting first, each reason with how to fix it."""
    rows = store.query(
        f"""SELECT id, crm_source, crm_deal_id, order_number, reasons, payload, first_seen_at, last_seen_at,
                   seen_in_batches
            FROM {SCHEMA}.quarantined_orders WHERE status = '{QuarantineStatus.OPEN}' ORDER BY first_seen_at, id"""
    )
    for r in rows:
        props = (r["payload"] or {}).get("properties") if isinstance(r["payload"], dict) else None
        r["company"] = (props or {}).get("company_name") or (props or {}).get("dealname")
        r["problems"] = [
            {
                "field": str(p.get("field")),
                "problem": str(p.get("problem")),
                "fix": wording.quarantine_fix(str(p.get("field")), str(p.get("problem")), r["crm_deal_id"]),
            }
            for p in r["reasons"] or []
        ]
    return rows


def onboarding_key_for_run(dag_id: str, run_id: str) -> str | None:
    """The onboarding a tier DAG's run carries (run id ``onboarding__<onboarding key>``); None for any other run."""
    if tier_from_dag_id(dag_id) is None:
        return None
    return onboarding_key_from_run_id(run_id)


STAGES = [s.value for s in Stage]
