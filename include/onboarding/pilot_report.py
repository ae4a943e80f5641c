"""The brief's before/after table, measured: the baseline against onboardings under the automation.

Pure functions from pandas frames, checked by hand on a small history in the
tests.  Each metric is computed overall (scope ``all``) and, when the pilot
scope is narrower than every order, for the pilot (scope ``pilot``: baseline
rows and automated onboardings the scope admits; a field the baseline export
lacks is left out of the comparison).  Definitions (also in the README):

* **time to first value**: signing to first value in business days on the
  region's calendar (the days after the signing day through the day it
  happened).  Automated: first value is setup complete (``setup.completed``),
  as in ``reporting.account_time_to_value``; baseline: the export's first-value
  date.  Over the accounts that got there.
* **time to live**: signing to live, the same way.
* **manual touches per account**: baseline: the export's ``touches`` (status
  emails, manual checks).  Automated: what people had to do, for accounts that
  went live (complete onboardings, as the baseline's): audit events whose
  actor is a person (approvals, manual decisions) plus escalations raised.
  Reminders, invitations and notices the automation sends are not touches.
* **checklist completeness visible**: the share of accounts whose checklist
  status could be seen by account.  Baseline: rows with ``checklist_tracked``
  yes (0 when the export has no such column).  Automated: accounts with a
  checklist in the store.
* **escalation lag**: hours from the moment the escalation pass found an SLA
  breach or forecast one (``at_risk``) to the escalation raised, from
  ``onboarding.escalations``; exports have no such record, so there is no
  baseline figure.

A figure is ``enough`` when both sides (the automated side alone for the
escalation lag) have at least ``pilot.minimum_accounts`` accounts; below that
the summary says "not enough accounts yet (N of the minimum M)".
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd

from include.onboarding.calendar import by_region
from include.onboarding.config import PILOT_FIELDS, OnboardingConfig, PilotScope

COLUMNS = [
    "scope", "scope_name", "metric", "unit", "before_accounts", "before_median", "before_p75", "before_p90",
    "before_share_pct", "after_accounts", "after_median", "after_p75", "after_p90", "after_share_pct",
    "minimum_accounts", "enough", "note",
]  # fmt: skip
METRICS = {
    "time_to_first_value": ("business days", "first value: setup complete (automated), the export's date (before)"),
    "time_to_live": ("business days", "signing to live"),
    "manual_touches": ("touches per account", "after: actions by people and escalations, accounts gone live"),
    "checklist_visible": ("% of accounts", "accounts whose checklist completeness was visible by account"),
    "escalation_lag": ("hours", "SLA breach or at-risk forecast to escalation raised; not in baseline exports"),
}
LABELS = {
    "time_to_first_value": "Time to first value",
    "time_to_live": "Time to live",
    "manual_touches": "Manual touches per account",
    "checklist_visible": "Checklist completeness visible",
    "escalation_lag": "Escalation lag",
}
BASELINE_FIELDS = ("tier", "segment", "region")
"""The pilot fields a baseline export carries."""
SLA_KINDS = ("sla_breach", "at_risk")

BASELINE_COLUMNS = {
    "account": "object", "tier": "object", "segment": "object", "region": "object", "signed_on": "object",
    "first_value_on": "object", "live_on": "object", "touches": "float64", "checklist_tracked": "object",
}  # fmt: skip


def baseline_business_days(baseline: pd.DataFrame, config: OnboardingConfig) -> pd.DataFrame:
    """The baseline rows with business days to first value and to live on each region's calendar."""
    frame = cast(pd.DataFrame, baseline.copy())
    for column in BASELINE_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame["business_days_to_first_value"] = np.nan
    frame["business_days_to_live"] = np.nan
    if frame.empty:
        return frame
    for index, part, _, clock in by_region(frame, config.settings.regions):
        signed = _days(part["signed_on"])
        for source, target in (
            ("first_value_on", "business_days_to_first_value"),
            ("live_on", "business_days_to_live"),
        ):
            end = _days(part[source])
            present = ~np.isnat(end)
            out = np.full(len(part), np.nan)
            one = np.timedelta64(1, "D")
            out[present] = np.busday_count(
                signed[present] + one, end[present] + one, busdaycal=clock.calendar.busdaycal
            )
            frame.loc[index, target] = out
    return frame


def _days(values: pd.Series) -> np.ndarray:
    return np.asarray(pd.to_datetime(values).to_numpy(), dtype="datetime64[D]")


def _stats(values: pd.Series) -> tuple[int, float | None, float | None, float | None]:
    known = values.dropna().astype(float).to_numpy()
    if not len(known):
        return 0, None, None, None
    return (
        len(known),
        float(np.percentile(known, 50, method="linear")),
        float(np.percentile(known, 75, method="linear")),
        float(np.percentile(known, 90, method="linear")),
    )


def _share(flags: pd.Series) -> tuple[int, float | None]:
    if not len(flags):
        return 0, None
    return len(flags), round(100.0 * float(flags.astype(bool).sum()) / len(flags), 2)


def before_after(
    baseline: pd.DataFrame,
    accounts: pd.DataFrame,
    touches: pd.DataFrame,
    checklist: pd.DataFrame,
    escalations: pd.DataFrame,
    order_fields: pd.DataFrame,
    config: OnboardingConfig,
) -> pd.DataFrame:
    """The before/after rows, overall and for the pilot.

    ``accounts`` is ``account_time_to_value`` (with ``id``), ``touches`` is
    ``exception_touches`` (with ``id``), ``order_fields`` the automated
    onboardings' pilot fields by ``id``.
    """
    scope = config.settings.pilot
    if baseline.empty and order_fields.empty and accounts.empty:
        return cast(pd.DataFrame, pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS}))  # nothing to compare
    before = baseline_business_days(baseline, config)
    ids = pd.Series(dtype="int64") if order_fields.empty else order_fields["id"]
    scopes: list[tuple[str, str, pd.DataFrame, set[Any]]] = [("all", "every signed order", before, set(ids))]
    if not scope.takes_everything:
        scopes.append(("pilot", scope.name, _admitted_baseline(before, scope), _admitted_ids(order_fields, scope)))
    rows = []
    for name, label, base, chosen in scopes:
        rows.extend(_rows(name, label, base, chosen, accounts, touches, checklist, escalations, scope.minimum_accounts))
    return cast(pd.DataFrame, pd.DataFrame(rows, columns=COLUMNS))


def _admitted_baseline(before: pd.DataFrame, scope: PilotScope) -> pd.DataFrame:
    if before.empty:
        return before
    mask = [scope.admits(row, known=BASELINE_FIELDS) for row in before[list(BASELINE_FIELDS)].to_dict("records")]
    return cast(pd.DataFrame, before[np.asarray(mask, dtype=bool)])


def _admitted_ids(order_fields: pd.DataFrame, scope: PilotScope) -> set[Any]:
    if order_fields.empty:
        return set()
    fields = [f for f in PILOT_FIELDS if f in order_fields.columns]
    records = order_fields[["id", *fields]].to_dict("records")
    return {r["id"] for r in records if scope.admits(r, known=fields)}


def _rows(
    scope: str,
    label: str,
    base: pd.DataFrame,
    chosen: set[Any],
    accounts: pd.DataFrame,
    touches: pd.DataFrame,
    checklist: pd.DataFrame,
    escalations: pd.DataFrame,
    minimum: int,
) -> list[tuple[Any, ...]]:
    mine = accounts[accounts["id"].isin(chosen)] if not accounts.empty else accounts
    live_touches = touches[touches["id"].isin(chosen) & (touches["status"] == "live")] if not touches.empty else touches
    with_checklist = set(checklist["onboarding_id"]) if not checklist.empty else set()
    sla = escalations[escalations["kind"].isin(SLA_KINDS) & escalations["onboarding_id"].isin(chosen)] if not (
        escalations.empty
    ) else escalations  # fmt: skip
    out = []

    def add(metric: str, before: tuple[Any, ...], after: tuple[Any, ...], baseline_known: bool = True) -> None:
        unit, note = METRICS[metric]
        enough = after[0] >= minimum and (before[0] >= minimum or not baseline_known)
        out.append((scope, label, metric, unit, *before, *after, minimum, bool(enough), note))

    def column(frame: pd.DataFrame, name: str) -> pd.Series:
        return frame[name] if name in frame.columns else pd.Series(dtype="float64")

    add("time_to_first_value", (*_stats(column(base, "business_days_to_first_value")), None),
        (*_stats(column(mine, "business_days_to_first_value")), None))  # fmt: skip
    add("time_to_live", (*_stats(column(base, "business_days_to_live")), None),
        (*_stats(column(mine, "business_days_to_live")), None))  # fmt: skip
    add("manual_touches", (*_stats(column(base, "touches")), None), (*_stats(column(live_touches, "touches")), None))
    tracked = column(base, "checklist_tracked").map(lambda v: v is True)
    count, share = _share(tracked)
    after_count, after_share = _share(pd.Series([i in with_checklist for i in sorted(chosen)], dtype=bool))
    add("checklist_visible", (count, None, None, None, share), (after_count, None, None, None, after_share))
    lag = (pd.to_datetime(column(sla, "raised_at"), utc=True) - pd.to_datetime(column(sla, "breach_at"), utc=True)) / (
        pd.Timedelta(hours=1)
    )
    n, median, p75, p90 = _stats(lag)
    lag_accounts = int(sla["onboarding_id"].nunique()) if n else 0
    add("escalation_lag", (0, None, None, None, None), (lag_accounts, median, p75, p90, None), baseline_known=False)
    return out


def not_enough(row: dict[str, Any]) -> str | None:
    """Why a row's figure is not shown yet, or ``None`` when it is."""
    if row["enough"]:
        return None
    minimum = int(row["minimum_accounts"])
    short = [
        f"{side} {int(row[f'{side}_accounts'])} of the minimum {minimum}"
        for side in ("before", "after")
        if int(row[f"{side}_accounts"]) < minimum and not (side == "before" and row["metric"] == "escalation_lag")
    ]
    return "not enough accounts yet (" + "; ".join(short) + ")"
