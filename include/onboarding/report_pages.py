"""Charts (PNG) and a one-page HTML summary of a report date's metric tables.

Files go to ``<reports dir>/<report date>/``: ``summary.html``,
``time_to_value_by_tier.png``, ``stage_bottlenecks.png``,
``sla_attainment_trend.png``, ``where_the_days_went.png`` and, once both sides
have enough accounts, ``before_after.png``.  The summary opens with the
before/after table of the pilot.  A chart with nothing to show is not drawn; the
summary says why instead of showing an empty or made-up picture.
"""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from include.onboarding import pilot_report, time_split
from include.onboarding.config import reports_dir
from include.onboarding.reporting import ALL_WEEKS

CHARTS = {
    "time_to_value_by_tier.png": "Time to live by tier (business days)",
    "stage_bottlenecks.png": "Where accounts wait: business days spent per stage",
    "sla_attainment_trend.png": "SLA attainment by week the stage ended",
    "where_the_days_went.png": "Where the days went: business days per account, by tier",
}
BEFORE_AFTER_CHART = "before_after.png"
"""The before/after chart, drawn only once both sides have enough accounts (not one of :data:`CHARTS`)."""
SPLIT_COLORS = {"customer": "#e0a030", "approvals": "#8e6cc8", "failures": "#c8453c", "setup": "#3a8fc8",
                "idle": "#b8bec8"}  # fmt: skip


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path) -> None:
    """Write one chart and free its memory."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_charts(tables: dict[str, pd.DataFrame], out: Path) -> dict[str, str | None]:
    """Draw each chart that has data; return file name -> None (drawn) or why it was not."""
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    skipped: dict[str, str | None] = {}

    accounts = tables["account_time_to_value"]
    live = accounts.dropna(subset=["business_days_to_live"]) if not accounts.empty else accounts
    if live.empty:
        skipped["time_to_value_by_tier.png"] = "no account has gone live yet"
    else:
        tiers = sorted(live["tier"].unique())
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.boxplot(
            [live.loc[live["tier"] == t, "business_days_to_live"].astype(float) for t in tiers],
            tick_labels=tiers,
            showmeans=True,
        )
        ax.set_ylabel("business days, signed to live")
        ax.set_title(CHARTS["time_to_value_by_tier.png"])
        _save(plt, fig, out / "time_to_value_by_tier.png")
        skipped["time_to_value_by_tier.png"] = None

    bottlenecks = tables["stage_bottlenecks"]
    overall = bottlenecks[bottlenecks["tier"] == "all"] if not bottlenecks.empty else bottlenecks
    if overall.empty:
        skipped["stage_bottlenecks.png"] = "no stage has been entered yet"
    else:
        ordered = overall.sort_values("total_business_days")
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.barh(ordered["stage"], ordered["total_business_days"].astype(float), color="#c0504d")
        for y, (total, longest) in enumerate(
            zip(ordered["total_business_days"], ordered["times_longest"], strict=True)
        ):
            ax.text(float(total), y, f"  longest for {int(longest)}", va="center", fontsize=8)
        ax.set_xlabel("business days, all accounts")
        ax.set_title(CHARTS["stage_bottlenecks.png"])
        _save(plt, fig, out / "stage_bottlenecks.png")
        skipped["stage_bottlenecks.png"] = None

    sla = tables["sla_attainment"]
    weekly = sla[(sla["tier"] == "all") & (sla["week"] != ALL_WEEKS)] if not sla.empty else sla
    if weekly.empty:
        skipped["sla_attainment_trend.png"] = "no stage has ended yet"
    else:
        fig, ax = plt.subplots(figsize=(7, 4))
        for stage, part in weekly.groupby("stage"):
            part = part.sort_values("week")
            ax.plot(pd.to_datetime(part["week"]), part["attainment_pct"].astype(float), marker="o", label=str(stage))
        ax.set_ylim(0, 105)
        ax.set_ylabel("% of stages within SLA")
        ax.set_title(CHARTS["sla_attainment_trend.png"])
        ax.legend(fontsize=7, loc="lower left")
        fig.autofmt_xdate()
        _save(plt, fig, out / "sla_attainment_trend.png")
        skipped["sla_attainment_trend.png"] = None
    skipped["where_the_days_went.png"] = _draw_split(plt, tables["time_split"], out / "where_the_days_went.png")
    return skipped


def split_by_tier(split: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """(status, mean business days per account by category, one row per tier and 'all'): live accounts when any
    went live, else the open ones so far."""
    if split.empty:
        return "", pd.DataFrame()
    status = "live" if (split["status"] == "live").any() else "open"
    rows = split[(split["status"] == status) & split["dimension"].isin(["all", "tier"])]
    table = rows.pivot_table(index="value", columns="category", values="mean_business_days", aggfunc="sum")
    table = table.reindex(columns=list(time_split.CATEGORIES), fill_value=0.0).fillna(0.0)
    accounts = rows.groupby("value")["accounts"].max()
    table.insert(0, "accounts", accounts.reindex(table.index).astype(int))
    order = ["all", *sorted(v for v in table.index if v != "all")]
    return status, table.reindex([v for v in order if v in table.index])


def _draw_split(plt: Any, split: pd.DataFrame, path: Path) -> str | None:
    """Stacked bars: per tier, the mean business days an account spent in each category."""
    status, table = split_by_tier(split)
    if table.empty:
        return "no account has any business time behind it yet"
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(table) + 1.6))
    left = pd.Series(0.0, index=table.index)
    for category in time_split.CATEGORIES:
        values = table[category].astype(float)
        ax.barh(table.index, values, left=left, color=SPLIT_COLORS[category], label=time_split.LABELS[category])
        left = left + values
    ax.invert_yaxis()
    ax.set_xlabel(f"business days per account ({status} accounts)")
    ax.set_title(CHARTS["where_the_days_went.png"])
    ax.legend(fontsize=7, loc="lower right")
    _save(plt, fig, path)
    return None


def before_after_rows(table: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """(scope, rows in the metrics' order) of the pilot when there is one, else of every order."""
    if table.empty:
        return "", table
    scope = "pilot" if (table["scope"] == "pilot").any() else "all"
    rows = table[table["scope"] == scope].set_index("metric")
    return scope, rows.reindex([m for m in pilot_report.METRICS if m in rows.index]).reset_index()


def draw_before_after(tables: dict[str, pd.DataFrame], out: Path) -> str | None:
    """Median (bar) and p75-p90 (line) business days before and after, for first value and live.

    Drawn only for the measures with enough accounts on both sides; returns why it was not drawn.
    """
    table = tables.get("pilot_before_after", pd.DataFrame())
    _, rows = before_after_rows(table)
    if rows.empty:
        return "no baseline and no onboardings to compare yet"
    shown = rows[rows["metric"].isin(["time_to_first_value", "time_to_live"]) & rows["enough"].astype(bool)]
    if shown.empty:
        return "not enough accounts yet on both sides"
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels = [pilot_report.LABELS[m] for m in shown["metric"]]
    for offset, side, color in ((-0.2, "before", "#b8bec8"), (0.2, "after", "#3a8fc8")):
        y = [i + offset for i in range(len(shown))]
        ax.barh(y, shown[f"{side}_median"].astype(float), height=0.38, color=color,
                label=f"{side} (median; line p75 to p90)")  # fmt: skip
        ax.hlines(y, shown[f"{side}_p75"].astype(float), shown[f"{side}_p90"].astype(float), color="#333")
        for yy, median, n in zip(y, shown[f"{side}_median"], shown[f"{side}_accounts"], strict=True):
            ax.text(float(median), yy, f"  {float(median):.1f} ({int(n)} accounts)", va="center", fontsize=8)
    ax.set_yticks(range(len(shown)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("business days from signing")
    ax.set_title(f"Before and after: {shown['scope_name'].iloc[0]}")
    ax.legend(fontsize=7, loc="lower right")
    _save(plt, fig, out / BEFORE_AFTER_CHART)
    return None


def describe_side(row: dict[Any, Any], side: str) -> str:
    """One side (``before`` or ``after``) of a before/after row as people read it, or why there is no figure."""
    accounts = int(row[f"{side}_accounts"])
    if side == "before" and row["metric"] == "escalation_lag":
        return "not recorded before the automation"
    if accounts < int(row["minimum_accounts"]):
        return f"not enough accounts yet ({accounts} of the minimum {int(row['minimum_accounts'])})"
    if row["metric"] == "checklist_visible":
        return f"{_fmt(float(row[f'{side}_share_pct']))}% of {accounts} accounts"
    return (
        f"median {_fmt(float(row[f'{side}_median']))}, p75 {_fmt(float(row[f'{side}_p75']))},"
        f" p90 {_fmt(float(row[f'{side}_p90']))} ({accounts} accounts)"
    )


def before_after_section(tables: dict[str, pd.DataFrame], chart: str | None) -> tuple[str, str]:
    """(title, HTML) of the brief's before/after table: the first section of the summary."""
    table = tables.get("pilot_before_after", pd.DataFrame())
    scope, rows = before_after_rows(table)
    if rows.empty:
        return "Before and after", (
            "<p class='none'>Nothing to compare yet: import the baseline (python -m include.onboarding.baseline"
            " import-baseline FILE) and let onboardings run.</p>"
        )
    name = str(rows["scope_name"].iloc[0])
    minimum = int(rows["minimum_accounts"].iloc[0])
    head = "<tr><th>measure</th><th>unit</th><th>before (baseline)</th><th>after (automation)</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(pilot_report.LABELS[r['metric']])}</td><td>{html.escape(str(r['unit']))}</td>"
        f"<td>{html.escape(describe_side(r, 'before'))}</td><td>{html.escape(describe_side(r, 'after'))}</td></tr>"
        for r in rows.to_dict("records")
    )
    where = "the pilot" if scope == "pilot" else "every signed order"
    intro = (
        f"<p>For {where}: <b>{html.escape(name)}</b>. Business days on each account's regional calendar;"
        " first value is setup complete for automated onboardings and the export's first-value date before."
        f" A figure is shown once a side has at least {minimum} accounts. Overall figures are in"
        " <code>reporting.pilot_before_after</code>.</p>"
    )
    picture = (
        f"<figure><img src='{BEFORE_AFTER_CHART}' alt='Before and after'></figure>"
        if chart is None
        else f"<p class='none'>Before/after chart: not drawn, {html.escape(chart)}.</p>"
    )
    return f"Before and after: {name}", f"{intro}<table>{head}{body}</table>{picture}"


def _table(frame: pd.DataFrame, columns: list[str], limit: int = 15) -> str:
    if frame.empty:
        return "<p class='none'>None.</p>"
    shown = frame[columns].head(limit)
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in shown.itertuples(index=False, name=None)
    )
    more = f"<p class='none'>{len(frame) - limit} more in the table.</p>" if len(frame) > limit else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _split_section(split: pd.DataFrame) -> tuple[str, str]:
    status, table = split_by_tier(split)
    title = f"Where the days went ({status} accounts, business days per account)" if status else "Where the days went"
    if table.empty:
        return title, _table(table, [])
    shown = table.reset_index().rename(columns={"value": "tier", **time_split.LABELS})
    return title, _table(shown, list(shown.columns), 30)


def customer_response_section(tables: dict[str, pd.DataFrame]) -> tuple[str, str]:
    """(title, HTML) of how customers respond: reminders, and business days to first and corrected answers."""
    columns = [
        "tier", "checklists_requested", "reminders_sent", "reminders_answered",
        "median_business_days_reminder_to_submission", "first_submissions", "awaiting_first_submission",
        "median_business_days_to_first_submission", "p90_business_days_to_first_submission", "rejections",
        "resubmitted", "median_business_days_to_resubmission",
    ]  # fmt: skip
    note = (
        "<p class='none'>Business days of working time on each account's regional calendar: from the checklist"
        " request to the first submission, from a rejected input to the item sent again, and from a reminder"
        " email to the account's next submission.</p>"
    )
    return "Customer response (business days)", note + _table(tables["customer_response"], columns)


def write_summary(
    tables: dict[str, pd.DataFrame],
    report_date: date,
    out: Path,
    charts: dict[str, str | None],
    before_after_chart: str | None = "not drawn",
) -> Path:
    """The one-page summary linking the charts, the before/after table first; honest about what is not known yet."""
    accounts = tables["account_time_to_value"]
    live = int((accounts["status"] == "live").sum()) if not accounts.empty else 0
    open_ = int((accounts["status"] == "open").sum()) if not accounts.empty else 0
    summary = tables["time_to_value_summary"]
    by_tier = (
        summary[(summary["dimension"] == "tier") & (summary["unit"] == "business_days")]
        if not summary.empty
        else summary
    )
    sla = tables["sla_attainment"]
    sla_all = sla[(sla["tier"] == "all") & (sla["week"] == ALL_WEEKS)] if not sla.empty else sla
    touches = tables["exception_touches"]
    avg_touch = f"{touches['touches'].mean():.1f}" if not touches.empty else "no accounts yet"
    chart_html = "".join(
        f"<figure><img src='{name}' alt='{html.escape(title)}'><figcaption>{html.escape(title)}</figcaption></figure>"
        if charts.get(name) is None
        else f"<p class='none'>{html.escape(title)}: not drawn, {html.escape(str(charts[name]))}.</p>"
        for name, title in CHARTS.items()
    )

    def rows(frame: pd.DataFrame, **equal: Any) -> pd.DataFrame:
        for column, value in equal.items():
            if frame.empty:
                return frame
            frame = frame[frame[column] == value]
        return frame

    ttv_columns = ["value", "accounts", "median", "p75", "p90"]
    sections = [
        before_after_section(tables, before_after_chart),
        ("Time to live by tier (business days)", _table(rows(by_tier, measure="live"), ttv_columns)),
        ("Time to first value by tier (business days)", _table(rows(by_tier, measure="first_value"), ttv_columns)),
        ("Charts", chart_html),
        (
            "Bottlenecks (all tiers)",
            _table(
                rows(tables["stage_bottlenecks"], tier="all"),
                [
                    "rank",
                    "stage",
                    "times_longest",
                    "median_business_days",
                    "p90_business_days",
                    "accounts_in_stage_now",
                ],
            ),
        ),
        ("SLA attainment (all tiers, all weeks)", _table(sla_all, ["stage", "completed", "met", "attainment_pct"])),
        (
            "Escalation lag",
            _table(
                tables["escalation_lag"],
                ["kind", "escalations", "open", "median_breach_to_escalation_min", "median_escalation_to_resolution_h"],
            ),
        ),
        (
            "Blocked or escalated accounts",
            _table(
                tables["blocked_accounts"],
                [
                    "onboarding_key",
                    "account_name",
                    "tier",
                    "stage",
                    "owner_email",
                    "days_blocked",
                    "days_to_target",
                    "reason",
                ],
                25,
            ),  # fmt: skip
        ),
        (
            "Checklist completeness of open accounts",
            _table(
                tables["checklist_completeness"],
                ["onboarding_key", "tier", "stage", "items", "verified", "rejected", "missing", "critical_outstanding"],
                25,
            ),
        ),
        customer_response_section(tables),
        ("Throughput per week", _table(tables["throughput_weekly"], ["week", "started", "completed"], 30)),
        _split_section(tables["time_split"]),
    ]
    body = "\n".join(f"<h2>{html.escape(title)}</h2>\n{content}" for title, content in sections)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Onboarding report {report_date}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: .5em 0 1.5em; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 7px; text-align: left; }}
th {{ background: #f2f2f2; }} .none {{ color: #777; }} figure {{ display: inline-block; margin: 0 1em 1em 0; }}
.kpi {{ display: inline-block; margin-right: 2em; font-size: 18px; }}
</style></head><body>
<h1>Customer onboarding: report for {report_date}</h1>
<p><span class="kpi"><b>{live}</b> live</span><span class="kpi"><b>{open_}</b> open</span>
<span class="kpi"><b>{len(tables["blocked_accounts"])}</b> blocked or escalated</span>
<span class="kpi"><b>{avg_touch}</b> exception touches per account</span></p>
{body}
<p class="none">Every figure is in the <code>reporting</code> schema of the onboarding database,
keyed by report_date.</p>
</body></html>
"""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "summary.html"
    path.write_text(page, encoding="utf-8")
    return path


def render(tables: dict[str, pd.DataFrame], report_date: date, root: Path | None = None) -> Path:
    """Charts and summary for one report date; returns the summary's path."""
    out = (root or reports_dir()) / report_date.isoformat()
    charts = draw_charts(tables, out)
    return write_summary(tables, report_date, out, charts, draw_before_after(tables, out))
