"""Loading a checked export into the store: good rows upserted, refused rows recorded.

One transaction per import: an ``onboarding.baseline_imports`` row (file, its
SHA-256, counts), the good rows upserted into ``onboarding.baseline_onboardings``
keyed by account and signing date (an unchanged row is left as it is, so
importing the same file twice changes nothing), every problem into
``onboarding.baseline_rejections``, and a ``baseline.imported`` event in the
audit trail naming the rows refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from include.onboarding.baseline.parse import Parsed, Problem, parse, read_text
from include.onboarding.config import OnboardingConfig
from include.onboarding.events import EventType
from include.onboarding.store import SCHEMA, Event, Scratch, Store, fingerprint

ACTOR = "system:baseline"

_ROWS = Scratch(
    "baseline_rows",
    (
        ("account_key", "text"), ("account", "text"), ("signed_on", "date"), ("tier", "text"), ("segment", "text"),
        ("region", "text"), ("first_value_on", "date"), ("live_on", "date"), ("touches", "integer"),
        ("checklist_tracked", "boolean"), ("row_fingerprint", "text"), ("source_row", "integer"),
    ),
)  # fmt: skip


@dataclass
class ImportResult:
    import_id: int
    file_name: str
    sha256: str
    read: int
    loaded: int
    unchanged: int
    rejected_rows: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        head = (
            f"{self.file_name}: {self.read} row(s) read, {self.loaded} loaded (new or changed),"
            f" {self.unchanged} unchanged, {self.rejected_rows} rejected"
        )
        return "\n".join([head, *(f"  {p}" for p in self.problems)])


def import_file(
    store: Store, config: OnboardingConfig, path: Path, now: datetime, day_first: bool | None = None
) -> ImportResult:
    """Check and load one export file; see the module's docstring."""
    raw = Path(path).read_bytes()
    first = config.settings.baseline.day_first if day_first is None else day_first
    parsed = parse(read_text(raw), config, first)
    return load(store, parsed, Path(path).name, hashlib.sha256(raw).hexdigest(), first, now)


def load(store: Store, parsed: Parsed, file_name: str, sha256: str, day_first: bool, now: datetime) -> ImportResult:
    """Record one checked export in one transaction."""
    rejected = len(parsed.rejected_lines)
    with store.transaction() as cur:
        cur.execute(
            f"""INSERT INTO {SCHEMA}.baseline_imports
                    (file_name, file_sha256, day_first, imported_at, rows_read, rows_loaded, rows_unchanged,
                     rows_rejected)
                VALUES (%s, %s, %s, %s, %s, 0, 0, %s) RETURNING id""",
            (file_name, sha256, day_first, now, parsed.read, rejected),
        )
        created = cur.fetchone()
        assert created is not None
        import_id = int(created["id"])
        loaded = _upsert(cur, parsed, import_id, now)
        if parsed.problems:
            cur.executemany(
                f"""INSERT INTO {SCHEMA}.baseline_rejections (import_id, source_row, column_name, value, problem)
                    VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                [(import_id, p.line, p.column, p.value, p.problem) for p in parsed.problems],
            )
        unchanged = len(parsed.rows) - loaded
        cur.execute(
            f"UPDATE {SCHEMA}.baseline_imports SET rows_loaded = %s, rows_unchanged = %s WHERE id = %s",
            (loaded, unchanged, import_id),
        )
        details = {
            "import_id": import_id, "file": file_name, "sha256": sha256, "read": parsed.read, "loaded": loaded,
            "unchanged": unchanged, "rejected": rejected, "problems": [str(p) for p in parsed.problems[:100]],
        }  # fmt: skip
        Store.record_events(
            cur,
            [
                Event(
                    subject="baseline",
                    event_type=EventType.BASELINE_IMPORTED,
                    actor=ACTOR,
                    occurred_at=now,
                    details=details,
                    dedupe_key=f"{EventType.BASELINE_IMPORTED}:{import_id}",
                )
            ],
        )
    return ImportResult(import_id, file_name, sha256, parsed.read, loaded, unchanged, rejected, parsed.problems)


def _upsert(cur: Any, parsed: Parsed, import_id: int, now: datetime) -> int:
    """Upsert the good rows (one COPY, one statement); return how many were new or changed."""
    if not parsed.rows:
        return 0
    rows = []
    for n, r in enumerate(parsed.rows):
        body = [r.account, r.tier, r.segment, r.region, r.signed_on, r.first_value_on, r.live_on, r.touches,
                r.checklist_tracked]  # fmt: skip
        rows.append(
            (
                n, r.account_key, r.account, r.signed_on, r.tier, r.segment, r.region, r.first_value_on, r.live_on,
                r.touches, r.checklist_tracked, fingerprint(body), r.line,
            )
        )  # fmt: skip
    _ROWS.load(cur, rows)
    columns = "account, tier, segment, region, first_value_on, live_on, touches, checklist_tracked, row_fingerprint"
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns.split(", "))
    cur.execute(
        f"""INSERT INTO {SCHEMA}.baseline_onboardings AS b
                (account_key, signed_on, {columns}, import_id, source_row, loaded_at)
            SELECT account_key, signed_on, {columns}, %s, source_row, %s FROM pg_temp.{_ROWS.name} ORDER BY seq
            ON CONFLICT (account_key, signed_on) DO UPDATE SET {updates},
                import_id = EXCLUDED.import_id, source_row = EXCLUDED.source_row, loaded_at = EXCLUDED.loaded_at
            WHERE b.row_fingerprint <> EXCLUDED.row_fingerprint
            RETURNING b.id""",
        (import_id, now),
    )
    return len(cur.fetchall())
