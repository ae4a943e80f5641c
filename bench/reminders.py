"""Customer reminders over many open onboardings: finding who is due, and queueing their email.

Seeds ``BENCH_ONBOARDINGS`` (default 50,000) open onboardings as the escalation
pass benchmark does (about 40% collecting inputs, their checklists requested
up to three weeks ago), then, each in a fresh interpreter:

* ``find``: the part every pass pays whatever is due: the waiting accounts'
  query and their business time on each region's calendar, and the choice of
  who is reminded (the query alone is given as its floor);
* a first pass, which queues ``escalations.max_reminders_per_pass`` reminders
  (a magic link, the outbox row, the reminder row and audit events each);
* the same pass again at the same instant (nothing is queued twice; the next
  due accounts, held over the cap, go now).

Reported: wall time and peak resident memory of each.
"""

from __future__ import annotations

import json
import os
from typing import Any

from bench.common import fresh_database, measure_child, scratch_server, write_results
from bench.escalation_pass import NOW, seed

_CHILD = """
import json, time
from datetime import datetime
from bench.common import peak_rss_mib
from include.onboarding import reminders
from include.onboarding.config import Stage, load_config
from include.onboarding.store import Store, connect_dsn
config = load_config()
store = Store(connect_dsn({url!r}))
now = datetime.fromisoformat({now!r})
rss_before = peak_rss_mib()
tiers = sorted(t.key for t in config.tiers.values() if t.reminders is not None)
started = time.perf_counter()
rows = len(store.frame(reminders._WAITING_SQL, {{"stage": Stage.COLLECT_INPUTS.value, "tiers": tiers}}))
query_seconds = time.perf_counter() - started
started = time.perf_counter()
if {mode!r} == "find":
    chosen, summary = reminders.find(store, config, now)
else:
    summary = reminders.run(store, config, now, secret=b"bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz")
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": round(seconds, 3), "query_seconds": round(query_seconds, 3), "waiting_rows": rows,
                   "peak_rss_mib": peak_rss_mib(), "rss_after_imports_mib": rss_before,
                   "summary": summary.as_dict()}}))
"""


def run() -> dict[str, Any]:
    n = int(os.environ.get("BENCH_ONBOARDINGS", "50000"))
    at = NOW.isoformat()
    with scratch_server() as server:
        url = fresh_database(server, "bench_reminders")
        seeded = seed(url, n)
        find = measure_child(_CHILD.format(url=url, now=at, mode="find"))
        first = measure_child(_CHILD.format(url=url, now=at, mode="run"))
        again = measure_child(_CHILD.format(url=url, now=at, mode="run"))
    queued = first["summary"]["queued"]
    result = {
        "seeded": seeded,
        "find": find,
        "first_pass": first,
        "same_instant_again": again,
        "ms_per_reminder_queued": round(1000 * (first["seconds"] - find["seconds"]) / queued, 2) if queued else None,
        "target": "finding under 5 s and 1 GiB for 50,000 open onboardings",
    }
    write_results("reminders", result)
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
