"""``make bench``: run the benchmarks, write bench/results.json, print a table.

``python -m bench [name ...]`` runs only the named ones.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from datetime import datetime, timezone
from typing import Any

from bench import board, dag_parse, escalation_pass, intake, portal, reminders, reporting, scheduler, triggerer

BENCHMARKS = {
    "dag_parse": dag_parse.run,
    "escalation_pass": escalation_pass.run,
    "reminders": reminders.run,
    "reporting": reporting.run,
    "intake": intake.run,
    "portal": portal.run,
    "board": board.run,
    "scheduler": scheduler.run,
    "triggerer": triggerer.run,
}


def _rows(name: str, result: dict[str, Any]) -> list[tuple[str, str, str]]:
    if name == "escalation_pass":
        n = result["seeded"]["onboardings"]
        first, steady = result["first_pass"], result["steady_pass"]
        raised = sum(first["summary"]["raised"].values())
        return [
            (f"escalation pass, first ({n:,} open, {raised:,} raised)", f"{first['pass_seconds']:.2f} s",
             f"peak {first['peak_rss_mib']:.0f} MiB (imports alone {result['imports_only_peak_rss_mib']:.0f} MiB)"),
            (f"escalation pass, steady state ({n:,} open)", f"{steady['pass_seconds']:.2f} s",
             f"peak {steady['peak_rss_mib']:.0f} MiB; target < 5 s, < 1 GiB"),
        ]  # fmt: skip
    if name == "reminders":
        n = result["seeded"]["onboardings"]
        find, first, again = result["find"], result["first_pass"], result["same_instant_again"]
        return [
            (f"customer reminders, finding who is due ({n:,} open, {find['summary']['due']:,} due)",
             f"{find['seconds']:.2f} s", f"peak {find['peak_rss_mib']:.0f} MiB; target < 5 s, < 1 GiB"),
            ("  floor: the waiting accounts' query alone", f"{find['query_seconds']:.2f} s",
             f"{find['waiting_rows']:,} accounts waiting on the customer"),
            (f"customer reminders, first pass ({first['summary']['queued']} queued)", f"{first['seconds']:.2f} s",
             f"{result['ms_per_reminder_queued']} ms per reminder (link, outbox, audit); "
             f"same instant again: {again['summary']['queued']} more in {again['seconds']:.2f} s, none twice"),
        ]  # fmt: skip
    if name == "dag_parse":
        floor = result["empty_dag_file"]["seconds"]
        task = result["task_process"]
        tier, base = task["tier_file"], task["floor_same_shape"]
        return [
            ("DAG parse, all files, 3 tiers", f"{result['three_tiers']['seconds']:.2f} s",
             f"ratio {result['ratio_three_to_floor']:.0f}x to an empty DAG file ({floor * 1000:.1f} ms)"),
            ("DAG parse, all files, 30 tiers", f"{result['thirty_tiers']['seconds']:.2f} s",
             f"ratio {result['ratio_thirty_to_floor']:.0f}x; target < 1 s"),
            (f"DAG parse in a task process ({task['dag_id']}, one DAG)", f"{tier['seconds'] * 1000:.0f} ms",
             f"min {tier['min_seconds'] * 1000:.0f} / max {tier['max_seconds'] * 1000:.0f} ms over "
             f"{len(tier['all_seconds'])} runs; target < 100 ms idle"),
            ("  floor: no-op DAG file of the same shape", f"{base['seconds'] * 1000:.0f} ms",
             f"min {base['min_seconds'] * 1000:.0f} / max {base['max_seconds'] * 1000:.0f} ms; "
             f"ratio {task['ratio_to_floor']:.1f}x"),
        ]  # fmt: skip
    if name == "reporting":
        seeded, report, floor = result["seeded"], result["report"], result["floor_sql_median"]
        return [
            (f"reporting ({seeded['events']:,} events, {seeded['onboardings']:,} onboardings)",
             f"{report['seconds']:.2f} s", f"peak {report['peak_rss_mib']:.0f} MiB; target < 60 s, < 2 GiB"),
            ("  floor: plain SQL median time to live", f"{floor['seconds']:.3f} s",
             f"ratio {result['ratio_to_floor']:.0f}x; same median: {result['medians_agree']}"),
        ]  # fmt: skip
    if name == "intake":
        pickup, floor, everything = result["intake"], result["floor_copy_onboardings"], result["floor_copy_all_tables"]
        n = result["seeded"]["good_signed_orders"]
        return [
            (f"intake ({n:,} signed orders from the sandbox CRM)", f"{pickup['seconds']:.2f} s",
             f"peak {pickup['peak_rss_mib']:.0f} MiB (imports alone {pickup['rss_after_imports_mib']:.0f} MiB)"),
            ("  pull: CRM paging + staging", f"{pickup['pull_seconds']:.2f} s",
             f"{pickup['pull_crm_request_seconds']:.1f} s in {pickup['pull_crm_requests']} CRM requests; "
             f"commit {pickup['commit_seconds']:.2f} s"),
            ("  processing: judging + store writes", f"{result['processing_seconds']:.2f} s",
             f"ratio {result['ratio_processing_to_all_tables_floor']:.1f}x to the COPY of every table; "
             "target within 3x"),
            ("  floor: COPY of every table intake writes", f"{everything['seconds']:.3f} s",
             f"whole pickup without CRM requests {result['seconds_excluding_crm_requests']:.2f} s: "
             f"{result['ratio_to_all_tables_floor_excluding_crm_requests']:.1f}x"),
            ("  for scale: COPY of the onboardings alone", f"{floor['seconds']:.3f} s",
             f"ratio {result['ratio_to_floor']:.0f}x (whole pickup), "
             f"{result['ratio_to_floor_excluding_crm_requests']:.0f}x without CRM requests"),
        ]  # fmt: skip
    if name == "scheduler":
        ours, floor, n = result["ours"], result["floor"], result["onboardings"]
        return [
            (f"scheduler cost per onboarding ({n:,} signed -> live)", f"{ours['seconds_per_onboarding']:.2f} s",
             f"{ours['seconds']:.0f} s in all; {ours['task_instances_per_onboarding']:.1f} task instances each"),
            ("  floor: no-op DAGs of the same shape, same task instances", f"{floor['seconds_per_run']:.2f} s",
             f"{floor['seconds']:.0f} s for {floor['task_instances']:,} task instances; "
             f"ratio {result['ratio_to_floor']:.1f}x; target within 1.5x"),
        ]  # fmt: skip
    if name == "board":
        return _board_rows(result)
    if name == "triggerer":
        return _triggerer_rows(result)
    if name == "portal":
        return _portal_rows(result)
    return [(name, "", str(result))]


def _portal_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    load, bare, sensor, targets = result["portal"], result["bare_route"]["bare"], result["sensor"], result["targets"]
    solo, solo_bare = result["alone"]["portal"], result["alone"]["bare_route"]["bare"]
    cpu, bare_cpu = load["cpu"], result["bare_route"]["cpu"]

    def spread(figures: dict[str, Any], extra: str = "") -> str:
        return (
            f"p50 {figures['p50_ms']:.0f} / max {figures['max_ms']:.0f} ms, {figures['count']:,} timed, "
            f"{figures['errors']} errors{extra}"
        )

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    users = f"{load['customers']} customers, {load['requests']:,} requests"
    trigger = sensor["submit_to_trigger"]
    return [
        (f"portal submit p95 ({users})", f"{load['submit']['p95_ms']:.0f} ms",
         spread(load["submit"], f"; ratio {result['ratio_submit_p95_to_bare_p95']:.1f}x to the bare route; "
                f"target < {targets['submit_p95_ms']:.0f} ms and within {targets['submit_p95_to_bare_p95']:.0f}x")),
        ("  the POST alone (judged, recorded, 303)", f"{load['submit_post']['p95_ms']:.0f} ms",
         spread(load["submit_post"], f"; ratio {result['ratio_submit_post_p95_to_bare_p95']:.1f}x")),
        ("  checklist page view p95", f"{load['page_view']['p95_ms']:.0f} ms",
         spread(load["page_view"], f"; {load['requests_per_second']:.0f} requests/s")),
        ("  floor: bare FastAPI route p95, same load", f"{bare['p95_ms']:.0f} ms",
         spread(bare, f"; {result['bare_route']['requests_per_second']:.0f} requests/s")),
        ("  CPU per request: portal / database / load generator", f"{ms(cpu['server_cpu_ms'])} ms",
         f"{ms(cpu['database_cpu_ms'])} / {ms(cpu['load_generator_cpu_ms'])} ms; bare route "
         f"{ms(bare_cpu['server_cpu_ms'])} ms; load average {load['load_average_1m_before']:.1f}"),
        ("  one customer alone: submit p50", f"{solo['submit']['p50_ms']:.0f} ms",
         f"page view p50 {solo['page_view']['p50_ms']:.0f} ms, POST p50 {solo['submit_post']['p50_ms']:.0f} ms; "
         f"bare route alone p50 {solo_bare['p50_ms']:.1f} ms"),
        (f"portal submit -> checklist trigger fires p95 ({sensor['accounts']} accounts)",
         f"{trigger['p95_ms']:.0f} ms",
         f"p50 {trigger['p50_ms']:.0f} / max {trigger['max_ms']:.0f} ms; slow poll 1 h; "
         f"target < {targets['submit_to_trigger_p95_seconds']:.0f} s"),
    ]  # fmt: skip


def _triggerer_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for n, size in result["sizes"].items():
        steady, floor, wake, prod, look = (
            size["steady"],
            size["floor"],
            size["wake_ms"],
            size["at_production_poll"],
            size["look"],
        )
        rows += [
            (f"triggerer: {int(n):,} waiting checklist triggers, CPU", f"{prod['cpu_percent']:.1f} %",
             f"{prod['queries_per_second']:.1f} queries/s to PostgreSQL (its CPU {prod['database_cpu_percent']:.1f} %)"
             f", each trigger looking every {result['poll_seconds']:.0f} s"),
            ("  one look: CPU in the triggerer / in PostgreSQL", f"{look['cpu_ms']:.2f} ms",
             f"{look['database_cpu_ms']:.2f} ms; {look['sample']:,} at once"),
            ("  holding them between looks, CPU", f"{steady['cpu_percent']:.1f} %",
             f"floor: as many bare asyncio sleeps {floor['cpu_percent']:.1f} %"),
            ("  start: every trigger looked once", f"{size['startup']['seconds']:.1f} s",
             f"{size['startup']['cpu_seconds']:.1f} s of CPU; +{size['rss_mib_for_triggers']:.0f} MiB resident"),
            ("  a portal commit wakes its trigger, p50", f"{wake['p50']:.0f} ms",
             f"max {wake['max']:.0f} ms over {wake['count']} wakes"),
        ]  # fmt: skip
    return rows


def _board_rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    n = result["seeded"]["onboardings"]
    rows = []
    for page, plain, what in (
        ("list_page", "list_sql", "account list"),
        ("account_page", "account_sql", "account page"),
    ):
        p, q = result[page], result[plain]
        rows += [
            (f"board: {what} ({n:,} open), p95", f"{p['p95_ms']:.0f} ms",
             f"p50 {p['p50_ms']:.0f} ms, slowest {p['max_ms']:.0f} ms over {p['n']} views; target < 300 ms"),
            ("  the plain SQL behind it, p95", f"{q['p95_ms']:.0f} ms",
             f"p50 {q['p50_ms']:.0f} ms; ratio {p['p95_ms'] / max(q['p95_ms'], 0.1):.1f}x"),
        ]  # fmt: skip
    first, rows_measured = result["first_view_seconds"], result["rows_measured_by_first_view"]
    rows.append(("  first view, every board row measured", f"{first:.2f} s",
                 f"{rows_measured:,} rows, once after migration 0011 or a new configuration"))  # fmt: skip
    return rows


def main(argv: list[str]) -> None:
    wanted = argv or list(BENCHMARKS)
    unknown = sorted(set(wanted) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; known: {sorted(BENCHMARKS)}")
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    rows: list[tuple[str, str, str]] = []
    failed: list[str] = []
    for name in wanted:
        print(f"running {name} ...", flush=True)
        began = time.perf_counter()
        try:
            rows += _rows(name, BENCHMARKS[name]())
        except Exception as exc:  # one broken benchmark must not lose the others' figures
            traceback.print_exc()
            failed.append(name)
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            rows.append((f"{name}: FAILED", "-", reason[:160]))
        print(f"  {name} took {_minutes(time.perf_counter() - began)}", flush=True)
    width = max(len(r[0]) for r in rows)
    print()
    print(
        f"make bench, {started_at:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{_minutes(time.perf_counter() - started)} in all"
    )
    for what, figure, note in rows:
        print(f"{what:<{width}}  {figure:>10}  {note}")
    print("\nresults: bench/results.json")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)} (traceback above)")


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


if __name__ == "__main__":
    main(sys.argv[1:])
