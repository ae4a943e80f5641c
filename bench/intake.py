"""Intake of 10,000 signed orders from the sandbox CRM, against a raw bulk insert of the same rows.

The sandbox CRM is seeded with ``BENCH_ORDERS`` (default 10,000) signed orders
and no seeded defects (plus the generator's tenth as many deals in other
stages, which the CRM search leaves out).  The generator also names, on about
1% of deals, an onboarding manager who has left; the intake rightly
quarantines those, so they are corrected in the CRM first and every signed
order is good.  The CRM is served over real HTTP on loopback from this
process, while a fresh interpreter runs the pickup exactly as the
``onboarding_intake`` DAG's tasks do: the CRM client that ``runtime.crm_client``
builds from the ``crm_api`` connection and the shipped settings (page size
100), then ``pull_orders``, ``process_batch`` and ``commit_batch`` on one store.
Measured there:

* the whole pickup, HTTP paging included (that is what intake is), and its
  pull / process / commit parts, with the time the pull spent in CRM requests;
* peak resident memory of that process, and the same after its imports.

Rate limits: the sandbox answers 429 only when a fault plan asks for it, and
none is set here, so the pull pages back to back with no artificial sleep, as
against a CRM account whose API quota is sized for a bulk load.  (HubSpot's
search endpoint allows a few requests a second per token; at 100 deals a page
that alone would put some 25 s under this pull.)

The floors: every row the pickup wrote, copied out and inserted into a freshly
migrated database (same tables, same indexes) with one ``COPY ... FROM STDIN``
(binary format) per table, timed alone; the median of a few, each into a new
database.  ``floor_copy_all_tables`` copies every table the pickup writes
(staged records, onboardings, stage history, audit events and the batch
bookkeeping); ``floor_copy_onboardings`` the onboardings alone.

The target: processing -- the process step, which judges the staged orders
and writes onboardings, stage history, audit events and quarantine, and
makes no CRM request -- within 3x of ``floor_copy_all_tables``
(``ratio_processing_to_all_tables_floor``).  For scale, the whole pickup
without the time spent inside CRM HTTP requests (staging and commit too) is
set against the same floor.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.common import fresh_database, measure_child, scratch_server, write_results

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
SEED = 23
BATCH_ID = "bench-intake"
# Every table a first pickup writes, parents before children.
WRITTEN_TABLES = (
    "intake_batches",
    "intake_watermarks",
    "intake_batch_orders",
    "onboardings",
    "stage_history",
    "events",
)

# From profiling the pickup (cProfile, and each statement timed) on 2 cores.
WHERE_TIME_GOES = (
    "CRM paging is most of the pull: each search costs the sandbox ~0.1 s because it copies, filters and sorts "
    "all 11,000 deals for every page. Staging (cleaning each record, one COPY a page) is ~0.5 s. The process "
    "step reads the 10,000 staged records (~0.2 s), judges each in Python (~0.6 s, half of it email-validator), "
    "then writes each chunk of 500 set-based: one SELECT of the onboardings and one of the quarantine concerned, "
    "a COPY of the new onboardings into a scratch table (~0.3 s, mostly turning Python values into COPY rows "
    "and the raw CRM payload into JSON), one INSERT ... SELECT that creates the onboardings and their "
    "stage-history rows (~0.3 s), and one INSERT ... SELECT of their 20,000 audit events built from the same "
    "scratch rows (~0.35 s; ON CONFLICT on the dedupe key). The floor only loads rows: it neither judges nor "
    "checks for conflicts, and the COPY of every table includes the staged records, which the process step "
    "reads but does not write."
)


_CHILD_INTAKE = """
import json, time
from datetime import datetime
import airflow.providers.http.hooks.http  # loaded before the clock starts, as in a running worker
from bench.common import peak_rss_mib
from include.onboarding import intake, runtime
from include.onboarding.clock import FixedClock
from include.onboarding.store import Store, connect_dsn
config = runtime.config()
clock = FixedClock(datetime.fromisoformat({now!r}))
store = Store(connect_dsn({url!r}))
crm = runtime.crm_client(config)  # the pull task's client; its requests are only timed
send, waited = crm.api.request, [0.0, 0]

def timed_request(*args, **kwargs):
    started = time.perf_counter()
    try:
        return send(*args, **kwargs)
    finally:
        waited[0] += time.perf_counter() - started
        waited[1] += 1

crm.api.request = timed_request
rss_before = peak_rss_mib()
started = time.perf_counter()
pulled = intake.pull_orders(store, crm, config, {batch_id!r}, clock)
after_pull = time.perf_counter()
processed = intake.process_batch(store, config, {batch_id!r}, clock)
after_process = time.perf_counter()
committed = intake.commit_batch(store, config, {batch_id!r}, clock)
finished = time.perf_counter()
written = {{t: store.scalar(f"SELECT count(*) FROM onboarding.{{t}}") for t in {tables!r}}}
print(json.dumps({{
    "seconds": round(finished - started, 3),
    "pull_seconds": round(after_pull - started, 3),
    "pull_crm_requests": waited[1],
    "pull_crm_request_seconds": round(waited[0], 3),
    "process_seconds": round(after_process - after_pull, 3),
    "commit_seconds": round(finished - after_process, 3),
    "page_size": crm.page_size,
    "fetched": pulled.fetched,
    "counts": processed.counts(),
    "watermark": committed["watermark"],
    "rows_written": written,
    "peak_rss_mib": peak_rss_mib(),
    "rss_after_imports_mib": rss_before,
}}))
"""

_CHILD_FLOOR = """
import json, time
from pathlib import Path
from bench.common import peak_rss_mib
from include.onboarding.store import connect_dsn
dumps = {{t: Path({folder!r}, t).read_bytes() for t in {tables!r}}}
conn = connect_dsn({url!r})
seconds = {{}}
for table, data in dumps.items():
    started = time.perf_counter()
    with conn.cursor() as cur, cur.copy(f"COPY onboarding.{{table}} FROM STDIN (FORMAT binary)") as copy:
        copy.write(data)
    seconds[table] = time.perf_counter() - started
rows = {{t: conn.execute(f"SELECT count(*) FROM onboarding.{{t}}").fetchone()[0] for t in dumps}}
print(json.dumps({{"seconds": sum(seconds.values()), "by_table_seconds": seconds, "rows": rows,
                   "bytes": {{t: len(d) for t, d in dumps.items()}}, "peak_rss_mib": peak_rss_mib()}}))
"""


def clear_departed_managers(state: Any, deals: list[dict[str, Any]]) -> int:
    """Clear a named onboarding manager who is not in the people directory; return how many deals named one.

    The generator names one on a few deals even at ``bad_ratio`` 0 (people leave;
    it does not count that as a seeded defect).  The intake rightly quarantines
    those, so they are fixed in the CRM first, as a sales rep would: every
    signed order is then good and becomes an onboarding.
    """
    from include.onboarding.config import load_config

    people = {p.email for p in load_config().settings.people}
    departed = [
        d["id"] for d in deals if (d["properties"].get("onboarding_owner_email") or "").lower() not in people | {""}
    ]
    for deal_id in departed:
        state.upsert_deal({"onboarding_owner_email": None}, deal_id=deal_id)
    return len(departed)


def dump_tables(url: str, tables: tuple[str, ...], folder: Path) -> None:
    """Copy every row of each table out, one file per table (COPY binary: the faster format to load back)."""
    from include.onboarding.store import connect_dsn

    with connect_dsn(url) as conn, conn.cursor() as cur:
        for table in tables:
            with (
                (folder / table).open("wb") as out,
                cur.copy(f"COPY onboarding.{table} TO STDOUT (FORMAT binary)") as copy,
            ):
                for block in copy:
                    out.write(block)


def floor(server: str, tables: tuple[str, ...], folder: Path, repeats: int) -> dict[str, Any]:
    """The dumped rows of ``tables``, bulk inserted into a freshly migrated database: the median of ``repeats``."""
    runs = []
    for _ in range(repeats):
        url = fresh_database(server, "bench_intake_floor")  # the audit trail refuses TRUNCATE: start afresh
        runs.append(measure_child(_CHILD_FLOOR.format(url=url, folder=str(folder), tables=tables)))
    median = statistics.median(r["seconds"] for r in runs)
    return {
        "seconds": round(median, 4),
        "all_seconds": [round(r["seconds"], 4) for r in runs],
        "by_table_seconds": {t: round(statistics.median(r["by_table_seconds"][t] for r in runs), 4) for t in tables},
        "rows": runs[0]["rows"],
        "bytes": runs[0]["bytes"],
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
    }


def run() -> dict[str, Any]:
    from localstack.stack import SANDBOX_TOKEN, sandbox_connections
    from sandbox.server import SandboxServer
    from sandbox.state import SandboxState

    n = int(os.environ.get("BENCH_ORDERS", "10000"))
    repeats = int(os.environ.get("BENCH_FLOOR_REPEATS", "5"))
    # Pinned clock: the CRM stamps the same modification times on every run.
    state = SandboxState(token=SANDBOX_TOKEN, clock=lambda: NOW.timestamp())
    seeded = state.reset(seed=SEED, orders=n, bad_ratio=0.0)
    cleared = clear_departed_managers(state, seeded)
    crm = state.crm.ledger()
    good_signed = crm["closedwon"] - sum(crm["defects"].values())
    with (
        scratch_server() as server,
        SandboxServer(state) as sandbox,
        tempfile.TemporaryDirectory(prefix="onboarding-intake-") as tmp,
    ):
        env = {
            **sandbox_connections(sandbox.port),
            "AIRFLOW_HOME": str(Path(tmp) / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
        url = fresh_database(server, "bench_intake")
        pickup = measure_child(
            _CHILD_INTAKE.format(url=url, now=NOW.isoformat(), batch_id=BATCH_ID, tables=WRITTEN_TABLES), env
        )
        crm_requests = len(state.requests("crm"))
        onboardings = pickup["rows_written"]["onboardings"]
        if onboardings != good_signed or pickup["counts"]["created"] != good_signed or pickup["counts"]["quarantined"]:
            raise RuntimeError(f"intake created {onboardings} onboardings from {good_signed} good signed orders")
        folder = Path(tmp) / "dump"
        folder.mkdir()
        dump_tables(url, WRITTEN_TABLES, folder)
        floor_onboardings = floor(server, ("onboardings",), folder, repeats)
        floor_all = floor(server, WRITTEN_TABLES, folder, repeats)
    if floor_onboardings["rows"]["onboardings"] != onboardings:
        raise RuntimeError(f"floor inserted {floor_onboardings['rows']} rows, the intake wrote {onboardings}")
    crm_wait = pickup["pull_crm_request_seconds"]
    without_crm = pickup["seconds"] - crm_wait
    result = {
        "seeded": {"crm_deals": len(seeded), "signed_orders": crm["closedwon"], "good_signed_orders": good_signed,
                   "bad_ratio": 0.0, "seed": SEED, "departed_manager_cleared": cleared},
        "crm": {"rate_limit": "none (the sandbox throttles only when a fault plan asks; none set)",
                "requests_served": crm_requests, "page_size": pickup["page_size"]},
        "intake": pickup,
        "floor_copy_onboardings": floor_onboardings,
        "floor_copy_all_tables": floor_all,
        "ratio_to_floor": round(pickup["seconds"] / max(floor_onboardings["seconds"], 1e-6), 1),
        "ratio_to_all_tables_floor": round(pickup["seconds"] / max(floor_all["seconds"], 1e-6), 1),
        "processing_seconds": pickup["process_seconds"],
        "ratio_processing_to_all_tables_floor": round(
            pickup["process_seconds"] / max(floor_all["seconds"], 1e-6), 2),
        "seconds_excluding_crm_requests": round(without_crm, 3),
        "ratio_to_floor_excluding_crm_requests": round(without_crm / max(floor_onboardings["seconds"], 1e-6), 1),
        "ratio_to_all_tables_floor_excluding_crm_requests": round(without_crm / max(floor_all["seconds"], 1e-6), 2),
        "target": "processing (the process step: judging and the store writes, no CRM request) within 3x of "
                  "one COPY of every table the intake writes (ratio_processing_to_all_tables_floor)",
        "where_time_goes": (
            f"This run: {pickup['seconds']:.1f} s = pull {pickup['pull_seconds']:.1f} s ({crm_wait:.1f} s in "
            f"{pickup['pull_crm_requests']} CRM search requests) + process {pickup['process_seconds']:.1f} s + commit "
            f"{pickup['commit_seconds']:.2f} s. " + WHERE_TIME_GOES),
    }  # fmt: skip
    write_results("intake", result)
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
