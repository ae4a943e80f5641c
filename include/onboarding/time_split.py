"""Where the days went: an account's elapsed business time, split by what it was waiting on.

Leadership's question is why two similar accounts took two weeks and two
months.  From the audit trail alone (``onboarding.events``), every moment
between signing and going live (or now, for an open account) goes to exactly
one of these, the first that applies in this order:

``customer``
    waiting on the customer: from the checklist request until every critical
    input is verified (or waived);
``approvals``
    waiting on internal approvals: from when they were asked for (the account's
    plan) until the last one was decided;
``failures``
    failures and retries: from a setup call that failed until that step
    completed, from a readiness gate that refused until it passed, from a
    failure escalation (a task that gave up) until it was resolved;
``setup``
    setup and vendor work: from the first setup call until live (ticket,
    billing, tenant and users, provisioning, the customer notice, the handoff);
``idle``
    idle between stages: everything else (the pickup after signing, planning,
    the wait between the last input or approval and the first setup call).

The customer comes first: while a critical input is out the account cannot
move whatever else happens.  Time is business time, working hours on the
account's region calendar (the unit of the stage SLAs), so the five add up to
the account's elapsed business time.

Everything here is pure: :func:`intervals` and :func:`segments` read
:class:`Fact` records (one per audit event, :func:`fact` builds them from event
rows), :func:`split` and :func:`split_many` add business time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import numpy as np
import pandas as pd

from include.onboarding.calendar import WorkingTime, region_working_time
from include.onboarding.config import Region
from include.onboarding.events import EventType

CATEGORIES = ("customer", "approvals", "failures", "setup", "idle")
"""In order of precedence: a moment two of them claim goes to the earlier."""

LABELS = {
    "customer": "Waiting on the customer",
    "approvals": "Waiting on internal approvals",
    "failures": "Failures and retries",
    "setup": "Setup and vendor work",
    "idle": "Idle between stages",
}

SETUP_STAGES = frozenset({"setup", "provisioning", "customer_communication", "handoff"})
EVENT_TYPES = (
    EventType.CHECKLIST_PLANNED, EventType.CHECKLIST_REQUESTED, EventType.INPUT_VERIFIED, EventType.INPUT_WAIVED,
    EventType.APPROVAL_APPROVED, EventType.APPROVAL_REJECTED, EventType.SETUP_STEP_FAILED,
    EventType.SETUP_STEP_COMPLETED, EventType.GATE_BLOCKED, EventType.GATE_PASSED, EventType.ESCALATION_RAISED,
    EventType.ESCALATION_RESOLVED, EventType.STAGE_ENTERED, EventType.ONBOARDING_LIVE,
)  # fmt: skip
"""The audit events the split reads (escalations only of kind ``failure``)."""

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Fact:
    """What the split needs of one audit event."""

    type: str
    at: datetime
    stage: str | None = None
    ref: str | None = None
    """The item, approval, step or escalation id the event is about."""
    critical: bool | None = None
    kind: str | None = None
    """An escalation's kind."""
    critical_items: tuple[str, ...] = ()
    """``checklist.planned``: the critical items of the plan."""
    approvals: tuple[str, ...] = field(default_factory=tuple)
    """``checklist.planned``: the approvals of the plan."""


def fact(event: Mapping[str, Any]) -> Fact:
    """A :class:`Fact` from an ``onboarding.events`` row (``event_type``, ``occurred_at``, ``stage``, ``details``)."""
    d = event.get("details") or {}
    ref = d.get("item") or d.get("approval") or d.get("step") or d.get("escalation_id")
    critical = d.get("critical")
    return Fact(
        type=str(event["event_type"]),
        at=event["occurred_at"],
        stage=event.get("stage"),
        ref=None if ref is None else str(ref),
        critical=None if critical is None else bool(critical),
        kind=d.get("kind"),
        critical_items=tuple(
            str(i.get("key")) for i in d.get("items") or () if isinstance(i, dict) and i.get("critical")
        ),
        approvals=tuple(str(a) for a in d.get("approvals") or ()),
    )


# --------------------------------------------------------------------------- what was waiting when


def intervals(facts: Iterable[Fact], end: datetime) -> dict[str, list[Interval]]:
    """Per category (but ``idle``), the stretches the account was in it; open stretches run to ``end``."""
    ordered = sorted(facts, key=lambda f: f.at)
    return {
        "customer": _customer(ordered, end),
        "approvals": _approvals(ordered, end),
        "failures": _failures(ordered, end),
        "setup": _setup(ordered, end),
    }


def _plan(facts: Sequence[Fact]) -> Fact | None:
    return next((f for f in facts if f.type == EventType.CHECKLIST_PLANNED), None)


def _customer(facts: Sequence[Fact], end: datetime) -> list[Interval]:
    requested = next((f.at for f in facts if f.type == EventType.CHECKLIST_REQUESTED), None)
    if requested is None:
        return []
    plan = _plan(facts)
    critical = set(plan.critical_items) if plan else {f.ref for f in facts if f.critical and f.ref}
    settled: dict[str, datetime] = {}
    for f in facts:
        if f.type in (EventType.INPUT_VERIFIED, EventType.INPUT_WAIVED) and f.ref in critical:
            settled.setdefault(f.ref, f.at)
    if not critical:
        return []
    done = max(settled.values()) if set(settled) >= critical else end
    return [(requested, max(done, requested))]


def _approvals(facts: Sequence[Fact], end: datetime) -> list[Interval]:
    plan = _plan(facts)
    wanted = set(plan.approvals) if plan else set()
    entered = next((f.at for f in facts if f.type == EventType.STAGE_ENTERED and f.stage == "approvals"), None)
    if not wanted and entered is None:
        return []
    asked = plan.at if plan and wanted else entered
    assert asked is not None
    decided: dict[str, datetime] = {}
    for f in facts:
        if f.type in (EventType.APPROVAL_APPROVED, EventType.APPROVAL_REJECTED) and f.ref:
            decided.setdefault(f.ref, f.at)
    wanted = wanted or set(decided)
    done = max(decided.values()) if wanted and set(decided) >= wanted else end
    return [(asked, max(done, asked))]


def _failures(facts: Sequence[Fact], end: datetime) -> list[Interval]:
    """From each failure until what ends it: the step completing, the gate passing, the escalation resolved."""
    out = []
    for i, f in enumerate(facts):
        if f.type == EventType.SETUP_STEP_FAILED:
            until = _next(facts, i, lambda g, ref=f.ref: g.type == EventType.SETUP_STEP_COMPLETED and g.ref == ref)
        elif f.type == EventType.GATE_BLOCKED:
            until = _next(facts, i, lambda g: g.type == EventType.GATE_PASSED)
        elif f.type == EventType.ESCALATION_RAISED and f.kind == "failure":
            until = _next(facts, i, lambda g, ref=f.ref: g.type == EventType.ESCALATION_RESOLVED and g.ref == ref)
        else:
            continue
        out.append((f.at, until or end))
    return out


def _next(facts: Sequence[Fact], after: int, ends: Any) -> datetime | None:
    return next((g.at for g in facts[after + 1 :] if ends(g)), None)


def _setup(facts: Sequence[Fact], end: datetime) -> list[Interval]:
    began = next((f.at for f in facts if f.type == EventType.STAGE_ENTERED and f.stage in SETUP_STAGES), None)
    if began is None:
        return []
    live = next((f.at for f in facts if f.type == EventType.ONBOARDING_LIVE), None)
    return [(began, live or end)]


def segments(claims: Mapping[str, Sequence[Interval]], start: datetime, end: datetime) -> list[tuple[str, Interval]]:
    """``[start, end]`` cut where any claim begins or ends, each piece given to the first category claiming it."""
    cuts = {start, end}
    for stretches in claims.values():
        for a, b in stretches:
            cuts.update(t for t in (a, b) if start < t < end)
    points = sorted(cuts)
    out: list[tuple[str, Interval]] = []
    for a, b in zip(points, points[1:], strict=False):
        category = next(
            (c for c in CATEGORIES[:-1] if any(s <= a and b <= e for s, e in claims.get(c, ()))), CATEGORIES[-1]
        )
        if out and out[-1][0] == category and out[-1][1][1] == a:
            out[-1] = (category, (out[-1][1][0], b))  # one stretch, not one per cut
        else:
            out.append((category, (a, b)))
    return out


# --------------------------------------------------------------------------- business time


def split(facts: Iterable[Fact], start: datetime, end: datetime, wt: WorkingTime) -> dict[str, float]:
    """Business seconds per category (all of :data:`CATEGORIES`) from ``start`` to ``end``."""
    pieces = segments(intervals(facts, end), start, end) if end > start else []
    totals = dict.fromkeys(CATEGORIES, 0.0)
    if pieces:
        starts = pd.to_datetime([a for _, (a, _) in pieces], utc=True)  # instants may come in several zones
        seconds = wt.elapsed(starts, pd.to_datetime([b for _, (_, b) in pieces], utc=True))
        for (category, _), value in zip(pieces, seconds, strict=True):
            totals[category] += float(value)
    return totals


def split_many(
    accounts: pd.DataFrame, facts: Mapping[int, Sequence[Fact]], regions: Mapping[str, Region]
) -> pd.DataFrame:
    """:func:`split` for many accounts at once, in business days of each account's region.

    ``accounts`` has ``id``, ``region``, ``start`` and ``end`` (UTC instants);
    ``facts`` the account's facts by id.  Returns ``id`` and one column per
    category plus ``elapsed``, business days; accounts of an unknown region are left out.
    """
    rows: list[tuple[int, str, str, datetime, datetime]] = []
    starts = list(pd.to_datetime(accounts["start"], utc=True).dt.to_pydatetime())
    ends = list(pd.to_datetime(accounts["end"], utc=True).dt.to_pydatetime())
    for oid, region, start, end in zip(accounts["id"].tolist(), accounts["region"].tolist(), starts, ends, strict=True):
        if end <= start:
            continue
        for category, (a, b) in segments(intervals(facts.get(int(oid), ()), end), start, end):
            rows.append((int(oid), str(region), category, a, b))
    pieces = pd.DataFrame(rows, columns=["id", "region", "category", "a", "b"])
    known = accounts[accounts["region"].isin(list(regions))]["id"].astype("int64")
    if pieces.empty:
        empty = pd.DataFrame(0.0, index=pd.Index(known, name="id"), columns=[*CATEGORIES, "elapsed"])
        return cast(pd.DataFrame, empty.reset_index())
    pieces["days"] = np.nan
    for region_key, index in pieces.groupby("region").groups.items():
        region = regions.get(str(region_key))
        if region is None:
            continue
        wt = region_working_time(region)
        part = pieces.loc[index]
        pieces.loc[index, "days"] = wt.elapsed(part["a"], part["b"]) / wt.day_seconds
    pieces = pieces.dropna(subset=["days"])
    table = pieces.pivot_table(index="id", columns="category", values="days", aggfunc="sum", fill_value=0.0)
    out = table.reindex(columns=list(CATEGORIES), fill_value=0.0)
    out = out.reindex(pd.Index(known, name="id"), fill_value=0.0).reset_index()
    out["elapsed"] = out[list(CATEGORIES)].sum(axis=1)
    return cast(pd.DataFrame, out)
